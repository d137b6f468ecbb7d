/*
 * route_source: the sources of a route (id, key, value and each header's:
 * id, body, none, routing_key, json:PATH, property:NAME, header:NAME,
 * header:PREFIX*) with their json: paths, and the headers mapping.
 *
 * Before changing: a source is built in a local struct and stored only
 * once it is whole, so a failed one leaves nothing behind.
 */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/route_value.h"

static const char *
expect(enum route_kind kind)
{
	return route_kind_expect[kind];
}

/* AMQP properties that are not strings: never an event id. */
static int
prop_is_string(enum route_prop p)
{
	return p != RPROP_TIMESTAMP && p != RPROP_PRIORITY && p != RPROP_DELIVERY_MODE;
}

/* json:PATH: `text` is what follows "json:". */
static int
parse_path(struct route_ctx *c, const struct ynode *v, const char *text, size_t len,
    struct route_path *p)
{
	size_t start = 0;

	if (len == 0) {
		route_err(c, v, "%s: json: needs a path, such as json:event_id", route_got(c, v));
		return -1;
	}
	for (size_t i = 0; i <= len; i++) {
		if (i < len && text[i] != '.')
			continue;
		if (i == start) {
			route_err(c, v, "%s: a json: path with an empty segment", route_got(c, v));
			return -1;
		}
		if (p->nseg == ROUTE_PATH_MAX_SEGMENTS) {
			route_err(c, v, "%s: a json: path of more than %d segments", route_got(c, v),
			    ROUTE_PATH_MAX_SEGMENTS);
			return -1;
		}
		p->seglen[p->nseg++] = i - start;
		start = i + 1;
	}
	if (route_copy(c, v, &p->text, text, len) < 0)
		return -1;
	/* The segments point into `text`, which stays whole: seglen ends them. */
	start = 0;
	for (size_t i = 0; i < p->nseg; i++) {
		p->seg[i] = p->text + start;
		start += p->seglen[i] + 1;
	}
	return 0;
}

/* "a, b, c or d": the property names for which `pick` holds. */
static const char *
prop_list(char *buf, size_t size, int strings_only)
{
	size_t len = 0, n = 0, total = 0;

	for (size_t i = 0; i < RPROP_COUNT; i++)
		total += !strings_only || prop_is_string((enum route_prop)i);
	buf[0] = '\0';
	for (size_t i = 0; i < RPROP_COUNT && len < size; i++) {
		if (strings_only && !prop_is_string((enum route_prop)i))
			continue;
		n++;
		len += (size_t)snprintf(buf + len, size - len, "%s%s",
		    n == 1 ? "" : n == total ? " or " : ", ", route_prop_names[i]);
	}
	return buf;
}

static void
src_clear(struct route_src *s)
{
	free(s->name);
	free(s->path.text);
	memset(s, 0, sizeof(*s));
}

int
route_source(struct route_ctx *c, enum route_kind kind, const struct ynode *v, unsigned allow,
    struct route_src *out)
{
	static const struct {
		const char *word;
		unsigned form;
		enum route_src_kind kind;
	} words[] = {
		{ "id", S_ID, RSRC_ID },
		{ "body", S_BODY, RSRC_BODY },
		{ "none", S_NONE, RSRC_NONE },
		{ "routing_key", S_ROUTING_KEY, RSRC_ROUTING_KEY },
		{ "json:", S_JSON, RSRC_JSON },
		{ "property:", S_PROP_STR | S_PROP, RSRC_PROPERTY },
		{ "header:", S_HEADER, RSRC_HEADER },
	};
	const char *s = route_str(c, kind, v, 1, ROUTE_TEXT_MAX), *arg;
	struct route_src src;
	size_t i, n, alen;
	char list[256];

