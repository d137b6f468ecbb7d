/*
 * Unit tests of the route files: the structs every source kind and both
 * queue forms give, defaults, the seed-format detection, every error
 * class (one fixture each under routes/err_*.yaml, plus one file with
 * many errors; their exact output is golden/routes_errors.txt), the
 * directory (missing, empty, name order, errors across files, files
 * that cannot be read), route_set_dump's round trip, and the example
 * files of etc/routes.d.
 *
 * To accept a changed error output: ER_UPDATE_GOLDEN=1
 * ./tests/unit/test_routes, then read the diff. Directory tests write
 * under a fresh temporary directory, shown as "TMP" in messages.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/config.h"
#include "common/route.h"
#include "common/route_file.h"
#include "common/route_value.h"

static struct er_config cfg;
static char tmpdir[64];

static const char *
no_env(const char *name)
{
	(void)name;
	return NULL;
}

static void
setup(void)
{
	cr_assert(config_load(&cfg, NULL, no_env, stderr) == 0, "default configuration");
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_routes.XXXXXX");
	cr_assert(mkdtemp(tmpdir) != NULL, "mkdtemp: %s", strerror(errno));
}

/* Removes `path` and everything under it (no symlink is followed). */
static void
remove_tree(const char *path)
{
	struct stat st;
	DIR *d;
	struct dirent *e;

	if (lstat(path, &st) < 0)
		return;
	if (S_ISDIR(st.st_mode) && (d = opendir(path)) != NULL) {
		while ((e = readdir(d)) != NULL) {
			char *sub;

			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			if (asprintf(&sub, "%s/%s", path, e->d_name) > 0) {
				remove_tree(sub);
				free(sub);
			}
		}
		closedir(d);
		rmdir(path);
	} else {
		unlink(path);
	}
}

static void
teardown(void)
{
	remove_tree(tmpdir);
	config_free(&cfg);
}

TestSuite(routes, .init = setup, .fini = teardown);

static char *
slurp(const char *path, size_t *lenp)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	cr_assert(f != NULL, "open %s: %s", path, strerror(errno));
	cr_assert(fseek(f, 0, SEEK_END) == 0);
	n = ftell(f);
	rewind(f);
	buf = calloc(1, (size_t)n + 1);
	cr_assert(buf != NULL && fread(buf, 1, (size_t)n, f) == (size_t)n, "read %s", path);
	fclose(f);
	if (lenp != NULL)
		*lenp = (size_t)n;
	return buf;
}

/* Compares `got` with golden/NAME, or rewrites it with ER_UPDATE_GOLDEN set. */
static void
check_golden(const char *got, const char *name)
{
	char path[512];
	char *want;

	snprintf(path, sizeof(path), "%s/golden/%s", TEST_SRCDIR, name);
	if (getenv("ER_UPDATE_GOLDEN") != NULL) {
		FILE *f = fopen(path, "wb");

		cr_assert(f != NULL, "cannot write %s", path);
		fputs(got, f);
		fclose(f);
	}
	want = slurp(path, NULL);
	cr_expect_str_eq(got, want, "%s: got\n%s\nwant\n%s", name, got, want);
	free(want);
}

/* Replaces every `from` in `s` (malloc'd, freed) with `to`. */
static char *
replace_all(char *s, const char *from, const char *to)
{
	size_t fl = strlen(from), tl = strlen(to), n = 0;
	char *out, *o;

	for (const char *p = strstr(s, from); p != NULL; p = strstr(p + fl, from))
		n++;
	out = malloc(strlen(s) + n * tl + 1);
	cr_assert(out != NULL);
	o = out;
	for (const char *p = s;;) {
		const char *hit = strstr(p, from);

		if (hit == NULL) {
			strcpy(o, p);
			break;
		}
		memcpy(o, p, (size_t)(hit - p));
		o += hit - p;
		memcpy(o, to, tl);
		o += tl;
		p = hit + fl;
	}
	free(s);
	return out;
}

struct parsed {
	int n;			/* errors */
	char *errs;		/* their output */
	struct route_set rs;
};

static void
parsed_free(struct parsed *p)
{
	free(p->errs);
	route_set_free(&p->rs);
}

/* route_file_parse of buf[0..len) as file `name`, into p->rs (appended). */
static void
parse_into(struct parsed *p, const char *name, const char *buf, size_t len)
{
	size_t elen;
	FILE *f = open_memstream(&p->errs, &elen);

	cr_assert(f != NULL);
	p->n = route_file_parse(name, buf, len, &cfg, &p->rs, f);
	cr_assert(fclose(f) == 0);
}

static struct parsed
parse(const char *text)
{
	struct parsed p;

	memset(&p, 0, sizeof(p));
	parse_into(&p, "test.yaml", text, strlen(text));
	return p;
}

/* Parses fixture routes/NAME, named "routes/NAME" in messages. */
static struct parsed
parse_fixture(const char *name)
{
	char path[512], shown[256];
	struct parsed p;
	size_t len;
	char *buf;

	snprintf(path, sizeof(path), "%s/routes/%s", TEST_SRCDIR, name);
	snprintf(shown, sizeof(shown), "routes/%s", name);
	buf = slurp(path, &len);
	memset(&p, 0, sizeof(p));
	parse_into(&p, shown, buf, len);
	free(buf);
	return p;
}

