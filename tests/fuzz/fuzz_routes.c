/*
 * fuzz_routes: libFuzzer target for route_file_parse, the route file
 * loader reading one file from memory. See README.md for how to build
 * and run it.
 *
 * Owns nothing across inputs: each input gets a fresh route set, freed
 * before the next (so LeakSanitizer sees any leak).
 *
 * Besides crashes (ASan, UBSan), it checks what the loader promises:
 * every error is one line starting with the file name; a file without
 * errors gives whole, bounded routes; their dump loads again without
 * errors to as many routes, which dump to the very same text; the same
 * routes read a second time clash with the first (names, queues).
 */
#include "autoconf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/route.h"
#include "common/route_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Only max_message_bytes is read by route_file_parse. */
static struct er_config cfg = { .max_message_bytes = 1048576 };

/* Parses buf as file `name` into rs; returns the error count, checked. */
static int
parse(const char *name, const void *buf, size_t len, struct route_set *rs)
{
	char *out = NULL;
	size_t olen = 0, lines = 0;
	FILE *errs = open_memstream(&out, &olen);
	int n;

	if (errs == NULL)
		abort();
	n = route_file_parse(name, buf, len, &cfg, rs, errs);
	if (fclose(errs) != 0)
		abort();
	for (const char *p = out; p < out + olen; p++) {
		if (strncmp(p, name, strlen(name)) != 0)
			abort();	/* a line that does not name the file */
		p = memchr(p, '\n', (size_t)(out + olen - p));
		if (p == NULL)
			abort();	/* an unterminated line */
		lines++;
	}
	if (lines != (size_t)n || (n > 0) != (olen > 0))
		abort();
	free(out);
	return n;
}

static void
check_path(const struct route_path *p)
{
	if (p->text == NULL || p->nseg == 0 || p->nseg > ROUTE_PATH_MAX_SEGMENTS)
		abort();
	for (size_t i = 0; i < p->nseg; i++)
		if (p->seglen[i] == 0 || p->seg[i] < p->text ||
		    p->seg[i] + p->seglen[i] > p->text + strlen(p->text))
			abort();
}

static void
check_src(const struct route_src *s)
{
	if (s->kind == RSRC_JSON)
		check_path(&s->path);
	if (s->kind == RSRC_HEADER && (s->name == NULL || strlen(s->name) != s->name_len))
		abort();
	if (s->kind == RSRC_PROPERTY && (unsigned)s->prop >= RPROP_COUNT)
		abort();
}

/* A route read without errors is whole and within its bounds. */
static void
check_route(const struct route *r)
{
	size_t nlen;

	if (r->name == NULL || r->queue == NULL || r->topic == NULL || r->dlq == NULL ||
	    r->file == NULL)
		abort();
	nlen = strlen(r->name);
	if (nlen == 0 || nlen > ROUTE_NAME_MAX || strlen(r->queue) > 255 || strlen(r->dlq) > 255)
		abort();
	if (r->max_message_bytes < 64 || r->max_message_bytes > 104857600)
		abort();
	if ((r->tpl == NULL) != (r->ntpl == 0))
		abort();
	for (size_t i = 0; i < r->ntpl; i++)
		if ((r->tpl[i].kind == RTPL_TEXT || r->tpl[i].kind == RTPL_HEADER) &&
		    (r->tpl[i].text == NULL || strlen(r->tpl[i].text) != r->tpl[i].len))
			abort();
	if (r->tpl == NULL && (strlen(r->topic) == 0 || strlen(r->topic) > 249))
		abort();
	if (r->id.kind != RSRC_JSON && r->id.kind != RSRC_PROPERTY && r->id.kind != RSRC_HEADER)
		abort();
	if (r->value.kind != RSRC_BODY && r->value.kind != RSRC_JSON)
		abort();
	check_src(&r->id);
	check_src(&r->key);
	check_src(&r->value);
	if (r->nheaders > ROUTE_MAX_HEADERS)
		abort();
	for (size_t i = 0; i < r->nheaders; i++) {
		if (r->headers[i].name == NULL || r->headers[i].prefix != r->headers[i].src.prefix)
			abort();
		check_src(&r->headers[i].src);
	}
	for (size_t i = 0; i < r->nargs; i++)
		if (r->args[i].key == NULL || (r->args[i].type == RARG_STRING) !=
		    (r->args[i].str != NULL))
			abort();
	for (size_t i = 0; i < r->nbindings; i++)
		if (r->bindings[i].exchange == NULL || r->bindings[i].routing_key == NULL)
			abort();
}

static char *
dump(const struct route_set *rs, size_t *len)
{
	char *out = NULL;
	FILE *f = open_memstream(&out, len);

	if (f == NULL)
		abort();
	route_set_dump(rs, f);
	if (fclose(f) != 0)
		abort();
	return out;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct route_set a, b, c;
	char *d1, *d2, *d3;
	size_t l1, l2, l3, n;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	memset(&c, 0, sizeof(c));
	if (parse("fuzz.yaml", data, size, &a) == 0) {
		for (size_t i = 0; i < a.n; i++)
			check_route(&a.v[i]);
		d1 = dump(&a, &l1);
		/* The dump loads again, to routes that dump to the same text. */
		if (parse("dump.yaml", d1, l1, &b) != 0 || b.n != a.n)
			abort();
		d2 = dump(&b, &l2);
		if (l1 != l2 || memcmp(d1, d2, l1) != 0)
			abort();
		if (parse("dump2.yaml", d2, l2, &c) != 0 || c.n != a.n)
			abort();
		d3 = dump(&c, &l3);
		if (l2 != l3 || memcmp(d2, d3, l2) != 0)
			abort();
		/* The same routes again, as a second file: they clash with the first. */
		n = a.n;
		if ((parse("again.yaml", data, size, &a) > 0) != (n > 0))
			abort();
		free(d1);
		free(d2);
		free(d3);
	}
	route_set_free(&a);
	route_set_free(&b);
	route_set_free(&c);
	return 0;
}
