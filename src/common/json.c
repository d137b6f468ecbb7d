/*
 * json: string escaping for JSON output (RFC 8259): quote, backslash
 * and control characters escaped; other bytes, UTF-8 included, as they
 * are. log.c's JSON lines use json_escape() too.
 */
#include "autoconf.h"

#include <stdio.h>
#include <string.h>

#include "common/json.h"

size_t
json_escape(unsigned char c, char out[8])
{
	if (c == '"' || c == '\\') {
		out[0] = '\\';
		out[1] = (char)c;
		return 2;
	}
	if (c < 0x20) {
		snprintf(out, 8, "\\u%04x", c);
		return 6;
	}
	out[0] = (char)c;
	return 1;
}

void
json_str(FILE *out, const char *s)
{
	char esc[8];

	if (s == NULL) {
		fputs("null", out);
		return;
	}
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
		fwrite(esc, 1, json_escape(*p, esc), out);
	fputc('"', out);
}

void
json_lines(FILE *out, const char *text)
{
	int first = 1;

	fputc('[', out);
	for (const char *p = text; p != NULL && *p != '\0';) {
		size_t n = strcspn(p, "\n");
		char line[512];

		if (n > 0) {
			snprintf(line, sizeof(line), "%.*s",
			    (int)(n < sizeof(line) ? n : sizeof(line) - 1), p);
			fputs(first ? "" : ",", out);
			json_str(out, line);
			first = 0;
		}
		p += n + (p[n] == '\n');
	}
	fputc(']', out);
}