static char *
dump(const struct route_set *rs)
{
	char *buf = NULL;
	size_t len;
	FILE *f = open_memstream(&buf, &len);

	cr_assert(f != NULL);
	route_set_dump(rs, f);
	cr_assert(fclose(f) == 0);
	return buf;
}

static int
path_eq(const struct route_path *p, const char *text, size_t nseg)
{
	if (p->text == NULL || strcmp(p->text, text) != 0 || p->nseg != nseg)
		return 0;
	/* The segments point into `text`, which stays whole. */
	for (size_t i = 0, off = 0; i < nseg; i++) {
		if (p->seg[i] != p->text + off)
			return 0;
		off += p->seglen[i] + 1;
	}
	return 1;
}

static void
expect_src(const struct route_src *s, enum route_src_kind kind, const char *arg, const char *what)
{
	cr_expect(s->kind == kind, "%s: kind: got %d, want %d", what, (int)s->kind, (int)kind);
	if (kind == RSRC_JSON)
		cr_expect(s->path.text != NULL && strcmp(s->path.text, arg) == 0,
		    "%s: path: got %s, want %s", what, s->path.text, arg);
	if (kind == RSRC_HEADER)
		cr_expect(s->name != NULL && strcmp(s->name, arg) == 0 &&
		    s->name_len == strlen(arg), "%s: header: got %s, want %s", what, s->name, arg);
}

Test(routes, every_source_kind_and_queue_form)
{
	struct parsed p = parse_fixture("ok_all_sources.yaml");
	const struct route *r;

	cr_assert(p.n == 0, "errors: got %d (%s), want 0", p.n, p.errs);
	cr_assert(p.rs.n == 4, "routes: got %zu, want 4", p.rs.n);
	r = &p.rs.v[0];
	cr_expect_str_eq(r->name, "orders");
	cr_expect_str_eq(r->file, "routes/ok_all_sources.yaml");
	cr_expect(r->line == 3, "line: got %d, want 3", r->line);
	cr_expect_str_eq(r->queue, "orders");
	cr_expect(r->declare == 1, "declare: got %d, want 1", r->declare);
	cr_assert(r->nargs == 7, "arguments: got %zu, want 7", r->nargs);
	{
		static const struct {
			const char *key;
			enum route_arg_type type;
			long long num;
			const char *str;
		} want[] = {
			{ "x-queue-type", RARG_STRING, 0, "quorum" },
			{ "x-max-length", RARG_INT, 1000, NULL },
			{ "x-negative", RARG_INT, -5, NULL },
			{ "x-hex", RARG_INT, 31, NULL },
			{ "x-single-active-consumer", RARG_BOOL, 1, NULL },
			{ "x-quoted", RARG_STRING, 0, "1000" },
			{ "x-float", RARG_STRING, 0, "1.5" },
		};

		for (size_t i = 0; i < 7; i++) {
			const struct route_arg *a = &r->args[i];

			cr_expect_str_eq(a->key, want[i].key, "argument %zu: got %s, want %s", i,
			    a->key, want[i].key);
			cr_expect(a->type == want[i].type, "%s: type: got %d, want %d", a->key,
			    (int)a->type, (int)want[i].type);
			if (want[i].str != NULL)
				cr_expect(a->str != NULL && strcmp(a->str, want[i].str) == 0,
				    "%s: got %s, want %s", a->key, a->str, want[i].str);
			else
				cr_expect(a->num == want[i].num, "%s: got %lld, want %lld", a->key,
				    a->num, want[i].num);
		}
	}
	cr_assert(r->nbindings == 2, "bindings: got %zu, want 2", r->nbindings);
	cr_expect_str_eq(r->bindings[0].exchange, "shop");
	cr_expect_str_eq(r->bindings[0].routing_key, "order.*");
	cr_expect_str_eq(r->bindings[1].exchange, "shop-all");
	cr_expect_str_eq(r->bindings[1].routing_key, "", "a binding's routing key defaults to \"\"");

	cr_expect_str_eq(r->topic, "shop.{routing_key}.{header.x-region}-{queue}.{exchange}");
	{
		static const struct {
			enum route_tpl_kind kind;
			const char *text;
		} want[] = {
			{ RTPL_TEXT, "shop." }, { RTPL_ROUTING_KEY, NULL }, { RTPL_TEXT, "." },
			{ RTPL_HEADER, "x-region" }, { RTPL_TEXT, "-" }, { RTPL_QUEUE, NULL },
			{ RTPL_TEXT, "." }, { RTPL_EXCHANGE, NULL },
		};

		cr_assert(r->ntpl == 8, "template parts: got %zu, want 8", r->ntpl);
		for (size_t i = 0; i < 8; i++) {
			cr_expect(r->tpl[i].kind == want[i].kind, "part %zu: kind got %d, want %d",
			    i, (int)r->tpl[i].kind, (int)want[i].kind);
			if (want[i].text != NULL)
				cr_expect(r->tpl[i].text != NULL &&
				    strcmp(r->tpl[i].text, want[i].text) == 0 &&
				    r->tpl[i].len == strlen(want[i].text),
				    "part %zu: got %s, want %s", i, r->tpl[i].text, want[i].text);
		}
	}
	expect_src(&r->id, RSRC_JSON, "order.id", "id");
	cr_expect(path_eq(&r->id.path, "order.id", 2), "id path: not split in 2 segments");
	cr_expect(r->id.path.seglen[0] == 5 && r->id.path.seglen[1] == 2,
	    "id path: seglen got %zu,%zu, want 5,2", r->id.path.seglen[0], r->id.path.seglen[1]);
	expect_src(&r->key, RSRC_JSON, "order.lines.0.sku", "key");
	cr_expect(path_eq(&r->key.path, "order.lines.0.sku", 4), "key path: not 4 segments");
	expect_src(&r->value, RSRC_JSON, "order", "value");
	cr_assert(r->nheaders == 6, "headers: got %zu, want 6", r->nheaders);
	{
		static const struct {
			const char *name;
			int prefix;
			enum route_src_kind kind;
			const char *arg;
			enum route_prop prop;
		} want[] = {
			{ "correlation_id", 0, RSRC_JSON, "correlation_id", 0 },
			{ "msg-id", 0, RSRC_PROPERTY, NULL, RPROP_MESSAGE_ID },
			{ "sent", 0, RSRC_PROPERTY, NULL, RPROP_TIMESTAMP },
			{ "tenant", 0, RSRC_HEADER, "x-tenant", 0 },
			{ "x-tenant-", 1, RSRC_HEADER, "x-tenant-", 0 },
			{ "t-", 1, RSRC_HEADER, "x-t-", 0 },
		};

		for (size_t i = 0; i < 6; i++) {
			const struct route_header *h = &r->headers[i];

			cr_expect_str_eq(h->name, want[i].name, "header %zu: got %s, want %s", i,
			    h->name, want[i].name);
			cr_expect(h->name_len == strlen(want[i].name), "header %s: name_len %zu",
			    h->name, h->name_len);
			cr_expect(h->prefix == want[i].prefix && h->src.prefix == want[i].prefix,
			    "header %s: prefix got %d/%d, want %d", h->name, h->prefix,
			    h->src.prefix, want[i].prefix);
			expect_src(&h->src, want[i].kind, want[i].arg, h->name);
			if (want[i].kind == RSRC_PROPERTY)
				cr_expect(h->src.prop == want[i].prop, "header %s: prop got %d, "
				    "want %d", h->name, (int)h->src.prop, (int)want[i].prop);
		}
	}
	cr_expect(r->timestamp == RTS_NOW, "timestamp: got %d, want now", (int)r->timestamp);
	cr_expect(r->max_message_bytes == 2048, "max_message_bytes: got %zu, want 2048",
	    r->max_message_bytes);
	cr_expect_str_eq(r->dlq, "orders.dead");
	cr_expect(r->trace_context == 0, "trace_context: got %d, want 0", r->trace_context);
	cr_expect(r->format == ROUTE_FMT_MAPPED, "format: got %d, want mapped", (int)r->format);

	r = &p.rs.v[1];
	cr_expect_str_eq(r->name, "payments_v1.eu-west");
	cr_expect(r->declare == 0 && r->nargs == 0 && r->nbindings == 0,
	    "a queue written as a string is passive, without arguments or bindings");
	cr_expect(r->tpl == NULL && r->ntpl == 0, "a fixed topic has no template");
	cr_expect(r->id.kind == RSRC_PROPERTY && r->id.prop == RPROP_CORRELATION_ID,
	    "id: got %d/%d, want property:correlation_id", (int)r->id.kind, (int)r->id.prop);
	expect_src(&r->key, RSRC_ROUTING_KEY, NULL, "key");
	expect_src(&r->value, RSRC_BODY, NULL, "value");

	r = &p.rs.v[2];
	expect_src(&r->id, RSRC_HEADER, "x-request-id", "id");
	cr_expect(r->id.prefix == 0, "id: prefix got %d, want 0", r->id.prefix);
	expect_src(&r->key, RSRC_HEADER, "x-actor", "key");

	r = &p.rs.v[3];
	expect_src(&r->key, RSRC_NONE, NULL, "key");
	parsed_free(&p);
}

