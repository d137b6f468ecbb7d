/*
 * esc: the test tools' byte escaping (see esc.h). Shared by er-send,
 * er-get -v and er-topic, so that what one prints the other reads.
 */
#include "autoconf.h"

#include <string.h>

#include "esc.h"

void
esc_write(FILE *f, const void *p, size_t len, const char *also)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = b[i];

		if (c == '\\')
			fputs("\\\\", f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c == '\r')
			fputs("\\r", f);
		else if (c < 0x20 || c >= 0x7f || (also != NULL && strchr(also, c) != NULL))
			fprintf(f, "\\x%02x", c);
		else
			fputc(c, f);
	}
}

void
esc_write_nullable(FILE *f, const void *p, size_t len, const char *also)
{
	if (p == NULL)
		fputs("\\N", f);
	else
		esc_write(f, p, len, also);
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

long
esc_read(const char *s, const char *stop, unsigned char *dst, const char **end)
{
	long n = 0;

	while (*s != '\0' && (stop == NULL || strchr(stop, *s) == NULL)) {
		if (*s != '\\') {
			dst[n++] = (unsigned char)*s++;
			continue;
		}
		s++;
		switch (*s) {
		case '\0':
			return -1;
		case 't': dst[n++] = '\t'; s++; break;
		case 'n': dst[n++] = '\n'; s++; break;
		case 'r': dst[n++] = '\r'; s++; break;
		case 'x': {
			int hi = hexval(s[1]), lo = hi < 0 ? -1 : hexval(s[2]);

			if (lo < 0)
				return -1;
			dst[n++] = (unsigned char)(hi << 4 | lo);
			s += 3;
			break;
		}
		default:
			dst[n++] = (unsigned char)*s++;
			break;
		}
	}
	*end = s;
	return n;
}
