/*
 * json: string escaping for JSON output (RFC 8259): quote, backslash
 * and control characters escaped; other bytes, UTF-8 included, as they
 * are.
 */
#include "autoconf.h"

#include <stdio.h>
#include <string.h>

#include "common/json.h"

void
json_str(FILE *out, const char *s)
{
	if (s == NULL) {
		fputs("null", out);
		return;
	}
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		switch (*p) {
		case '"':
			fputs("\\\"", out);
			break;
		case '\\':
			fputs("\\\\", out);
			break;
		case '\n':
			fputs("\\n", out);
			break;
		case '\r':
			fputs("\\r", out);
			break;
		case '\t':
			fputs("\\t", out);
			break;
		default:
			if (*p < 0x20)
				fprintf(out, "\\u%04x", *p);
			else
				fputc(*p, out);
		}
	}
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
