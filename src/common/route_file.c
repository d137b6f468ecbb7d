/*
 * route_file: the route files. route_set_load reads every *.yaml file of
 * routes_dir in name order; route_file_parse reads one (route_yaml.c
 * makes the tree), walks it by the rows of route_keys.def (unknown,
 * repeated and missing keys, defaults; each value parsed by
 * route_value.c), and checks each route against those read before it,
 * in this file and the files before: names, queues, dead-letter queues.
 *
 * Before changing: errors are reported where they are found and the
 * reading goes on, so that one run shows every error of every file; a
 * route is appended to the set once it has a name (even with errors) so
 * that the checks across routes see it, and the whole set is discarded
 * when there was any error.
 */
#include "autoconf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/config.h"
#include "common/log.h"
#include "common/route_file.h"
#include "common/route_value.h"

const struct route_key route_keys[ROUTE_NKEYS] = {
#define ROUTE_OFF_FILE(f) 0
#define ROUTE_OFF_ROUTE(f) offsetof(struct route, f)
#define ROUTE_OFF_QUEUE(f) offsetof(struct route, f)
#define ROUTE_OFF_BINDING(f) offsetof(struct route_binding, f)
#define ROUTE_KEY(sec, key, field, kind, req, def, help) \
	{ RSEC_##sec, key, ROUTE_OFF_##sec(field), RK_##kind, req, def },
#include "common/route_keys.def"
#undef ROUTE_KEY
};

const char *const route_kind_expect[RK_COUNT] = {
#define ROUTE_KIND(k, expect) [RK_##k] = expect,
#include "common/route_keys.def"
#undef ROUTE_KIND
};

const struct route_key *
route_key_find(enum route_section sec, const char *key)
{
	for (size_t i = 0; i < ROUTE_NKEYS; i++)
		if (route_keys[i].section == sec && strcmp(route_keys[i].key, key) == 0)
			return &route_keys[i];
	return NULL;
}

const char *
route_q(struct route_ctx *c, int slot, const char *s, size_t len)
{
	char *out = c->q[slot];
	size_t o = 0, i;

	out[o++] = '"';
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		char esc[8];
		size_t n;

		if (ch == '"' || ch == '\\')
			n = (size_t)snprintf(esc, sizeof(esc), "\\%c", ch);
		else if (ch == '\n')
			n = (size_t)snprintf(esc, sizeof(esc), "\\n");
		else if (ch == '\t')
			n = (size_t)snprintf(esc, sizeof(esc), "\\t");
		else if (ch < 0x20 || ch == 0x7f)
			n = (size_t)snprintf(esc, sizeof(esc), "\\x%02X", ch);
		else
			n = (size_t)snprintf(esc, sizeof(esc), "%c", ch);
		/* Room for it, and for `..."` and the NUL after it. */
		if (o + n + 5 > ROUTE_QUOTE_MAX)
			break;
		memcpy(out + o, esc, n);
		o += n;
	}
	if (i < len) {
		while (o > 1 && ((unsigned char)out[o - 1] & 0xc0) == 0x80)
			o--;	/* not half a UTF-8 character */
		if (o > 1 && (unsigned char)out[o - 1] >= 0xc0)
			o--;
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o++] = '"';
	out[o] = '\0';
	return out;
}

