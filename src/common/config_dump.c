/*
 * config_dump: prints the effective settings as event-relay.conf text,
 * one "path = value;" line per row of settings.def in table order, for
 * `event-relayd -t` and the tests' golden dumps.
 *
 * Owns no state. Secrets are shown by the one rule of redact.h: a
 * setting named "password", the password of each URL and every
 * kafka.properties value that holds a secret print as ********.
 *
 * The one thing to know: a new setting type needs a dump_<TYPE>()
 * here, and a new kind of secret needs a rule in redact.c before it
 * can leak into a log or a bug report.
 */
#include "autoconf.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/config.h"
#include "common/redact.h"

/* Writes `s[0..len)` as a libconfig string body (no quotes). */
static void
put_escaped(FILE *out, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		switch (s[i]) {
		case '"':
			fputs("\\\"", out);
			break;
		case '\\':
			fputs("\\\\", out);
			break;
		case '\n':
			fputs("\\n", out);
			break;
		case '\t':
			fputs("\\t", out);
			break;
		case '\r':
			fputs("\\r", out);
			break;
		default:
			fputc(s[i], out);
		}
	}
}

/* amqp://user:secret@host -> amqp://user:********@host, each element. */
static void
put_masked_urls(FILE *out, const char *s)
{
	for (const char *e = s;;) {
		const char *end = strchr(e, ',');
		size_t len = end != NULL ? (size_t)(end - e) : strlen(e);
		char shown[1024];

		redact_url(e, len, shown, sizeof(shown));
		put_escaped(out, shown, strlen(shown));
		if (end == NULL)
			return;
		fputc(',', out);
		e = end + 1;
	}
}

/* One dump_<TYPE>() per type of settings.def writes the value of `path`. */
static void
dump_INT(FILE *out, const char *path, const long *v)
{
	fprintf(out, "%ld", *v);
}

static void
dump_BOOL(FILE *out, const char *path, const int *v)
{
	fputs(*v ? "true" : "false", out);
}

static void
dump_LEVEL(FILE *out, const char *path, const enum log_level *v)
{
	fprintf(out, "\"%s\"", log_level_name(*v));
}

static void
dump_STR(FILE *out, const char *path, char *const *v)
{
	const char *s = *v != NULL ? *v : "";

	fputc('"', out);
	if (*s != '\0' && redact_setting(path))
		fputs(REDACTED, out);
	else
		put_escaped(out, s, strlen(s));
	fputc('"', out);
}

static void
dump_ADDR(FILE *out, const char *path, char *const *v)
{
	dump_STR(out, path, v);
}

static void
dump_ADDRS(FILE *out, const char *path, char *const *v)
{
	dump_STR(out, path, v);
}

static void
dump_CHOICE(FILE *out, const char *path, char *const *v)
{
	dump_STR(out, path, v);
}

static void
dump_LOGTARGET(FILE *out, const char *path, char *const *v)
{
	dump_STR(out, path, v);
}

static void
dump_URL(FILE *out, const char *path, char *const *v)
{
	fputc('"', out);
	put_masked_urls(out, *v != NULL ? *v : "");
	fputc('"', out);
}

static void
dump_LIST(FILE *out, const char *path, const struct er_strlist *l)
{
	fputc('[', out);
	for (size_t k = 0; k < l->n; k++) {
		const char *eq = strchr(l->v[k], '=');

		fputs(k > 0 ? ", \"" : " \"", out);
		if (eq != NULL && redact_property(l->v[k], (size_t)(eq - l->v[k]))) {
			put_escaped(out, l->v[k], (size_t)(eq + 1 - l->v[k]));
			fputs(REDACTED, out);
		} else {
			put_escaped(out, l->v[k], strlen(l->v[k]));
		}
		fputc('"', out);
	}
	fputs(l->n > 0 ? " ]" : "]", out);
}

void
config_dump(const struct er_config *cfg, FILE *out)
{
#define SETTING(path, field, type, def, min, max, env, help) \
	fprintf(out, "%s = ", path); \
	dump_##type(out, path, &cfg->field); \
	fputs(";\n", out);
#include "common/settings.def"
#undef SETTING
}
