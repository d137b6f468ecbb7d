/*
 * config: loads the daemon-wide settings of settings.def from defaults,
 * event-relay.conf (libconfig) and the environment, in that order, into
 * struct er_config, which then owns every string and list in it. The
 * file text is read and made parseable by config_source.c, single values
 * are checked by config_value.c; config_dump.c prints the result.
 *
 * Before changing: every value goes through one validator per type,
 * whether it came as text (default, environment) or from libconfig, so a
 * rule added there holds everywhere.
 */
#include "autoconf.h"

#include <errno.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "common/config_secret.h"
#include "common/config_source.h"
#include "common/trace_config.h"
#include "common/config_value.h"

#define PATH_MAX_LEN 512		/* bytes of a dotted setting path */

enum setting_type {
	ST_INT,
	ST_BOOL,
	ST_STR,
	ST_ADDR,
	ST_ADDRS,
	ST_URL,
	ST_LEVEL,
	ST_LIST,
	ST_CHOICE,
	ST_LOGTARGET,
};

struct setting {
	const char *path;
	size_t off;		/* of the field in struct er_config */
	enum setting_type type;
	const char *def;
	long min, max;
	const char *env;
};

static const struct setting settings[] = {
#define SETTING(path, field, type, def, min, max, env, help) \
	{ path, offsetof(struct er_config, field), ST_##type, def, min, max, env },
#include "common/settings.def"
#undef SETTING
};

#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))

static const struct setting_doc setting_docs[] = {
#define SETTING(path, field, type, def, min, max, env, help) \
	{ path, #type, def, env, help, min, max },
#include "common/settings.def"
#undef SETTING
};

/* A parsed value before it is stored; strings and lists are owned. */
union value {
	long i;
	int b;
	char *s;
	enum log_level level;
	struct er_strlist list;
};

/* Where a setting got its value: a file line, or an environment variable. */
struct origin {
	const char *file;
	unsigned line;
	const char *env;
};

struct loader {
	struct er_config *cfg;
	FILE *errs;
	const char *path;
	int nerr;
	struct origin origin[NSETTINGS];
};

static void loader_error(struct loader *ld, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void setting_error(struct loader *ld, const struct origin *o, const char *path,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
loader_error(struct loader *ld, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	ld->nerr++;
	if (ld->errs == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* A value quoted in the message (a newline in it) cannot split the line. */
	log_fputs_text(ld->errs, line);
	fputc('\n', ld->errs);
}

/* "file:line: path: message" or "environment: VAR: message". */
static void
setting_error(struct loader *ld, const struct origin *o, const char *path, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (o->env != NULL)
		loader_error(ld, "environment: %s: %s", o->env, msg);
	else if (o->file != NULL)
		loader_error(ld, "%s:%u: %s: %s", o->file, o->line, path, msg);
	else
		loader_error(ld, "%s: %s", path, msg);
}

static int
find_setting(const char *path)
{
	for (size_t i = 0; i < NSETTINGS; i++)
		if (strcmp(settings[i].path, path) == 0)
			return (int)i;
	return -1;
}

/* Whether some setting lives below the group `path`. */
static int
is_group_prefix(const char *path)
{
	size_t n = strlen(path);

	for (size_t i = 0; i < NSETTINGS; i++)
		if (strncmp(settings[i].path, path, n) == 0 && settings[i].path[n] == '.')
			return 1;
	return 0;
}

static void
strlist_free(struct er_strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* Replaces the field of `st` with `v`, taking ownership of it. */
static void
store(struct er_config *cfg, const struct setting *st, union value *v)
{
	void *p = (char *)cfg + st->off;

	switch (st->type) {
	case ST_INT:
		*(long *)p = v->i;
		break;
	case ST_BOOL:
		*(int *)p = v->b;
		break;
	case ST_STR:
	case ST_ADDR:
	case ST_ADDRS:
	case ST_URL:
	case ST_CHOICE:
	case ST_LOGTARGET:
		free(*(char **)p);
		*(char **)p = v->s;
		break;
	case ST_LEVEL:
		*(enum log_level *)p = v->level;
		break;
	case ST_LIST:
		strlist_free(p);
		*(struct er_strlist *)p = v->list;
		break;
	}
}

/* Appends a copy of s[0..len) to `l`; 0 or -1 (out of memory). */
static int
strlist_push(struct er_strlist *l, const char *s, size_t len)
{
	char **v = realloc(l->v, (l->n + 1) * sizeof(*v));
	char *copy;

	if (v == NULL)
		return -1;
	l->v = v;
	copy = strndup(s, len);
	if (copy == NULL)
		return -1;
	l->v[l->n++] = copy;
	return 0;
}

/*
 * The one validator of string-typed values (STR, ADDR, URL, LEVEL, CHOICE,
 * LOGTARGET),
 * from a file or as text. Fills `out` on success.
 */
static int
parse_string(const struct setting *st, const char *s, union value *out, char *msg, size_t msgsz)
{
	switch (st->type) {
	case ST_STR:
		if (*s == '\0' && *st->def != '\0') {
			snprintf(msg, msgsz, "must not be empty");
			return -1;
		}
		break;
	case ST_ADDR:
		if (config_check_scheme(s, msg, msgsz) != 0)
			return -1;
		if (config_split_addr(s, NULL, 0, NULL) != 0) {
			snprintf(msg, msgsz, "must be host:port with a port between 1 and 65535");
			return -1;
		}
		break;
	case ST_ADDRS:
		if (config_check_addrs(s, msg, msgsz) != 0)
			return -1;
		break;
	case ST_URL:
		if (config_check_urls(s, msg, msgsz) != 0)
			return -1;
		break;
	case ST_LEVEL:
		if (log_level_parse(s, &out->level) != 0) {
			snprintf(msg, msgsz, "must be error, warn, info or debug");
			return -1;
		}
		return 0;
	case ST_CHOICE:
		if (config_choice_index(st->def, s) < 0) {
			char alts[128];

			config_choice_list(st->def, alts, sizeof(alts));
			snprintf(msg, msgsz, "must be %s", alts);
			return -1;
		}
		break;
	case ST_LOGTARGET: {
		enum log_target t;

		if (log_target_parse(s, LOG_TO_STDERR, &t) != 0) {
			snprintf(msg, msgsz, "must be stderr, syslog or an absolute path");
			return -1;
		}
		break;
	}
	case ST_INT:
	case ST_BOOL:
	case ST_LIST:
		snprintf(msg, msgsz, "not a string setting");
		return -1;
	}
	out->s = strdup(s);
	if (out->s == NULL) {
		snprintf(msg, msgsz, "out of memory");
		return -1;
	}
	return 0;
}

/*
 * Parses a default or environment value. Integers are plain decimal,
 * booleans true/false (yes/no, on/off, 1/0), lists comma-separated.
 */
static int
parse_text(const struct setting *st, const char *s, union value *out, char *msg, size_t msgsz)
{
	memset(out, 0, sizeof(*out));
	switch (st->type) {
	case ST_INT:
		if (config_parse_decimal(s, &out->i) != 0 || out->i < st->min || out->i > st->max) {
			snprintf(msg, msgsz, "must be an integer between %ld and %ld", st->min, st->max);
			return -1;
		}
		return 0;
	case ST_BOOL:
		if (config_parse_bool(s, &out->b) != 0) {
			snprintf(msg, msgsz, "must be true or false");
			return -1;
		}
		return 0;
	case ST_LIST:
		if (*s == '\0')
			return 0;
		for (const char *e = s;;) {
			const char *end = strchr(e, ',');
			size_t len = end != NULL ? (size_t)(end - e) : strlen(e);

			if (config_check_pair(e, len) != 0) {
				snprintf(msg, msgsz, "element %zu is not name=value", out->list.n + 1);
				strlist_free(&out->list);
				return -1;
			}
			if (strlist_push(&out->list, e, len) != 0) {
				snprintf(msg, msgsz, "out of memory");
				strlist_free(&out->list);
				return -1;
			}
			if (end == NULL)
				break;
			e = end + 1;
		}
		return 0;
	case ST_STR:
	case ST_ADDR:
	case ST_ADDRS:
	case ST_URL:
	case ST_LEVEL:
	case ST_CHOICE:
	case ST_LOGTARGET:
		break;
	}
	return parse_string(st, s, out, msg, msgsz);
}

/*
 * An ADDRS setting given as a list of strings: joined with commas, then
 * checked as the text form.
 */
static int
parse_addr_list(const struct setting *st, const config_setting_t *cs, union value *out, char *msg,
    size_t msgsz)
{
	size_t len = 1;
	char *joined;
	int rc, n = config_setting_length(cs);

	for (int i = 0; i < n; i++) {
		const char *s = config_setting_get_string(config_setting_get_elem(cs, (unsigned)i));

		if (s == NULL) {
			snprintf(msg, msgsz, "expected host:port strings");
			return -1;
		}
		if (*s == '\0' || strchr(s, ',') != NULL) {
			snprintf(msg, msgsz, "element %d must be one host:port", i + 1);
			return -1;
		}
		len += strlen(s) + 1;
	}
	if ((joined = calloc(1, len)) == NULL) {
		snprintf(msg, msgsz, "out of memory");
		return -1;
	}
	for (int i = 0; i < n; i++) {
		if (i > 0)
			strcat(joined, ",");
		strcat(joined, config_setting_get_string(config_setting_get_elem(cs, (unsigned)i)));
	}
	rc = parse_string(st, joined, out, msg, msgsz);
	free(joined);
	return rc;
}

/*
 * Parses a libconfig value. A bad list element is reported at the line
 * of its setting: libconfig 1.5 stamps elements with the line of the
 * token after them.
 */
static int
parse_setting(const struct setting *st, const config_setting_t *cs, union value *out,
    char *msg, size_t msgsz)
{
	int type = config_setting_type(cs);
	long long v;

	memset(out, 0, sizeof(*out));
	switch (st->type) {
	case ST_INT:
		if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64) {
			snprintf(msg, msgsz, "expected an integer");
			return -1;
		}
		v = config_setting_get_int64(cs);
		if (v < st->min || v > st->max) {
			snprintf(msg, msgsz, "must be between %ld and %ld", st->min, st->max);
			return -1;
		}
		out->i = (long)v;
		return 0;
	case ST_BOOL:
		if (type != CONFIG_TYPE_BOOL) {
			snprintf(msg, msgsz, "expected true or false");
			return -1;
		}
		out->b = config_setting_get_bool(cs);
		return 0;
	case ST_LIST:
		if (type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST) {
			snprintf(msg, msgsz, "expected a list of strings");
			return -1;
		}
		for (int i = 0; i < config_setting_length(cs); i++) {
			const config_setting_t *e = config_setting_get_elem(cs, (unsigned)i);
			const char *s = config_setting_get_string(e);

			if (s == NULL) {
				snprintf(msg, msgsz, "expected a list of strings");
				strlist_free(&out->list);
				return -1;
			}
			if (config_check_pair(s, strlen(s)) != 0) {
				snprintf(msg, msgsz, "element %d is not name=value", i + 1);
				strlist_free(&out->list);
				return -1;
			}
			if (strlist_push(&out->list, s, strlen(s)) != 0) {
				snprintf(msg, msgsz, "out of memory");
				strlist_free(&out->list);
				return -1;
			}
		}
		return 0;
	case ST_ADDRS:
		if (type == CONFIG_TYPE_ARRAY || type == CONFIG_TYPE_LIST)
			return parse_addr_list(st, cs, out, msg, msgsz);
		/* FALLTHROUGH */
	case ST_STR:
	case ST_ADDR:
	case ST_URL:
	case ST_LEVEL:
	case ST_CHOICE:
	case ST_LOGTARGET:
		if (type != CONFIG_TYPE_STRING) {
			snprintf(msg, msgsz, "expected a string");
			return -1;
		}
		return parse_string(st, config_setting_get_string(cs), out, msg, msgsz);
	}
	return -1;
}

static void
load_defaults(struct loader *ld)
{
	static const struct origin none = { NULL, 0, NULL };

	for (size_t i = 0; i < NSETTINGS; i++) {
		union value v;
		char msg[256];

		char first[64];
		const char *def = settings[i].def;

		if (settings[i].type == ST_CHOICE)	/* the first alternative */
			def = config_choice_first(def, first, sizeof(first));
		/* A default that does not parse is a bug in settings.def. */
		if (parse_text(&settings[i], def, &v, msg, sizeof(msg)) != 0)
			setting_error(ld, &none, settings[i].path, "bad default \"%s\": %s",
			    settings[i].def, msg);
		else
			store(ld->cfg, &settings[i], &v);
	}
}

static void
apply_file_setting(struct loader *ld, int idx, const config_setting_t *cs)
{
	const struct setting *st = &settings[idx];
	struct origin o = { config_setting_source_file(cs), config_setting_source_line(cs), NULL };
	struct origin *first = &ld->origin[idx];
	union value v;
	char msg[256];

	if (o.file == NULL)
		o.file = ld->path;
	if (first->line != 0) {
		setting_error(ld, &o, st->path, "already set at %s:%u", first->file, first->line);
		return;
	}
	/* A later duplicate is an error even when this value is bad. */
	*first = o;
	if (parse_setting(st, cs, &v, msg, sizeof(msg)) != 0) {
		setting_error(ld, &o, st->path, "%s", msg);
		return;
	}
	store(ld->cfg, st, &v);
}

/* Applies every member of `group` (whose dotted path is `prefix`). */
static void
walk(struct loader *ld, const config_setting_t *group, const char *prefix)
{
	for (int i = 0; i < config_setting_length(group); i++) {
		const config_setting_t *cs = config_setting_get_elem(group, (unsigned)i);
		char path[PATH_MAX_LEN];
		int idx;

		snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix != '\0' ? "." : "",
		    config_setting_name(cs));
		for (char *c = path; *c != '\0'; c++)
			if (*c == '*')
				*c = '.';	/* undo config_source_prepare() */
		idx = find_setting(path);
		if (idx >= 0) {
			apply_file_setting(ld, idx, cs);
		} else if (config_setting_is_group(cs) && is_group_prefix(path)) {
			walk(ld, cs, path);
		} else {
			struct origin o = { config_setting_source_file(cs),
			    config_setting_source_line(cs), NULL };

			if (o.file == NULL)
				o.file = ld->path;
			setting_error(ld, &o, path, "unknown setting");
		}
	}
}

static void
load_file(struct loader *ld, config_t *lc)
{
	size_t len;
	char *text = config_source_read(ld->path, &len), *src;
	unsigned line;
	const char *why;

	if (text == NULL) {
		loader_error(ld, "%s: cannot read: %s", ld->path, strerror(errno));
		return;
	}
	src = config_source_prepare(text, len, &line, &why);
	free(text);
	if (src == NULL) {
		loader_error(ld, "%s:%u: syntax error: %s", ld->path, line, why);
		return;
	}
	if (config_read_string(lc, src) != CONFIG_TRUE) {
		const char *file = config_error_file(lc) != NULL ? config_error_file(lc) : ld->path;
		const char *what = config_error_text(lc) != NULL ? config_error_text(lc) : "";

		/* libconfig's usual text is just "syntax error": not twice. */
		if (strcmp(what, "syntax error") == 0 || *what == '\0')
			loader_error(ld, "%s:%d: syntax error", file, config_error_line(lc));
		else
			loader_error(ld, "%s:%d: syntax error: %s", file, config_error_line(lc), what);
		free(src);
		return;
	}
	free(src);
	walk(ld, config_root_setting(lc), "");
}

static const char *
system_getenv(const char *name)
{
	return getenv(name);
}

static void
load_env(struct loader *ld, config_getenv_fn env)
{
	for (size_t i = 0; i < NSETTINGS; i++) {
		struct origin o = { NULL, 0, settings[i].env };
		const char *s;
		union value v;
		char msg[256];

		if (o.env == NULL)
			continue;
		s = env(o.env);
		if (s == NULL || *s == '\0')
			continue;
		if (parse_text(&settings[i], s, &v, msg, sizeof(msg)) != 0) {
			setting_error(ld, &o, settings[i].path, "%s", msg);
			continue;
		}
		store(ld->cfg, &settings[i], &v);
		ld->origin[i] = o;
	}
}

/* config_secret.c's errors, at the origin of the setting they name. */
static void __attribute__((format(printf, 3, 4)))
secret_error(void *arg, const char *path, const char *fmt, ...)
{
	struct loader *ld = arg;
	static const struct origin none = { NULL, 0, NULL };
	int idx = find_setting(path);
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	setting_error(ld, idx >= 0 ? &ld->origin[idx] : &none, path, "%s", msg);
}

/* Settings that only make sense together. */
static void
check_together(struct loader *ld)
{
	const struct er_config *cfg = ld->cfg;
	int sentinels = find_setting("redis.sentinels"), name = find_setting("redis.master_name");

	if (cfg->redis_sentinels[0] != '\0' && cfg->redis_master_name[0] == '\0')
		setting_error(ld, &ld->origin[sentinels], "redis.sentinels",
		    "needs redis.master_name (the name the sentinels monitor the master under)");
	if (strlen(cfg->instance) > 63 ||
	    strspn(cfg->instance, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
	    strlen(cfg->instance))
		setting_error(ld, &ld->origin[find_setting("instance")], "instance",
		    "must be at most 63 letters, digits, '.', '_' or '-'");
	if (cfg->redis_master_name[0] != '\0' && cfg->redis_sentinels[0] == '\0')
		setting_error(ld, &ld->origin[name], "redis.master_name",
		    "needs redis.sentinels (the sentinels to ask for the master)");
}

static int
load(struct er_config *cfg, const char *path, config_getenv_fn env, FILE *errs,
    const struct er_config *prev)
{
	struct loader ld = { .cfg = cfg, .errs = errs, .path = path };
	config_t lc;

	memset(cfg, 0, sizeof(*cfg));
	load_defaults(&ld);
	/* lc owns the file names that the origins point to: destroyed last. */
	config_init(&lc);
	if (path != NULL) {
		cfg->config_file = strdup(path);
		if (cfg->config_file == NULL)
			loader_error(&ld, "%s: out of memory", path);
		load_file(&ld, &lc);
	}
	load_env(&ld, env != NULL ? env : system_getenv);
	check_together(&ld);
	config_read_secrets(cfg, prev, secret_error, &ld);
	config_resolve_tracing(cfg, env != NULL ? env : system_getenv, secret_error, &ld);
	config_destroy(&lc);
	return ld.nerr;
}

int
config_load(struct er_config *cfg, const char *path, config_getenv_fn env, FILE *errs)
{
	return load(cfg, path, env, errs, NULL);
}

int
config_reload(struct er_config *cfg, const char *path, config_getenv_fn env, FILE *errs,
    const struct er_config *prev)
{
	return load(cfg, path, env, errs, prev);
}

void
config_free(struct er_config *cfg)
{
	if (cfg == NULL)
		return;
	if (cfg->redis_password != NULL)
		explicit_bzero(cfg->redis_password, strlen(cfg->redis_password));
	if (cfg->redis_sentinel_password != NULL)
		explicit_bzero(cfg->redis_sentinel_password, strlen(cfg->redis_sentinel_password));
	if (cfg->amqp_url != NULL)	/* its passwords */
		explicit_bzero(cfg->amqp_url, strlen(cfg->amqp_url));
	config_free_secrets(cfg);
	config_free_tracing(cfg);
	for (size_t i = 0; i < NSETTINGS; i++) {
		void *p = (char *)cfg + settings[i].off;

		if (settings[i].type == ST_LIST) {
			strlist_free(p);
		} else if (settings[i].type == ST_STR || settings[i].type == ST_ADDR ||
		    settings[i].type == ST_ADDRS ||
		    settings[i].type == ST_URL || settings[i].type == ST_CHOICE ||
		    settings[i].type == ST_LOGTARGET) {
			free(*(char **)p);
			*(char **)p = NULL;
		}
	}
	free(cfg->config_file);
	memset(cfg, 0, sizeof(*cfg));
}

size_t
config_settings(const struct setting_doc **docs)
{
	*docs = setting_docs;
	return sizeof(setting_docs) / sizeof(setting_docs[0]);
}

const char *
config_path(const char *given)
{
	if (given != NULL)
		return given;
	if (access(CONFIG_DEFAULT_PATH, F_OK) != 0 && errno == ENOENT)
		return NULL;
	return CONFIG_DEFAULT_PATH;
}