Test(routes, defaults)
{
	struct parsed p = parse("routes:\n"
	    "  - name: r\n    queue: q\n    topic: t\n    id: json:event_id\n    value: body\n");
	const struct route *r;

	cr_assert(p.n == 0, "errors: got %d (%s), want 0", p.n, p.errs);
	cr_assert(p.rs.n == 1);
	r = &p.rs.v[0];
	cr_expect(r->line == 2, "line: got %d, want 2 (the line of the route's item)", r->line);
	cr_expect_str_eq(r->file, "test.yaml");
	cr_expect(r->declare == 0, "declare: got %d, want 0", r->declare);
	cr_expect(r->key.kind == RSRC_ID, "key: got %d, want id", (int)r->key.kind);
	cr_expect(r->nheaders == 0, "headers: got %zu, want 0", r->nheaders);
	cr_expect(r->timestamp == RTS_AMQP, "timestamp: got %d, want amqp", (int)r->timestamp);
	cr_expect(r->max_message_bytes == (size_t)cfg.max_message_bytes,
	    "max_message_bytes: got %zu, want the setting %ld", r->max_message_bytes,
	    cfg.max_message_bytes);
	cr_expect_str_eq(r->dlq, "q.dlq");
	cr_expect(r->trace_context == 1, "trace_context: got %d, want 1", r->trace_context);
	cr_expect(r->format == ROUTE_FMT_MAPPED, "format: got %d, want mapped", (int)r->format);
	parsed_free(&p);
}