void
route_err(struct route_ctx *c, const struct ynode *at, const char *fmt, ...)
{
	unsigned line = 1, col = 1;
	char msg[1024];
	va_list ap;

	if (at == NULL)
		at = c->at_route;
	if (at != NULL) {
		line = at->line;
		col = at->col;
	}
	fprintf(c->errs, "%s:%u:%u: ", c->file, line, col);
	/* What the message quotes of the file (a \r in a name) cannot split the line. */
	if (c->label[0] != '\0') {
		log_fputs_text(c->errs, c->label);
		fputs(": ", c->errs);
	}
	if (c->path[0] != '\0') {
		log_fputs_text(c->errs, c->path);
		fputs(": ", c->errs);
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_fputs_text(c->errs, msg);
	fputc('\n', c->errs);
	c->nerr++;
}

/* "a, b or c": the keys of section `sec`, for "unknown key". */
static const char *
key_list(enum route_section sec, char *buf, size_t size)
{
	size_t len = 0, n = 0, total = 0;

	for (size_t i = 0; i < ROUTE_NKEYS; i++)
		total += route_keys[i].section == sec;
	buf[0] = '\0';
	for (size_t i = 0; i < ROUTE_NKEYS && len < size; i++) {
		if (route_keys[i].section != sec)
			continue;
		n++;
		len += (size_t)snprintf(buf + len, size - len, "%s%s",
		    n == 1 ? "" : n == total ? " or " : ", ", route_keys[i].key);
	}
	return buf;
}

/* Appends ".key" (or "key") to the path of messages; returns the old length. */
static size_t
path_push(struct route_ctx *c, const char *key)
{
	size_t len = strlen(c->path);

	snprintf(c->path + len, sizeof(c->path) - len, "%s%s", len > 0 ? "." : "", key);
	return len;
}

int
route_walk(struct route_ctx *c, enum route_section sec, const struct ynode *map, void *base,
    const struct ynode **found)
{
	const struct ynode *key[ROUTE_NKEYS] = { 0 }, *val[ROUTE_NKEYS] = { 0 };
	char list[512];
	size_t old;

	if (map->type != YN_MAP) {
		route_err(c, map, "expected a mapping, got %s", ynode_what(map));
		return -1;
	}
	for (size_t i = 0; i + 1 < map->n; i += 2) {
		const struct ynode *k = map->kid[i], *v = map->kid[i + 1];
		const struct route_key *row;
		size_t j;

		if (k->type != YN_SCALAR || ynode_is_null(k)) {
			route_err(c, k, "expected a key, got %s", ynode_what(k));
			continue;
		}
		row = strlen(k->text) == k->len ? route_key_find(sec, k->text) : NULL;
		if (row == NULL) {
			route_err(c, k, "unknown key %s (expected %s)", route_q(c, 0, k->text, k->len),
			    key_list(sec, list, sizeof(list)));
			continue;
		}
		j = (size_t)(row - route_keys);
		if (key[j] != NULL) {
			route_err(c, k, "key \"%s\" given twice (first at line %u)", row->key,
			    key[j]->line);
			continue;
		}
		key[j] = k;
		val[j] = v;
		old = path_push(c, row->key);
		route_value(c, row, v, row->section == RSEC_FILE ? NULL : (char *)base + row->off);
		c->path[old] = '\0';
	}
	for (size_t j = 0; j < ROUTE_NKEYS; j++) {
		const struct route_key *row = &route_keys[j];

		if (row->section != sec || key[j] != NULL)
			continue;
		if (row->required) {
			route_err(c, map, "missing key \"%s\"", row->key);
			continue;
		}
		old = path_push(c, row->key);
		route_value(c, row, NULL, row->section == RSEC_FILE ? NULL : (char *)base + row->off);
		c->path[old] = '\0';
	}
	if (found != NULL)
		memcpy(found, val, sizeof(val));
	return 0;
}

static int
path_is(const struct route_path *p, const char *s)
{
	return p->nseg == 1 && p->text != NULL && strcmp(p->text, s) == 0;
}

/*
 * The implicit route exactly (its mapping, a fixed topic, the relay's
 * time): the seed decoder handles it, by the implicit route's rules.
 */
static int
is_seed_format(const struct route *r)
{
	const struct route_header *h = r->headers;

	return r->tpl == NULL && r->timestamp == RTS_NOW &&
	    r->id.kind == RSRC_JSON && path_is(&r->id.path, "event_id") &&
	    r->key.kind == RSRC_ID &&
	    r->value.kind == RSRC_JSON && path_is(&r->value.path, "payload") &&
	    r->nheaders == 1 && h != NULL && !h->prefix && h->name != NULL &&
	    strcmp(h->name, "correlation_id") == 0 &&
	    h->src.kind == RSRC_JSON && path_is(&h->src.path, "correlation_id");
}

/*
 * A template's {queue} is known now: a queue name Kafka would refuse in
 * a topic would dead-letter every message, so it is an error here.
 */
static void
check_queue_in_topic(struct route_ctx *c, const struct route *r, const struct ynode *m)
{
	for (size_t i = 0; i < r->ntpl && r->queue != NULL; i++) {
		if (r->tpl[i].kind != RTPL_QUEUE)
			continue;
		for (const char *p = r->queue; *p != '\0'; p++)
			if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			    (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-')) {
				route_err(c, m, "topic: {queue} would put '%c' of the queue name in the "
				    "topic; Kafka topic names are [A-Za-z0-9._-]", *p);
				return;
			}
	}
}

static int
same(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

/* The route `r` against itself and every route read before it. */
static void
check_across(struct route_ctx *c, const struct route *r)
{
	const struct ynode *at_dlq = c->at_dlq != NULL ? c->at_dlq : c->at_route;
	const char *dflt = c->at_dlq != NULL ? "" : " (the default)";

	if (same(r->dlq, r->queue))
		route_err(c, at_dlq, "dead_letter_queue %s%s is the route's own queue",
		    route_q(c, 0, r->dlq, strlen(r->dlq)), dflt);
	for (size_t i = 0; i < c->into->n; i++) {
		const struct route *p = &c->into->v[i];
		const char *pf = p->file != NULL ? p->file : "(implicit)";

		if (same(r->name, p->name)) {
			char label[sizeof(c->label)];

			/* The message names the route itself: no label before it. */
			memcpy(label, c->label, sizeof(label));
			c->label[0] = '\0';
			route_err(c, c->at_name, "route name %s already used at %s:%d",
			    route_q(c, 0, r->name, strlen(r->name)), pf, p->line);
			memcpy(c->label, label, sizeof(label));
		}
		if (same(r->queue, p->queue))
			route_err(c, c->at_queue, "queue %s is already the queue of route %s (%s:%d)",
			    route_q(c, 0, r->queue, strlen(r->queue)),
			    route_q(c, 1, p->name, strlen(p->name)), pf, p->line);
		if (same(r->queue, p->dlq))
			route_err(c, c->at_queue, "queue %s is the dead_letter_queue of route %s "
			    "(%s:%d)", route_q(c, 0, r->queue, strlen(r->queue)),
			    route_q(c, 1, p->name, strlen(p->name)), pf, p->line);
		if (same(r->dlq, p->queue))
			route_err(c, at_dlq, "dead_letter_queue %s%s is the queue of route %s (%s:%d)",
			    route_q(c, 0, r->dlq, strlen(r->dlq)), dflt,
			    route_q(c, 1, p->name, strlen(p->name)), pf, p->line);
	}
}

/* The next route of the file, mapping `m`, appended to c->into once it has a name. */
static void
read_route(struct route_ctx *c, const struct ynode *m)
{
	struct route r, *v;

	memset(&r, 0, sizeof(r));
	c->r = &r;
	c->at_route = m;
	c->at_name = c->at_queue = c->at_dlq = NULL;
	c->njson = 0;
	snprintf(c->label, sizeof(c->label), "route #%zu", c->nroute);
	for (size_t i = 0; m->type == YN_MAP && i + 1 < m->n; i += 2) {
		const struct ynode *k = m->kid[i], *n = m->kid[i + 1];

		if (k->type == YN_SCALAR && strcmp(k->text, "name") == 0 && k->len == 4 &&
		    n->type == YN_SCALAR && !ynode_is_null(n)) {
			snprintf(c->label, sizeof(c->label), "route %s",
			    route_q(c, 0, n->text, n->len));
			break;
		}
	}
	if (route_walk(c, RSEC_ROUTE, m, &r, NULL) < 0)
		goto out;
	if (c->njson > ROUTE_MAX_JSON_PATHS)
		route_err(c, NULL, "%zu json: sources (at most %d in one route)", c->njson,
		    ROUTE_MAX_JSON_PATHS);
	check_across(c, &r);
	check_queue_in_topic(c, &r, m);
	if (r.name != NULL) {
		r.format = is_seed_format(&r) ? ROUTE_FMT_SEED_JSON : ROUTE_FMT_MAPPED;
		r.line = (int)m->line;
		r.file = strdup(c->file);
		v = realloc(c->into->v, (c->into->n + 1) * sizeof(*v));
		if (r.file == NULL || v == NULL) {
			if (v != NULL)
				c->into->v = v;
			route_err(c, NULL, "out of memory");
		} else {
			c->into->v = v;
			v[c->into->n++] = r;
			memset(&r, 0, sizeof(r));
		}
	}
out:
	route_free(&r);
	c->r = NULL;
	c->at_route = NULL;
	c->label[0] = '\0';
}

void
route_read_all(struct route_ctx *c, const struct ynode *v)
{
	if (v->type != YN_SEQ) {
		route_err(c, v, "expected %s, got %s", route_kind_expect[RK_ROUTES], ynode_what(v));
		return;
	}
	for (size_t i = 0; i < v->n; i++) {
		char path[sizeof(c->path)];

		if (c->into->n >= ROUTE_MAX) {
			route_err(c, v->kid[i], "more than %d routes (in all route files)", ROUTE_MAX);
			return;
		}
		c->nroute++;
		/* A route's messages name the route, not "routes". */
		memcpy(path, c->path, sizeof(path));
		c->path[0] = '\0';
		read_route(c, v->kid[i]);
		memcpy(c->path, path, sizeof(path));
	}
}

int
route_file_parse(const char *name, const void *buf, size_t len, const struct er_config *cfg,
    struct route_set *into, FILE *errs)
{
	struct route_ctx c;
	struct ynode *root;

	memset(&c, 0, sizeof(c));
	c.file = name;
	c.errs = errs;
	c.cfg = cfg;
	c.into = into;
	if (ynode_parse(name, buf, len, errs, &root) < 0)
		return 1;
	if (root == NULL || root->type != YN_MAP)
		route_err(&c, root, "expected a mapping with the key \"routes\", got %s "
		    "(write routes: [] for a file without routes)",
		    root == NULL ? "no YAML document" : ynode_what(root));
	else
		route_walk(&c, RSEC_FILE, root, NULL, NULL);
	ynode_free(root);
	return c.nerr;
}

/* Whether a directory entry is a route file: NAME.yaml, not hidden. */
static int
is_route_file(const char *name)
{
	size_t len = strlen(name);

	return name[0] != '.' && len > 5 && strcmp(name + len - 5, ".yaml") == 0;
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The file `path` into a new buffer (*buf, *len); 0, or -1 reported. */
static int
read_file(const char *path, char **buf, size_t *len, FILE *errs)
{
	struct stat st;
	ssize_t n;
	int fd;

	*buf = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(errs, "%s: cannot open: %s\n", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		fprintf(errs, "%s: cannot stat: %s\n", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		fprintf(errs, "%s: not a regular file\n", path);
		goto fail;
	}
	if (st.st_size > ROUTE_FILE_MAX_BYTES) {
		fprintf(errs, "%s: %lld bytes (a route file has at most %d)\n", path,
		    (long long)st.st_size, ROUTE_FILE_MAX_BYTES);
		goto fail;
	}
	*buf = malloc((size_t)st.st_size + 1);
	if (*buf == NULL) {
		fprintf(errs, "%s: out of memory\n", path);
		goto fail;
	}
	/* Read to the end, not to st_size: the file may have changed since. */
	while ((n = read(fd, *buf + *len, (size_t)st.st_size + 1 - *len)) > 0) {
		*len += (size_t)n;
		if (*len > (size_t)st.st_size) {
			fprintf(errs, "%s: changed while read\n", path);
			goto fail;
		}
	}
	if (n < 0) {
		fprintf(errs, "%s: cannot read: %s\n", path, strerror(errno));
		goto fail;
	}
	close(fd);
	return 0;
fail:
	free(*buf);
	*buf = NULL;
	close(fd);
	return -1;
}

/* The names of the route files of `dir`, sorted; -1 (reported) or their count. */
static long
list_dir(const char *dir, char ***names, FILE *errs)
{
	size_t n = 0, cap = 0;
	struct dirent *e;
	DIR *d;

	*names = NULL;
	d = opendir(dir);
	if (d == NULL) {
		if (errno == ENOENT)
			return 0;
		fprintf(errs, "%s: cannot read the routes directory: %s\n", dir, strerror(errno));
		return -1;
	}
	for (errno = 0; (e = readdir(d)) != NULL; errno = 0) {
		if (!is_route_file(e->d_name))
			continue;
		if (n == cap) {
			char **v = realloc(*names, (cap = cap ? cap * 2 : 16) * sizeof(*v));

			if (v == NULL)
				goto nomem;
			*names = v;
		}
		(*names)[n] = strdup(e->d_name);
		if ((*names)[n] == NULL)
			goto nomem;
		n++;
	}
	if (errno != 0) {
		fprintf(errs, "%s: cannot read the routes directory: %s\n", dir, strerror(errno));
		goto fail;
	}
	closedir(d);
	if (n > 0)
		qsort(*names, n, sizeof(**names), by_name);
	return (long)n;
nomem:
	fprintf(errs, "%s: out of memory\n", dir);
fail:
	closedir(d);
	for (size_t i = 0; i < n; i++)
		free((*names)[i]);
	free(*names);
	*names = NULL;
	return -1;
}

int
route_set_load(struct route_set *rs, const struct er_config *cfg, FILE *errs)
{
	const char *dir = cfg->routes_dir != NULL ? cfg->routes_dir : "";
	long nfiles;
	char **names;
	int nerr = 0;

	memset(rs, 0, sizeof(*rs));
	nfiles = list_dir(dir, &names, errs);
	if (nfiles < 0)
		return 1;
	for (long i = 0; i < nfiles; i++) {
		size_t n = strlen(dir) + 1 + strlen(names[i]) + 1, len;
		char *path = malloc(n), *buf;

		if (path == NULL) {
			fprintf(errs, "%s: out of memory\n", names[i]);
			nerr++;
		} else {
			snprintf(path, n, "%s/%s", dir, names[i]);
			if (read_file(path, &buf, &len, errs) < 0)
				nerr++;
			else
				nerr += route_file_parse(path, buf, len, cfg, rs, errs);
			free(buf);
			free(path);
		}
		free(names[i]);
	}
	free(names);
	if (nerr > 0) {
		route_set_free(rs);
		return nerr;
	}
	if (rs->n == 0) {
		/* No route files, or only files without routes: the settings' route. */
		rs->v = calloc(1, sizeof(*rs->v));
		if (rs->v == NULL || route_implicit(&rs->v[0], cfg) < 0) {
			fprintf(errs, "%s: the implicit route: %s\n", dir, strerror(errno));
			route_set_free(rs);
			return 1;
		}
		rs->n = 1;
		rs->implicit = 1;
	}
	return 0;
}
