/*
 * route_value: one parser for each kind of value of route_keys.def,
 * from a YAML node into struct route: names, queues with arguments and
 * bindings, topic templates, timestamps, sizes; and the dispatch to
 * them (route_value). Sources and headers are route_source.c's.
 *
 * Before changing: a parser reports each problem once (route_err) and
 * leaves its field as it was (NULL, 0) on failure; the route is freed by
 * route_free whatever was filled, so anything a parser allocates is
 * either stored in the route or freed before it returns.
 */
#include "autoconf.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/route_value.h"

static const char *
expect(enum route_kind kind)
{
	return route_kind_expect[kind];
}

/* Bytes of the UTF-8 character at s (of `left` bytes), for quoting it whole. */
static size_t
char_len(const char *s, size_t left)
{
	unsigned char b = (unsigned char)*s;
	size_t n = b < 0xc0 ? 1 : b < 0xe0 ? 2 : b < 0xf0 ? 3 : 4;

	return n < left ? n : left;
}

const char *
route_got(struct route_ctx *c, const struct ynode *v)
{
	if (v->type == YN_SCALAR && !ynode_is_null(v))
		return route_q(c, 1, v->text, v->len);
	return ynode_what(v);
}

const char *
route_str(struct route_ctx *c, enum route_kind kind, const struct ynode *v, size_t min, size_t max)
{
	if (v->type != YN_SCALAR || ynode_is_null(v)) {
		route_err(c, v, "expected %s, got %s", expect(kind), ynode_what(v));
		return NULL;
	}
	if (memchr(v->text, '\0', v->len) != NULL) {
		route_err(c, v, "%s has a NUL byte (expected %s)", route_got(c, v), expect(kind));
		return NULL;
	}
	if (v->len < min) {
		route_err(c, v, "empty (expected %s)", expect(kind));
		return NULL;
	}
	if (v->len > max) {
		route_err(c, v, "%zu bytes long (expected %s)", v->len, expect(kind));
		return NULL;
	}
	return v->text;
}

int
route_copy(struct route_ctx *c, const struct ynode *at, char **dst, const char *s, size_t len)
{
	char *p = malloc(len + 1);

	if (p == NULL) {
		route_err(c, at, "out of memory");
		return -1;
	}
	memcpy(p, s, len);
	p[len] = '\0';
	free(*dst);
	*dst = p;
	return 0;
}

static int
is_bool(const struct ynode *v, int *b)
{
	static const char *const yes[] = { "true", "True", "TRUE" };
	static const char *const no[] = { "false", "False", "FALSE" };

	if (v->type != YN_SCALAR || !v->plain)
		return 0;
	for (size_t i = 0; i < 3; i++) {
		if (strcmp(v->text, yes[i]) == 0 && v->len == strlen(yes[i]))
			return *b = 1;
		if (strcmp(v->text, no[i]) == 0 && v->len == strlen(no[i])) {
			*b = 0;
			return 1;
		}
	}
	return 0;
}

/*
 * A plain YAML 1.2 integer (decimal, 0x hex, 0o octal); 1 when `v` is
 * one that fits a long long, 0 when it is not an integer at all, -1 when
 * it is one out of range.
 */
static int
is_int(const struct ynode *v, long long *out)
{
	const char *s = v->text, *digits = "0123456789";
	int base = 10, neg = 0;
	unsigned long long u;
	char *end;

	if (v->type != YN_SCALAR || !v->plain || v->len == 0)
		return 0;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
		base = s[1] == 'x' ? 16 : 8;
		digits = base == 16 ? "0123456789abcdefABCDEF" : "01234567";
		s += 2;
	} else if (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-';
		s++;
	}
	if (*s == '\0' || strspn(s, digits) != strlen(s) || s + strlen(s) != v->text + v->len)
		return 0;
	errno = 0;
	u = strtoull(s, &end, base);
	if (errno == ERANGE || u > (unsigned long long)INT64_MAX + (unsigned long long)neg)
		return -1;
	*out = neg ? (long long)(0 - u) : (long long)u;
	return 1;
}