Test(routes, flow_style_and_empty_list)
{
	struct parsed p = parse("{routes: [{name: a, queue: {name: q, declare: true, bindings: []}, "
	    "topic: t, id: 'json:x', value: body, headers: {}}]}");

	cr_expect(p.n == 0, "errors: got %d (%s), want 0", p.n, p.errs);
	cr_expect(p.rs.n == 1 && p.rs.v[0].declare == 1 && p.rs.v[0].nbindings == 0,
	    "flow style: one declared route");
	parsed_free(&p);
	p = parse("# a team's placeholder\nroutes: []\n");
	cr_expect(p.n == 0 && p.rs.n == 0, "routes: []: got %d errors, %zu routes, want 0, 0",
	    p.n, p.rs.n);
	parsed_free(&p);
}

Test(routes, seed_format_detection)
{
	static const struct {
		const char *mapping;
		enum route_format want;
	} cases[] = {
		/* timestamp: amqp (the default) and topic templates need the mapping */
		{ "id: json:event_id\n    value: json:payload\n"
		  "    headers: {correlation_id: json:correlation_id}\n", ROUTE_FMT_MAPPED },
		{ "id: json:event_id\n    value: json:payload\n"
		  "    headers: {correlation_id: json:correlation_id}\n    timestamp: now\n",
		  ROUTE_FMT_SEED_JSON },
		{ "id: json:event_id\n    key: id\n    value: json:payload\n"
		  "    headers: {correlation_id: json:correlation_id}\n"
		  "    timestamp: now\n    trace_context: false\n", ROUTE_FMT_SEED_JSON },
		{ "id: json:event_id\n    value: json:payload\n", ROUTE_FMT_MAPPED },
		{ "id: json:event_id\n    key: none\n    value: json:payload\n"
		  "    headers: {correlation_id: json:correlation_id}\n", ROUTE_FMT_MAPPED },
		{ "id: json:event_id\n    value: json:payload\n"
		  "    headers: {correlation: json:correlation_id}\n", ROUTE_FMT_MAPPED },
		{ "id: json:event_id\n    value: json:payload\n"
		  "    headers: {correlation_id: header:correlation_id}\n", ROUTE_FMT_MAPPED },
		{ "id: json:event_id\n    value: json:payload\n"
		  "    headers: {correlation_id: json:correlation_id, b: json:b}\n", ROUTE_FMT_MAPPED },
		{ "id: json:event_id.x\n    value: json:payload\n"
		  "    headers: {correlation_id: json:correlation_id}\n", ROUTE_FMT_MAPPED },
		{ "id: json:event_id\n    value: body\n"
		  "    headers: {correlation_id: json:correlation_id}\n", ROUTE_FMT_MAPPED },
		{ "id: property:message_id\n    value: json:payload\n"
		  "    headers: {correlation_id: json:correlation_id}\n", ROUTE_FMT_MAPPED },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *text;
		struct parsed p;

		cr_assert(asprintf(&text, "routes:\n  - name: r\n    queue: q\n    topic: t\n    %s",
		    cases[i].mapping) > 0);
		p = parse(text);
		cr_assert(p.n == 0 && p.rs.n == 1, "case %zu: errors %d (%s)", i, p.n, p.errs);
		cr_expect(p.rs.v[0].format == cases[i].want, "case %zu: format got %d, want %d", i,
		    (int)p.rs.v[0].format, (int)cases[i].want);
		parsed_free(&p);
		free(text);
	}
}

/* A topic template needs the mapping even with the implicit route's mapping. */
Test(routes, seed_mapping_with_template_is_mapped)
{
	struct parsed p = parse("routes:\n  - name: r\n    queue: q\n    topic: \"t.{routing_key}\"\n"
	    "    id: json:event_id\n    value: json:payload\n"
	    "    headers: {correlation_id: json:correlation_id}\n    timestamp: now\n");

	cr_assert(p.n == 0 && p.rs.n == 1, "errors %d (%s)", p.n, p.errs);
	cr_expect(p.rs.v[0].format == ROUTE_FMT_MAPPED, "format: got %d, want mapped",
	    (int)p.rs.v[0].format);
	parsed_free(&p);
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The routes/err_*.yaml fixtures, sorted. */
static size_t
error_fixtures(char ***names)
{
	char dir[512];
	struct dirent *e;
	size_t n = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/routes", TEST_SRCDIR);
	d = opendir(dir);
	cr_assert(d != NULL, "opendir %s: %s", dir, strerror(errno));
	*names = NULL;
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, "err_", 4) != 0)
			continue;
		*names = realloc(*names, (n + 1) * sizeof(**names));
		cr_assert(*names != NULL);
		(*names)[n++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(*names, n, sizeof(**names), by_name);
	return n;
}

/*
 * Every error class, one fixture each: exactly one error, at the line and
 * column the golden file shows; then one file with many errors, all
 * reported in one run.
 */
