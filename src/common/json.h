/*
 * json: the few helpers the daemon's JSON output needs (/status, control
 * socket replies, event-relayctl --json). Writing only; nothing here
 * parses JSON.
 */
#ifndef ER_JSON_H
#define ER_JSON_H

#include <stddef.h>
#include <stdio.h>

/*
 * The one escaping rule of every JSON the daemon writes: the bytes that
 * stand for c inside a JSON string (quote and backslash escaped, control
 * characters as \u00XX, everything else, UTF-8 too, as it is) into
 * out[8]; returns their number.
 */
size_t json_escape(unsigned char c, char out[8]);

/* Writes s as a JSON string, quotes included; NULL writes null. */
void json_str(FILE *out, const char *s);

/* Writes the non-empty lines of text (NULL: none) as a JSON array of strings. */
void json_lines(FILE *out, const char *text);

#endif