const char *
route_free_key(struct route_ctx *c, const struct ynode *map, size_t i, const char *what)
{
	const struct ynode *k = map->kid[2 * i];

	if (k->type != YN_SCALAR || ynode_is_null(k)) {
		route_err(c, k, "expected a %s name, got %s", what, ynode_what(k));
		return NULL;
	}
	if (k->len == 0 || k->len > ROUTE_AMQP_NAME_MAX || memchr(k->text, '\0', k->len) != NULL) {
		route_err(c, k, "%s name %s: %s", what, route_got(c, k), k->len == 0 ? "empty" :
		    k->len > ROUTE_AMQP_NAME_MAX ? "longer than 255 bytes" : "has a NUL byte");
		return NULL;
	}
	for (size_t j = 0; j < i; j++) {
		const struct ynode *o = map->kid[2 * j];

		if (o->type == YN_SCALAR && o->len == k->len && memcmp(o->text, k->text, k->len) == 0) {
			route_err(c, k, "%s %s given twice (first at line %u)", what,
			    route_q(c, 0, k->text, k->len), o->line);
			return NULL;
		}
	}
	return k->text;
}

static void
kind_name(struct route_ctx *c, const struct ynode *v, char **dst)
{
	const char *s = route_str(c, RK_NAME, v, 1, ROUTE_NAME_MAX);

	if (s == NULL)
		return;
	for (size_t i = 0; i < v->len; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' || ch == '-')) {
			route_err(c, v, "%s has the character %s (expected %s)",
			    route_q(c, 0, s, v->len), route_q(c, 1, s + i, char_len(s + i, v->len - i)),
			    expect(RK_NAME));
			return;
		}
	}
	if (route_copy(c, v, dst, s, v->len) == 0)
		c->at_name = v;
}

static void
kind_amqp_name(struct route_ctx *c, enum route_kind kind, const struct ynode *v, char **dst)
{
	const char *s = route_str(c, kind, v, 1, ROUTE_AMQP_NAME_MAX);

	if (s != NULL)
		route_copy(c, v, dst, s, v->len);
}

static void
kind_queue(struct route_ctx *c, const struct ynode *v)
{
	const struct ynode *found[ROUTE_NKEYS];
	const struct route_key *kname = route_key_find(RSEC_QUEUE, "name");
	const struct route_key *kargs = route_key_find(RSEC_QUEUE, "arguments");

	if (v->type != YN_MAP) {
		if (v->type == YN_SEQ) {
			route_err(c, v, "expected %s, got a sequence", expect(RK_QUEUE));
			return;
		}
		kind_amqp_name(c, RK_QUEUE, v, &c->r->queue);
		if (c->r->queue != NULL)
			c->at_queue = v;
		return;
	}
	if (route_walk(c, RSEC_QUEUE, v, c->r, found) < 0)
		return;
	if (c->r->queue != NULL)
		c->at_queue = found[kname - route_keys];
	if (found[kargs - route_keys] != NULL && !c->r->declare)
		route_err(c, found[kargs - route_keys], "arguments need declare: true "
		    "(a queue that is only checked cannot be given arguments)");
}

static void
kind_bool(struct route_ctx *c, const struct ynode *v, int *dst)
{
	if (is_bool(v, dst))
		return;
	if (v->type == YN_SCALAR && !v->plain)
		route_err(c, v, "expected %s, got the quoted string %s (write it without quotes)",
		    expect(RK_BOOL), route_got(c, v));
	else
		route_err(c, v, "expected %s, got %s", expect(RK_BOOL), route_got(c, v));
}