Test(routes, error_classes_golden)
{
	char *out = NULL, **names;
	size_t len, n = error_fixtures(&names);
	FILE *f = open_memstream(&out, &len);
	struct parsed p;

	cr_assert(f != NULL);
	cr_assert(n >= 70, "error fixtures: got %zu, want at least 70", n);
	for (size_t i = 0; i < n; i++) {
		p = parse_fixture(names[i]);
		cr_expect(p.n == 1, "%s: got %d errors, want 1:\n%s", names[i], p.n, p.errs);
		fputs(p.errs, f);
		parsed_free(&p);
		free(names[i]);
	}
	free(names);
	p = parse_fixture("multi_errors.yaml");
	cr_expect(p.n == 20, "multi_errors.yaml: got %d errors, want 20:\n%s", p.n, p.errs);
	fputs(p.errs, f);
	parsed_free(&p);
	cr_assert(fclose(f) == 0);
	check_golden(out, "routes_errors.txt");
	free(out);
}

/* Writes TMP/sub/name (sub may be ""). */
static void
put_file(const char *sub, const char *name, const char *text)
{
	char *path;
	FILE *f;

	cr_assert(asprintf(&path, "%s/%s%s%s", tmpdir, sub, *sub ? "/" : "", name) > 0);
	f = fopen(path, "w");
	cr_assert(f != NULL, "fopen %s: %s", path, strerror(errno));
	fputs(text, f);
	cr_assert(fclose(f) == 0);
	free(path);
}

/* route_set_load of TMP/sub (sub may be ""), messages with TMP for the directory. */
static struct parsed
load_dir(const char *sub)
{
	struct parsed p;
	char *dir;
	size_t len;
	FILE *f;

	memset(&p, 0, sizeof(p));
	cr_assert(asprintf(&dir, "%s%s%s", tmpdir, *sub ? "/" : "", sub) > 0);
	free(cfg.routes_dir);
	cfg.routes_dir = dir;
	f = open_memstream(&p.errs, &len);
	cr_assert(f != NULL);
	p.n = route_set_load(&p.rs, &cfg, f);
	cr_assert(fclose(f) == 0);
	p.errs = replace_all(p.errs, tmpdir, "TMP");
	if (p.n > 0)
		cr_expect(p.rs.n == 0 && p.rs.v == NULL, "after errors: got %zu routes, want none",
		    p.rs.n);
	return p;
}

static void
expect_implicit(const struct parsed *p, const char *what)
{
	cr_expect(p->n == 0, "%s: errors: got %d (%s), want 0", what, p->n, p->errs);
	cr_expect(p->rs.n == 1 && p->rs.implicit == 1, "%s: got %zu routes (implicit %d), "
	    "want the implicit one", what, p->rs.n, p->rs.implicit);
	if (p->rs.n == 1)
		cr_expect_str_eq(p->rs.v[0].name, "default", "%s: name", what);
}

#define ROUTE(name, queue) \
	"  - name: " name "\n    queue: " queue "\n    topic: t\n    id: json:event_id\n" \
	"    value: body\n"

Test(routes, directory_without_route_files_is_implicit)
{
	struct parsed p = load_dir("missing");
	char *sub;

	expect_implicit(&p, "missing directory");
	cr_expect(p.rs.v[0].format == ROUTE_FMT_SEED_JSON, "implicit: the seed format");
	parsed_free(&p);

	p = load_dir("");
	expect_implicit(&p, "empty directory");
	parsed_free(&p);

	/* Names that are not route files, and a sub-directory. */
	put_file("", ".hidden.yaml", "not: yaml: at all\n");
	put_file("", "a.yml", "routes: [x]\n");
	put_file("", "a.yaml.example", "routes: [x]\n");
	put_file("", "a.yaml~", "routes: [x]\n");
	put_file("", "yaml", "routes: [x]\n");
	cr_assert(asprintf(&sub, "%s/sub", tmpdir) > 0 && mkdir(sub, 0700) == 0);
	free(sub);
	p = load_dir("");
	expect_implicit(&p, "only other names");
	parsed_free(&p);

	put_file("", "10-team.yaml", "routes: []\n");
	p = load_dir("");
	expect_implicit(&p, "placeholder files only");
	parsed_free(&p);
}

Test(routes, directory_name_order)
{
	struct parsed p;
	static const char *const want[] = { "f10", "f9", "fB", "fa", "fb" };

	put_file("", "b.yaml", "routes:\n" ROUTE("fb", "qb"));
	put_file("", "a.yaml", "routes:\n" ROUTE("fa", "qa"));
	put_file("", "10-x.yaml", "routes:\n" ROUTE("f10", "q10"));
	put_file("", "9-y.yaml", "routes:\n" ROUTE("f9", "q9"));
	put_file("", "B.yaml", "routes:\n" ROUTE("fB", "qB"));
	p = load_dir("");
	cr_assert(p.n == 0, "errors: got %d (%s), want 0", p.n, p.errs);
	cr_assert(p.rs.n == 5 && p.rs.implicit == 0, "routes: got %zu, want 5", p.rs.n);
	for (size_t i = 0; i < 5; i++)
		cr_expect_str_eq(p.rs.v[i].name, want[i], "route %zu: got %s, want %s", i,
		    p.rs.v[i].name, want[i]);
	parsed_free(&p);
}