	if (s == NULL)
		return -1;
	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		n = strlen(words[i].word);
		if (words[i].word[n - 1] == ':' ? strncmp(s, words[i].word, n) == 0 :
		    strcmp(s, words[i].word) == 0)
			break;
	}
	if (i == sizeof(words) / sizeof(words[0])) {
		route_err(c, v, "unknown source %s (expected %s)", route_got(c, v), expect(kind));
		return -1;
	}
	if ((words[i].form & allow) == 0) {
		route_err(c, v, "%s cannot be used here (expected %s)", route_got(c, v), expect(kind));
		return -1;
	}
	memset(&src, 0, sizeof(src));
	src.kind = words[i].kind;
	arg = s + n;
	alen = v->len - n;
	switch (src.kind) {
	case RSRC_JSON:
		if (parse_path(c, v, arg, alen, &src.path) < 0)
			goto bad;
		c->njson++;
		break;
	case RSRC_PROPERTY:
		for (i = 0; i < RPROP_COUNT; i++)
			if (strcmp(arg, route_prop_names[i]) == 0)
				break;
		if (i == RPROP_COUNT) {
			route_err(c, v, "unknown property %s (expected %s)", route_got(c, v),
			    prop_list(list, sizeof(list), !(allow & S_PROP)));
			goto bad;
		}
		if (!(allow & S_PROP) && !prop_is_string((enum route_prop)i)) {
			route_err(c, v, "%s is not a string property (expected %s)", route_got(c, v),
			    prop_list(list, sizeof(list), 1));
			goto bad;
		}
		src.prop = (enum route_prop)i;
		break;
	case RSRC_HEADER: {
		const char *star = memchr(arg, '*', alen);

		if (star != NULL && (!(allow & S_HEADER_PREFIX) || star != arg + alen - 1)) {
			route_err(c, v, "%s: '*' may only end a header:PREFIX* pattern, and only "
			    "in headers", route_got(c, v));
			goto bad;
		}
		src.prefix = star != NULL;
		src.name_len = alen - (size_t)src.prefix;
		if (src.name_len == 0 && !src.prefix) {
			route_err(c, v, "%s: header: needs a header name", route_got(c, v));
			goto bad;
		}
		if (src.name_len > ROUTE_AMQP_NAME_MAX) {
			route_err(c, v, "a header name of %zu bytes (at most %d)", src.name_len,
			    ROUTE_AMQP_NAME_MAX);
			goto bad;
		}
		if (route_copy(c, v, &src.name, arg, src.name_len) < 0)
			goto bad;
		break;
	}
	default:
		break;
	}
	*out = src;
	return 0;
bad:
	src_clear(&src);
	return -1;
}

void
route_headers(struct route_ctx *c, const struct ynode *v)
{
	struct route *r = c->r;
	size_t n;

	if (v == NULL)
		return;
	if (v->type != YN_MAP) {
		route_err(c, v, "expected %s, got %s", expect(RK_HEADERS), route_got(c, v));
		return;
	}
	n = v->n / 2;
	if (n > ROUTE_MAX_HEADERS) {
		route_err(c, v, "%zu headers (at most %d)", n, ROUTE_MAX_HEADERS);
		return;
	}
	r->headers = calloc(n > 0 ? n : 1, sizeof(*r->headers));
	if (r->headers == NULL) {
		route_err(c, v, "out of memory");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const char *name = route_free_key(c, v, i, "header");
		const struct ynode *k = v->kid[2 * i], *val = v->kid[2 * i + 1];
		struct route_header *h = &r->headers[r->nheaders];
		const char *star;

		if (name == NULL)
			continue;
		star = memchr(name, '*', k->len);
		if (star != NULL && star != name + k->len - 1) {
			route_err(c, k, "header %s: '*' may only end a Kafka header name",
			    route_q(c, 0, name, k->len));
			continue;
		}
		if (route_source(c, RK_HEADER_SRC, val, S_JSON | S_PROP | S_HEADER | S_HEADER_PREFIX,
		    &h->src) < 0)
			continue;
		if ((star != NULL) != h->src.prefix) {
			route_err(c, val, star != NULL ?
			    "header %s: a name ending in * takes a header:PREFIX* source" :
			    "header %s: a header:PREFIX* source needs a name ending in *",
			    route_q(c, 0, name, k->len));
			src_clear(&h->src);
			continue;
		}
		h->prefix = star != NULL;
		h->name_len = k->len - (size_t)h->prefix;
		if (route_copy(c, k, &h->name, name, h->name_len) < 0) {
			src_clear(&h->src);
			continue;
		}
		r->nheaders++;
	}
}