static void
kind_args(struct route_ctx *c, const struct ynode *v)
{
	struct route *r = c->r;
	size_t n;

	if (v == NULL)
		return;
	if (v->type != YN_MAP) {
		route_err(c, v, "expected %s, got %s", expect(RK_ARGS), route_got(c, v));
		return;
	}
	n = v->n / 2;
	if (n > ROUTE_MAX_ARGS) {
		route_err(c, v, "%zu arguments (at most %d)", n, ROUTE_MAX_ARGS);
		return;
	}
	r->args = calloc(n > 0 ? n : 1, sizeof(*r->args));
	if (r->args == NULL) {
		route_err(c, v, "out of memory");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const char *key = route_free_key(c, v, i, "argument");
		const struct ynode *val = v->kid[2 * i + 1];
		struct route_arg *a = &r->args[r->nargs];
		int b, isint;

		if (key == NULL)
			continue;
		if (val->type != YN_SCALAR) {
			route_err(c, val, "argument %s: expected an integer, true, false or a string, "
			    "got %s", route_q(c, 0, key, strlen(key)), ynode_what(val));
			continue;
		}
		isint = is_int(val, &a->num);
		if (isint < 0) {
			route_err(c, val, "argument %s: %s is out of range (expected a 64-bit integer)",
			    route_q(c, 0, key, strlen(key)), route_got(c, val));
			continue;
		}
		if (isint > 0) {
			a->type = RARG_INT;
		} else if (is_bool(val, &b)) {
			a->type = RARG_BOOL;
			a->num = b;
		} else if (memchr(val->text, '\0', val->len) != NULL) {
			route_err(c, val, "argument %s: the value has a NUL byte",
			    route_q(c, 0, key, strlen(key)));
			continue;
		} else {
			a->type = RARG_STRING;
			if (route_copy(c, val, &a->str, val->text, val->len) < 0)
				continue;
		}
		if (route_copy(c, v->kid[2 * i], &a->key, key, strlen(key)) < 0) {
			free(a->str);
			memset(a, 0, sizeof(*a));
			continue;
		}
		r->nargs++;
	}
}

static void
kind_bindings(struct route_ctx *c, const struct ynode *v)
{
	struct route *r = c->r;

	if (v == NULL)
		return;
	if (v->type != YN_SEQ) {
		route_err(c, v, "expected %s, got %s", expect(RK_BINDINGS), route_got(c, v));
		return;
	}
	if (v->n > ROUTE_MAX_BINDINGS) {
		route_err(c, v, "%zu bindings (at most %d)", v->n, ROUTE_MAX_BINDINGS);
		return;
	}
	r->bindings = calloc(v->n > 0 ? v->n : 1, sizeof(*r->bindings));
	if (r->bindings == NULL) {
		route_err(c, v, "out of memory");
		return;
	}
	r->nbindings = v->n;
	for (size_t i = 0; i < v->n; i++)
		route_walk(c, RSEC_BINDING, v->kid[i], &r->bindings[i], NULL);
}

static void
kind_rkey(struct route_ctx *c, const struct ynode *v, char **dst)
{
	const char *s = route_str(c, RK_RKEY, v, 0, ROUTE_AMQP_NAME_MAX);

	if (s != NULL)
		route_copy(c, v, dst, s, v->len);
}

static int
topic_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	    ch == '.' || ch == '_' || ch == '-';
}

/* One {placeholder} of a template, inner[0..len) between the braces. */
static int
placeholder(struct route_ctx *c, const struct ynode *v, const char *inner, size_t len,
    struct route_tpl_part *part)
{
	static const struct {
		const char *name;
		enum route_tpl_kind kind;
	} fixed[] = {
		{ "routing_key", RTPL_ROUTING_KEY },
		{ "queue", RTPL_QUEUE },
		{ "exchange", RTPL_EXCHANGE },
	};
	static const char hdr[] = "header.";

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		if (len == strlen(fixed[i].name) && memcmp(inner, fixed[i].name, len) == 0) {
			part->kind = fixed[i].kind;
			return 0;
		}
	}
	if (len >= sizeof(hdr) - 1 && memcmp(inner, hdr, sizeof(hdr) - 1) == 0) {
		inner += sizeof(hdr) - 1;
		len -= sizeof(hdr) - 1;
		if (len == 0) {
			route_err(c, v, "%s: {header.} names no header (expected {header.NAME})",
			    route_got(c, v));
			return -1;
		}
		if (len > ROUTE_AMQP_NAME_MAX) {
			route_err(c, v, "%s: a header name of %zu bytes (at most %d)", route_got(c, v),
			    len, ROUTE_AMQP_NAME_MAX);
			return -1;
		}
		part->kind = RTPL_HEADER;
		part->len = len;
		return route_copy(c, v, &part->text, inner, len);
	}
	route_err(c, v, "%s: unknown placeholder %s (expected {routing_key}, {queue}, "
	    "{exchange} or {header.NAME})", route_got(c, v), route_q(c, 0, inner - 1, len + 2));
	return -1;
}

