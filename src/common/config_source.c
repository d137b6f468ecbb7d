/*
 * config_source: reads event-relay.conf and rewrites its text into what
 * libconfig 1.5 can parse. libconfig 1.5 cannot parse dotted names
 * ("rabbitmq.prefetch = 5;") and silently truncates integers wider than
 * 32 bits; config_source_prepare() works around both.
 *
 * Owns no state; both functions return a buffer the caller frees.
 *
 * The one thing to know: the rewrite must keep line numbers, because
 * every error the loader reports names the line of the original file,
 * and it must leave strings and comments untouched.
 */
#include "autoconf.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config_source.h"

#define CONFIG_MAX_FILE (4u << 20)	/* bytes of event-relay.conf */

static int
is_letter(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static int
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int
is_name_char(char c)
{
	return is_letter(c) || is_digit(c) || c == '-' || c == '_';
}

/* Copies the rest of a float literal ("1.5e-3" after the "1"). */
static void
copy_float(const char *in, size_t len, size_t *ip, char **op)
{
	size_t i = *ip;
	char *o = *op;

	while (i < len && (is_digit(in[i]) || in[i] == '.' || in[i] == 'e' || in[i] == 'E' ||
	    ((in[i] == '-' || in[i] == '+') && i > 0 && (in[i - 1] == 'e' || in[i - 1] == 'E'))))
		*o++ = in[i++];
	*ip = i;
	*op = o;
}

/*
 * Rewrites the file text for libconfig 1.5: "a.b" names become "a*b"
 * ('*' is a legal name character that no setting uses, so a literal '*'
 * is refused), and integer literals wider than 32 bits get libconfig's
 * 64-bit suffix 'L'. Strings and comments are copied untouched and line
 * numbers are kept. Returns a NUL-terminated copy, or NULL with
 * `errline` and `errmsg` set.
 */
char *
config_source_prepare(const char *in, size_t len, unsigned *errline, const char **errmsg)
{
	const char *nul = memchr(in, '\0', len);
	char *out, *o;
	unsigned line = 1;
	size_t i = 0;

	if (nul != NULL) {
		for (const char *c = in; c < nul; c++)
			line += (*c == '\n');
		*errline = line;
		*errmsg = "NUL byte in file";
		return NULL;
	}
	/* Each literal gains at most one byte. */
	out = malloc(2 * len + 1);
	if (out == NULL) {
		*errline = 0;
		*errmsg = "out of memory";
		return NULL;
	}
	o = out;
	while (i < len) {
		char c = in[i];
		char n = i + 1 < len ? in[i + 1] : '\0';

		if (c == '"') {
			*o++ = in[i++];
			while (i < len && in[i] != '"') {
				if (in[i] == '\\' && i + 1 < len)
					*o++ = in[i++];
				line += (in[i] == '\n');
				*o++ = in[i++];
			}
			if (i < len)
				*o++ = in[i++];
		} else if (c == '#' || (c == '/' && n == '/')) {
			while (i < len && in[i] != '\n')
				*o++ = in[i++];
		} else if (c == '/' && n == '*') {
			*o++ = in[i++];
			*o++ = in[i++];
			while (i < len && !(in[i] == '*' && i + 1 < len && in[i + 1] == '/')) {
				line += (in[i] == '\n');
				*o++ = in[i++];
			}
			for (int k = 0; k < 2 && i < len; k++)
				*o++ = in[i++];
		} else if (c == '*') {
			*errline = line;
			*errmsg = "unexpected '*'";
			free(out);
			return NULL;
		} else if (is_letter(c)) {
			while (i < len && is_name_char(in[i])) {
				*o++ = in[i++];
				if (i + 1 < len && in[i] == '.' && is_letter(in[i + 1])) {
					*o++ = '*';
					i++;
				}
			}
		} else if (is_digit(c) || ((c == '-' || c == '+') && is_digit(n))) {
			unsigned long long v = 0;
			int hex = 0;

			if (!is_digit(c))
				*o++ = in[i++];
			if (in[i] == '0' && i + 1 < len && (in[i + 1] == 'x' || in[i + 1] == 'X')) {
				hex = 1;
				*o++ = in[i++];
				*o++ = in[i++];
			}
			for (; i < len; i++) {
				char d = in[i];
				unsigned digit;

				if (is_digit(d))
					digit = (unsigned)(d - '0');
				else if (hex && d >= 'a' && d <= 'f')
					digit = (unsigned)(d - 'a' + 10);
				else if (hex && d >= 'A' && d <= 'F')
					digit = (unsigned)(d - 'A' + 10);
				else
					break;
				if (v <= UINT_MAX)	/* saturates well above INT_MAX */
					v = v * (hex ? 16 : 10) + digit;
				*o++ = d;
			}
			if (!hex && i < len && (in[i] == '.' || in[i] == 'e' || in[i] == 'E'))
				copy_float(in, len, &i, &o);
			else if (v > INT_MAX && !(i < len && in[i] == 'L'))
				*o++ = 'L';
		} else if (c == '.' && is_digit(n)) {
			copy_float(in, len, &i, &o);
		} else {
			line += (c == '\n');
			*o++ = in[i++];
		}
	}
	*o = '\0';
	return out;
}

/* Reads all of `path` (at most CONFIG_MAX_FILE bytes); NULL with errno set. */
char *
config_source_read(const char *path, size_t *lenp)
{
	FILE *f = fopen(path, "r");
	size_t len = 0, cap = 4096;
	char *buf;

	if (f == NULL)
		return NULL;
	buf = malloc(cap);
	if (buf == NULL) {
		fclose(f);
		errno = ENOMEM;
		return NULL;
	}
	for (;;) {
		size_t got = fread(buf + len, 1, cap - len, f);

		len += got;
		if (got == 0 || len < cap) {
			if (ferror(f)) {
				int e = errno != 0 ? errno : EIO;

				free(buf);
				fclose(f);
				errno = e;
				return NULL;
			}
			if (feof(f))
				break;
			continue;
		}
		if (cap >= CONFIG_MAX_FILE) {
			free(buf);
			fclose(f);
			errno = EFBIG;
			return NULL;
		}
		char *bigger = realloc(buf, cap * 2);

		if (bigger == NULL) {
			free(buf);
			fclose(f);
			errno = ENOMEM;
			return NULL;
		}
		buf = bigger;
		cap *= 2;
	}
	fclose(f);
	*lenp = len;
	return buf;
}