Test(routes, directory_errors_across_files)
{
	struct parsed p;

	put_file("", "a.yaml", "routes:\n" ROUTE("orders", "orders") ROUTE("audit", "audit.q"));
	put_file("", "b.yaml", "routes:\n" ROUTE("orders", "orders2") ROUTE("shop", "audit.q")
	    ROUTE("pay", "orders.dlq"));
	put_file("", "c.yaml", "routes:\n  - name: x\n");
	p = load_dir("");
	cr_expect(p.n == 7, "errors: got %d, want 7:\n%s", p.n, p.errs);
	cr_expect_str_eq(p.errs,
	    "TMP/b.yaml:2:11: route name \"orders\" already used at TMP/a.yaml:2\n"
	    "TMP/b.yaml:8:12: route \"shop\": queue \"audit.q\" is already the queue of route "
	    "\"audit\" (TMP/a.yaml:7)\n"
	    "TMP/b.yaml:13:12: route \"pay\": queue \"orders.dlq\" is the dead_letter_queue of "
	    "route \"orders\" (TMP/a.yaml:2)\n"
	    "TMP/c.yaml:2:5: route \"x\": missing key \"queue\"\n"
	    "TMP/c.yaml:2:5: route \"x\": missing key \"topic\"\n"
	    "TMP/c.yaml:2:5: route \"x\": missing key \"id\"\n"
	    "TMP/c.yaml:2:5: route \"x\": missing key \"value\"\n",
	    "got\n%s", p.errs);
	route_set_free(&p.rs);	/* a failed set is safe to free again */
	parsed_free(&p);
}

Test(routes, directory_files_that_cannot_be_read)
{
	struct parsed p;
	char *path, *big;

	put_file("", "a.yaml", "routes:\n" ROUTE("a", "qa"));
	put_file("", "b.yaml", "routes:\n  - name: b\n");
	cr_assert(asprintf(&path, "%s/c.yaml", tmpdir) > 0);
	cr_assert(symlink("/nonexistent/routes.yaml", path) == 0);
	free(path);
	cr_assert(asprintf(&path, "%s/d.yaml", tmpdir) > 0);
	cr_assert(mkdir(path, 0700) == 0);
	free(path);
	big = malloc(ROUTE_FILE_MAX_BYTES + 2);
	cr_assert(big != NULL);
	memset(big, '#', ROUTE_FILE_MAX_BYTES + 1);
	big[ROUTE_FILE_MAX_BYTES + 1] = '\0';
	put_file("", "e.yaml", big);
	free(big);
	p = load_dir("");
	cr_expect(p.n == 7, "errors: got %d, want 7:\n%s", p.n, p.errs);
	cr_expect_str_eq(p.errs,
	    "TMP/b.yaml:2:5: route \"b\": missing key \"queue\"\n"
	    "TMP/b.yaml:2:5: route \"b\": missing key \"topic\"\n"
	    "TMP/b.yaml:2:5: route \"b\": missing key \"id\"\n"
	    "TMP/b.yaml:2:5: route \"b\": missing key \"value\"\n"
	    "TMP/c.yaml: cannot open: No such file or directory\n"
	    "TMP/d.yaml: not a regular file\n"
	    "TMP/e.yaml: 1048577 bytes (a route file has at most 1048576)\n",
	    "got\n%s", p.errs);
	parsed_free(&p);

	/* A file the daemon's user may not read (root reads anything). */
	if (geteuid() != 0) {
		remove_tree(tmpdir);
		cr_assert(mkdir(tmpdir, 0700) == 0);
		put_file("", "a.yaml", "routes: []\n");
		cr_assert(asprintf(&path, "%s/a.yaml", tmpdir) > 0);
		cr_assert(chmod(path, 0) == 0);
		free(path);
		p = load_dir("");
		cr_expect_str_eq(p.errs, "TMP/a.yaml: cannot open: Permission denied\n");
		parsed_free(&p);
	}
}

Test(routes, routes_dir_that_is_not_a_directory)
{
	struct parsed p;

	put_file("", "file", "routes: []\n");
	p = load_dir("file");
	cr_expect(p.n == 1, "errors: got %d, want 1", p.n);
	cr_expect_str_eq(p.errs, "TMP/file: cannot read the routes directory: Not a directory\n");
	parsed_free(&p);
}

/* Whether two routes are the same apart from where they were read. */
static int
src_eq(const struct route_src *a, const struct route_src *b)
{
	if (a->kind != b->kind || a->prefix != b->prefix)
		return 0;
	if (a->kind == RSRC_PROPERTY && a->prop != b->prop)
		return 0;
	if (a->kind == RSRC_HEADER && (a->name_len != b->name_len ||
	    memcmp(a->name, b->name, a->name_len) != 0))
		return 0;
	if (a->kind == RSRC_JSON) {
		if (strcmp(a->path.text, b->path.text) != 0 || a->path.nseg != b->path.nseg)
			return 0;
		for (size_t i = 0; i < a->path.nseg; i++)
			if (a->path.seglen[i] != b->path.seglen[i] ||
			    memcmp(a->path.seg[i], b->path.seg[i], a->path.seglen[i]) != 0)
				return 0;
	}
	return 1;
}