static void
free_parts(struct route_tpl_part *p, size_t n)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(p[i].text);
	free(p);
}

static void
kind_topic(struct route_ctx *c, const struct ynode *v)
{
	const char *s = route_str(c, RK_TOPIC, v, 1, ROUTE_TEXT_MAX);
	struct route_tpl_part *parts;
	size_t n = 0, nlit = 0, nph = 0;
	struct route *r = c->r;

	if (s == NULL)
		return;
	parts = calloc(v->len + 1, sizeof(*parts));
	if (parts == NULL) {
		route_err(c, v, "out of memory");
		return;
	}
	for (size_t i = 0; i < v->len;) {
		if (s[i] == '{') {
			const char *in = s + i + 1, *end = memchr(in, '}', v->len - i - 1);

			if (end == NULL || memchr(in, '{', (size_t)(end - in)) != NULL) {
				route_err(c, v, "%s: a '{' without its '}'", route_got(c, v));
				goto bad;
			}
			if (placeholder(c, v, in, (size_t)(end - in), &parts[n]) < 0)
				goto bad;
			n++;
			nph++;
			i = (size_t)(end - s) + 1;
		} else if (s[i] == '}') {
			route_err(c, v, "%s: a '}' without its '{'", route_got(c, v));
			goto bad;
		} else if (!topic_char(s[i])) {
			route_err(c, v, "%s has the character %s (expected %s)", route_got(c, v),
			    route_q(c, 0, s + i, char_len(s + i, v->len - i)), expect(RK_TOPIC));
			goto bad;
		} else {
			size_t len = strspn(s + i, "abcdefghijklmnopqrstuvwxyz"
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-");

			parts[n].kind = RTPL_TEXT;
			parts[n].len = len;
			if (route_copy(c, v, &parts[n].text, s + i, len) < 0)
				goto bad;
			n++;
			nlit += len;
			i += len;
		}
	}
	if (nph == 0) {
		if (v->len > ROUTE_TOPIC_MAX) {
			route_err(c, v, "%zu bytes long (a Kafka topic has at most %d)", v->len,
			    ROUTE_TOPIC_MAX);
			goto bad;
		}
		if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0) {
			route_err(c, v, "%s is not a valid Kafka topic", route_got(c, v));
			goto bad;
		}
		free_parts(parts, n);
		parts = NULL;
		n = 0;
	} else if (nlit > ROUTE_TOPIC_MAX) {
		route_err(c, v, "%zu bytes of fixed text (a Kafka topic has at most %d)", nlit,
		    ROUTE_TOPIC_MAX);
		goto bad;
	}
	if (route_copy(c, v, &r->topic, s, v->len) < 0)
		goto bad;
	r->tpl = parts;
	r->ntpl = n;
	return;
bad:
	free_parts(parts, n + 1);
}

static void
kind_timestamp(struct route_ctx *c, const struct ynode *v)
{
	if (v->type == YN_SCALAR && strcmp(v->text, "amqp") == 0 && v->len == 4)
		c->r->timestamp = RTS_AMQP;
	else if (v->type == YN_SCALAR && strcmp(v->text, "now") == 0 && v->len == 3)
		c->r->timestamp = RTS_NOW;
	else
		route_err(c, v, "expected %s, got %s", expect(RK_TIMESTAMP), route_got(c, v));
}

