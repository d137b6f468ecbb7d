/*
 * config_dump: prints the effective settings as event-relay.conf text,
 * one "path = value;" line per row of settings.def in table order, for
 * `event-relayd -t` and the tests' golden dumps.
 *
 * Owns no state. Passwords are masked: a setting named "password", the
 * password of each URL and every kafka.properties value whose name
 * contains "password" or "secret" print as ********.
 *
 * The one thing to know: a new setting type needs a dump_<TYPE>()
 * here, and a new kind of secret needs masking here before it can
 * leak into a log or a bug report.
 */
#include "autoconf.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/amqp_url.h"
#include "common/config.h"

#define MASK "********"


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

		amqp_url_mask(e, len, shown, sizeof(shown));
		put_escaped(out, shown, strlen(shown));
		if (end == NULL)
			return;
		fputc(',', out);
		e = end + 1;
	}
}

/* Whether s[0..len) contains `word`, ignoring case. */
static int
contains_word(const char *s, size_t len, const char *word)
{
	size_t n = strlen(word);

	for (size_t i = 0; i + n <= len; i++)
		if (strncasecmp(s + i, word, n) == 0)
			return 1;
	return 0;
}

/* Secret: a setting named "password", or a property naming one. */
static int
is_secret_setting(const char *path)
{
	const char *dot = strrchr(path, '.');

	return strcmp(dot != NULL ? dot + 1 : path, "password") == 0;
}

static int
is_secret_property(const char *name, size_t len)
{
	return contains_word(name, len, "password") || contains_word(name, len, "secret");
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
	if (*s != '\0' && is_secret_setting(path))
		fputs(MASK, out);
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
		if (eq != NULL && is_secret_property(l->v[k], (size_t)(eq - l->v[k]))) {
			put_escaped(out, l->v[k], (size_t)(eq + 1 - l->v[k]));
			fputs(MASK, out);
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