static const char *
route_diff(const struct route *a, const struct route *b)
{
	if (strcmp(a->name, b->name) != 0)
		return "name";
	if (strcmp(a->queue, b->queue) != 0 || a->declare != b->declare)
		return "queue";
	if (a->nargs != b->nargs)
		return "arguments";
	for (size_t i = 0; i < a->nargs; i++)
		if (strcmp(a->args[i].key, b->args[i].key) != 0 || a->args[i].type != b->args[i].type ||
		    (a->args[i].type == RARG_STRING ? strcmp(a->args[i].str, b->args[i].str) != 0 :
		    a->args[i].num != b->args[i].num))
			return "arguments";
	if (a->nbindings != b->nbindings)
		return "bindings";
	for (size_t i = 0; i < a->nbindings; i++)
		if (strcmp(a->bindings[i].exchange, b->bindings[i].exchange) != 0 ||
		    strcmp(a->bindings[i].routing_key, b->bindings[i].routing_key) != 0)
			return "bindings";
	if (strcmp(a->topic, b->topic) != 0 || a->ntpl != b->ntpl)
		return "topic";
	for (size_t i = 0; i < a->ntpl; i++)
		if (a->tpl[i].kind != b->tpl[i].kind || a->tpl[i].len != b->tpl[i].len ||
		    (a->tpl[i].text != NULL) != (b->tpl[i].text != NULL) ||
		    (a->tpl[i].text != NULL && strcmp(a->tpl[i].text, b->tpl[i].text) != 0))
			return "topic template";
	if (strcmp(a->dlq, b->dlq) != 0)
		return "dead_letter_queue";
	if (a->max_message_bytes != b->max_message_bytes)
		return "max_message_bytes";
	if (a->format != b->format)
		return "format";
	if (!src_eq(&a->id, &b->id))
		return "id";
	if (!src_eq(&a->key, &b->key))
		return "key";
	if (!src_eq(&a->value, &b->value))
		return "value";
	if (a->nheaders != b->nheaders)
		return "headers";
	for (size_t i = 0; i < a->nheaders; i++)
		if (a->headers[i].name_len != b->headers[i].name_len ||
		    memcmp(a->headers[i].name, b->headers[i].name, a->headers[i].name_len) != 0 ||
		    a->headers[i].prefix != b->headers[i].prefix ||
		    !src_eq(&a->headers[i].src, &b->headers[i].src))
			return "headers";
	if (a->trace_context != b->trace_context)
		return "trace_context";
	if (a->timestamp != b->timestamp)
		return "timestamp";
	return NULL;
}

/* Dumps `rs`, reads the dump back: the same routes, and the same dump again. */
static void
check_round_trip(const struct route_set *rs, const char *what)
{
	char *text = dump(rs), *again;
	struct parsed p;

	memset(&p, 0, sizeof(p));
	parse_into(&p, "dump.yaml", text, strlen(text));
	cr_assert(p.n == 0, "%s: the dump does not load: %s\n%s", what, p.errs, text);
	cr_assert(p.rs.n == rs->n, "%s: routes: got %zu, want %zu", what, p.rs.n, rs->n);
	for (size_t i = 0; i < rs->n; i++) {
		const char *diff = route_diff(&rs->v[i], &p.rs.v[i]);

		cr_expect(diff == NULL, "%s: route %zu: %s differs after the round trip\n%s", what,
		    i, diff, text);
	}
	p.rs.implicit = rs->implicit;
	for (size_t i = 0; i < p.rs.n; i++) {
		free(p.rs.v[i].file);
		p.rs.v[i].file = rs->v[i].file != NULL ? strdup(rs->v[i].file) : NULL;
		p.rs.v[i].line = rs->v[i].line;
	}
	again = dump(&p.rs);
	cr_expect_str_eq(again, text, "%s: the second dump differs:\n%s\nfirst:\n%s", what, again,
	    text);
	free(again);
	free(text);
	parsed_free(&p);
}

Test(routes, dump_round_trip)
{
	struct parsed p = parse_fixture("ok_all_sources.yaml");
	struct route_set rs;

	cr_assert(p.n == 0, "errors: %s", p.errs);
	check_round_trip(&p.rs, "ok_all_sources.yaml");
	parsed_free(&p);

	/* Strings YAML would read as something else unless quoted. */
	p = parse("routes:\n"
	    "  - name: \"10-shop\"\n"
	    "    queue:\n"
	    "      name: \"true\"\n"
	    "      declare: true\n"
	    "      arguments: {\"no\": \"yes\", x-s: \"\", x-u: \"caf\\u00e9 \\U0001F600\", "
	    "x-c: \"tab\\there \\\"q\\\" \\\\ # : - \", x-i: \"-12\", x-b: \"false\", "
	    "x-min: -9223372036854775808}\n"
	    "      bindings: [{exchange: \"amq.topic\", routing_key: \"#\"}, "
	    "{exchange: \"a: b\", routing_key: \"*.x\"}]\n"
	    "    topic: \"null\"\n"
	    "    id: \"header:x y\"\n"
	    "    key: \"header:on\"\n"
	    "    value: \"json:a.0.-\"\n"
	    "    headers: {\"y\": \"json:~\", \"*\": \"header:*\", \"a:\": \"header:-x\"}\n"
	    "    dead_letter_queue: \"[dlq]\"\n"
	    "    max_message_bytes: 64\n");
	cr_assert(p.n == 0, "errors: %s", p.errs);
	check_round_trip(&p.rs, "quoting");
	parsed_free(&p);

	memset(&rs, 0, sizeof(rs));
	rs.v = calloc(1, sizeof(*rs.v));
	cr_assert(rs.v != NULL && route_implicit(&rs.v[0], &cfg) == 0);
	rs.n = 1;
	rs.implicit = 1;
	check_round_trip(&rs, "implicit");
	route_set_free(&rs);

	memset(&rs, 0, sizeof(rs));
	check_round_trip(&rs, "empty set");
}