void
route_size_bounds(long *min, long *max)
{
	const struct setting_doc *docs;
	size_t n = config_settings(&docs);

	*min = 64;
	*max = 104857600;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(docs[i].path, "event.max_message_bytes") == 0) {
			*min = docs[i].min;
			*max = docs[i].max;
		}
	}
}

static void
kind_size(struct route_ctx *c, const struct ynode *v)
{
	long min, max;
	long long n;

	if (v == NULL) {
		c->r->max_message_bytes = (size_t)c->cfg->max_message_bytes;
		return;
	}
	route_size_bounds(&min, &max);
	if (is_int(v, &n) <= 0 || n < min || n > max) {
		route_err(c, v, "expected %s, got %s", expect(RK_SIZE), route_got(c, v));
		return;
	}
	c->r->max_message_bytes = (size_t)n;
}

static void
kind_dlq(struct route_ctx *c, const struct ynode *v)
{
	struct route *r = c->r;
	size_t len;

	if (v != NULL) {
		kind_amqp_name(c, RK_DLQ, v, &r->dlq);
		if (r->dlq != NULL)
			c->at_dlq = v;
		return;
	}
	if (r->queue == NULL)
		return;		/* the queue's error is reported */
	len = strlen(r->queue) + sizeof(".dlq");
	if (len - 1 > ROUTE_AMQP_NAME_MAX) {
		route_err(c, c->at_queue, "the default, the queue's name and .dlq, would be %zu "
		    "bytes long (at most %d): set dead_letter_queue", len - 1, ROUTE_AMQP_NAME_MAX);
		return;
	}
	r->dlq = malloc(len);
	if (r->dlq == NULL) {
		route_err(c, c->at_queue, "out of memory");
		return;
	}
	snprintf(r->dlq, len, "%s.dlq", r->queue);
}

void
route_value(struct route_ctx *c, const struct route_key *k, const struct ynode *v, void *dst)
{
	struct ynode def;

	/* These kinds take their default as if it had been written there. */
	if (v == NULL && k->def != NULL && (k->kind == RK_BOOL || k->kind == RK_KEY_SRC ||
	    k->kind == RK_TIMESTAMP || k->kind == RK_RKEY)) {
		memset(&def, 0, sizeof(def));
		def.type = YN_SCALAR;
		def.text = (char *)k->def;
		def.len = strlen(k->def);
		def.plain = def.len > 0;	/* "" is the empty string, not null */
		if (c->at_route != NULL) {
			def.line = c->at_route->line;
			def.col = c->at_route->col;
		}
		v = &def;
	}
	switch (k->kind) {
	case RK_ROUTES:
		route_read_all(c, v);
		break;
	case RK_NAME:
		kind_name(c, v, dst);
		break;
	case RK_QUEUE:
		kind_queue(c, v);
		break;
	case RK_AMQP_NAME:
		kind_amqp_name(c, RK_AMQP_NAME, v, dst);
		break;
	case RK_BOOL:
		kind_bool(c, v, dst);
		break;
	case RK_ARGS:
		kind_args(c, v);
		break;
	case RK_BINDINGS:
		kind_bindings(c, v);
		break;
	case RK_RKEY:
		kind_rkey(c, v, dst);
		break;
	case RK_TOPIC:
		kind_topic(c, v);
		break;
	case RK_ID_SRC:
		route_source(c, RK_ID_SRC, v, S_JSON | S_PROP_STR | S_HEADER, dst);
		break;
	case RK_KEY_SRC:
		route_source(c, RK_KEY_SRC, v, S_ID | S_JSON | S_ROUTING_KEY | S_HEADER | S_NONE, dst);
		break;
	case RK_VALUE_SRC:
		route_source(c, RK_VALUE_SRC, v, S_BODY | S_JSON, dst);
		break;
	case RK_HEADERS:
		route_headers(c, v);
		break;
	case RK_TIMESTAMP:
		kind_timestamp(c, v);
		break;
	case RK_SIZE:
		kind_size(c, v);
		break;
	case RK_DLQ:
		kind_dlq(c, v);
		break;
	case RK_HEADER_SRC:
	case RK_COUNT:
		break;
	}
}
