/*
 * route_dump: the routes written back as a route file (event-relayd -t
 * shows them): every key with its effective value, defaults filled in,
 * so that loading the output gives the same routes again. The implicit
 * route is written the same way, with a comment saying where it came
 * from.
 *
 * Before changing: the output must stay a file the loader accepts and
 * that reads back to equal routes (test_routes checks the round trip);
 * a scalar is written plain only when YAML reads it back as that string.
 * A route's text depends on the route alone, not on where it was read
 * (no file or line): the master compares two routes by their dumps.
 */
#include "autoconf.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/route.h"

/* Whether YAML reads `s` written plain as the same string. */
static int
plain_ok(const char *s)
{
	static const char *const words[] = {
		"true", "false", "null", "yes", "no", "on", "off", "y", "n",
	};
	size_t len = strlen(s);

	if (len == 0 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') ||
	    s[0] == '_'))
		return 0;
	if (strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:/-") != len ||
	    s[len - 1] == ':')
		return 0;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcasecmp(s, words[i]) == 0)
			return 0;
	return 1;
}

/*
 * The code point of the UTF-8 sequence at s, its length in *n; -1 for
 * a byte that does not start a valid sequence.
 */
static long
utf8_next(const unsigned char *s, size_t *n)
{
	static const unsigned long min[] = { 0, 0, 0x80, 0x800, 0x10000 };
	unsigned long cp;
	size_t len;

	if (s[0] < 0xc2 || s[0] > 0xf4)
		return -1;
	len = s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : 4;
	cp = s[0] & (0x3f >> (len - 1));
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return -1;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*n = len;
	return (long)cp;
}

/* A string scalar: plain when that reads back the same, else double-quoted. */
static void
put(FILE *out, const char *s)
{
	if (plain_ok(s)) {
		fputs(s, out);
		return;
	}
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0';) {
		size_t n = 1;
		long cp;

		if (*p == '"' || *p == '\\') {
			fprintf(out, "\\%c", *p);
		} else if (*p >= 0x20 && *p < 0x7f) {
			fputc(*p, out);
		} else if (*p < 0x80) {
			fprintf(out, "\\x%02X", *p);
		} else if ((cp = utf8_next(p, &n)) < 0) {
			/* Not UTF-8 (a setting may hold anything): the byte as U+00XX. */
			fprintf(out, "\\x%02X", *p);
		} else if (cp <= 0xffff) {
			fprintf(out, "\\u%04lX", (unsigned long)cp);
		} else {
			fprintf(out, "\\U%08lX", (unsigned long)cp);
		}
		p += n;
	}
	fputc('"', out);
}

/* A source as written in a route file. */
static void
put_src(FILE *out, const struct route_src *s)
{
	char buf[1100];

	switch (s->kind) {
	case RSRC_NONE:
		fputs("none", out);
		return;
	case RSRC_ID:
		fputs("id", out);
		return;
	case RSRC_BODY:
		fputs("body", out);
		return;
	case RSRC_ROUTING_KEY:
		fputs("routing_key", out);
		return;
	case RSRC_JSON:
		snprintf(buf, sizeof(buf), "json:%s", s->path.text);
		break;
	case RSRC_PROPERTY:
		snprintf(buf, sizeof(buf), "property:%s", route_prop_names[s->prop]);
		break;
	case RSRC_HEADER:
		snprintf(buf, sizeof(buf), "header:%s%s", s->name, s->prefix ? "*" : "");
		break;
	}
	put(out, buf);
}

static void
put_queue(FILE *out, const struct route *r)
{
	fputs("    queue:", out);
	if (!r->declare && r->nargs == 0 && r->nbindings == 0) {
		fputc(' ', out);
		put(out, r->queue);
		fputc('\n', out);
		return;
	}
	fputs("\n      name: ", out);
	put(out, r->queue);
	fprintf(out, "\n      declare: %s\n", r->declare ? "true" : "false");
	if (r->nargs > 0)
		fputs("      arguments:\n", out);
	for (size_t i = 0; i < r->nargs; i++) {
		const struct route_arg *a = &r->args[i];

		fputs("        ", out);
		put(out, a->key);
		fputs(": ", out);
		if (a->type == RARG_INT) {
			fprintf(out, "%lld\n", a->num);
		} else if (a->type == RARG_BOOL) {
			fputs(a->num ? "true\n" : "false\n", out);
		} else {
			/* Quoted, so that "1000" or "true" stays a string. */
			if (plain_ok(a->str)) {
				fprintf(out, "\"%s\"", a->str);
			} else {
				put(out, a->str);
			}
			fputc('\n', out);
		}
	}
	if (r->nbindings > 0)
		fputs("      bindings:\n", out);
	for (size_t i = 0; i < r->nbindings; i++) {
		fputs("        - exchange: ", out);
		put(out, r->bindings[i].exchange);
		fputs("\n          routing_key: ", out);
		put(out, r->bindings[i].routing_key);
		fputc('\n', out);
	}
}

static void
put_route(FILE *out, const struct route *r)
{
	fputs("  - name: ", out);
	put(out, r->name);
	fputc('\n', out);
	put_queue(out, r);
	fputs("    topic: ", out);
	put(out, r->topic);
	fputs("\n    id: ", out);
	put_src(out, &r->id);
	fputs("\n    key: ", out);
	put_src(out, &r->key);
	fputs("\n    value: ", out);
	put_src(out, &r->value);
	fputs(r->nheaders == 0 ? "\n    headers: {}\n" : "\n    headers:\n", out);
	for (size_t i = 0; i < r->nheaders; i++) {
		char name[300];

		snprintf(name, sizeof(name), "%s%s", r->headers[i].name,
		    r->headers[i].prefix ? "*" : "");
		fputs("      ", out);
		put(out, name);
		fputs(": ", out);
		put_src(out, &r->headers[i].src);
		fputc('\n', out);
	}
	fprintf(out, "    timestamp: %s\n", r->timestamp == RTS_AMQP ? "amqp" : "now");
	fprintf(out, "    max_message_bytes: %zu\n", r->max_message_bytes);
	fputs("    dead_letter_queue: ", out);
	put(out, r->dlq);
	fprintf(out, "\n    trace_context: %s\n", r->trace_context ? "true" : "false");
}

void
route_set_dump(const struct route_set *rs, FILE *out)
{
	if (rs->implicit)
		fputs("# The implicit route, from rabbitmq.queue and kafka.topic (no route files).\n",
		    out);
	if (rs->n == 0) {
		fputs("routes: []\n", out);
		return;
	}
	fputs("routes:\n", out);
	for (size_t i = 0; i < rs->n; i++)
		put_route(out, &rs->v[i]);
}