/* A route's dump depends on the route alone: reload compares routes by it. */
Test(routes, dump_ignores_where_the_route_was_read)
{
	static const char route[] = "  - name: r\n    queue: q\n    topic: t\n"
	    "    id: json:event_id\n    value: body\n";
	struct parsed a, b;
	char *ta, *tb;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	cr_assert(asprintf(&ta, "routes:\n%s", route) > 0);
	cr_assert(asprintf(&tb, "# moved down\n\nroutes:\n\n%s", route) > 0);
	parse_into(&a, "a.yaml", ta, strlen(ta));
	parse_into(&b, "elsewhere/b.yaml", tb, strlen(tb));
	cr_assert(a.n == 0 && b.n == 0 && a.rs.n == 1 && b.rs.n == 1, "both load");
	cr_expect(a.rs.v[0].line != b.rs.v[0].line, "lines: got %d and %d, want them to differ",
	    a.rs.v[0].line, b.rs.v[0].line);
	free(ta);
	free(tb);
	ta = dump(&a.rs);
	tb = dump(&b.rs);
	cr_expect_str_eq(ta, tb, "dumps differ:\n%s\n%s", ta, tb);
	free(ta);
	free(tb);
	parsed_free(&a);
	parsed_free(&b);
}

/* The implicit route's dump is 00-default.yaml.example after its first blank line. */
Test(routes, implicit_dump_is_the_example)
{
	struct parsed p = load_dir("none");
	char path[512], *file, *text;
	const char *body;

	snprintf(path, sizeof(path), "%s/../../etc/routes.d/00-default.yaml.example", TEST_SRCDIR);
	file = slurp(path, NULL);
	body = strstr(file, "\n\n");
	cr_assert(body != NULL, "00-default.yaml.example: no blank line after its comment");
	text = dump(&p.rs);
	cr_expect_str_eq(text, body + 2, "dump: got\n%s\nwant\n%s", text, body + 2);
	cr_expect(strncmp(text, "# The implicit route", 20) == 0,
	    "the dump says it is the implicit route");
	free(text);
	free(file);
	parsed_free(&p);
}

Test(routes, example_files_load)
{
	static const char *const names[] = {
		"00-default", "10-binary", "20-quorum", "30-headers",
	};
	struct parsed p;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char path[512], shown[64], *buf;
		size_t len;

		snprintf(path, sizeof(path), "%s/../../etc/routes.d/%s.yaml.example", TEST_SRCDIR,
		    names[i]);
		snprintf(shown, sizeof(shown), "%s.yaml", names[i]);
		buf = slurp(path, &len);
		memset(&p, 0, sizeof(p));
		parse_into(&p, shown, buf, len);
		cr_expect(p.n == 0 && p.rs.n == 1, "%s: got %d errors (%s), %zu routes; want 0, 1",
		    names[i], p.n, p.errs, p.rs.n);
		parsed_free(&p);
		put_file("", shown, buf);
		free(buf);
	}
	/* All of them in one directory. */
	p = load_dir("");
	cr_expect(p.n == 0 && p.rs.n == 4 && p.rs.implicit == 0,
	    "together: got %d errors (%s), %zu routes; want 0, 4", p.n, p.errs, p.rs.n);
	if (p.rs.n == 4) {
		cr_expect(p.rs.v[0].format == ROUTE_FMT_SEED_JSON, "00-default: the seed format");
		cr_expect(p.rs.v[1].format == ROUTE_FMT_MAPPED, "10-binary: mapped");
	}
	parsed_free(&p);
}

/* The SIZE kind's expected form names the bounds of event.max_message_bytes. */
Test(routes, size_bounds_match_the_setting)
{
	long min, max;
	char want[64];

	route_size_bounds(&min, &max);
	snprintf(want, sizeof(want), "an integer from %ld to %ld", min, max);
	cr_expect_str_eq(route_kind_expect[RK_SIZE], want);
}

/*
 * Inputs the fuzzer (tests/fuzz/fuzz_routes.c) found, and their error
 * counts. The first took &headers[0] of a route without headers (a NULL
 * array) in the seed-format check: undefined behaviour that clang's
 * -fsanitize=undefined reports (gcc's does not).
 */
Test(routes, fuzz_regressions)
{
	static const struct {
		const char *text;
		int nerr;
	} cases[] = {
		{ "# no topic\nroutes:\n  - name: r\n    queue: q\n    id: json:event_id\n"
		  "    value: body\n", 1 },
		/* An error quoting a line break of the file: still one line (\x0a). */
		{ "routes:\n  - name: r\n    queue: \"x_m\r\r\"\n    topic: \"in.{queue}\"\n"
		  "    id: json:eve\"\"\"\n    value: body\n", 1 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct parsed p = parse(cases[i].text);
		size_t lines = 0;

		for (const char *c = p.errs; *c != '\0'; c++)
			lines += *c == '\n';
		cr_expect(p.n == cases[i].nerr && lines == (size_t)p.n,
		    "case %zu: got %d errors in %zu lines, want %d:\n%s", i, p.n, lines,
		    cases[i].nerr, p.errs);
		parsed_free(&p);
	}
}
