/*
 * json: the few helpers the daemon's JSON output needs (/status, control
 * socket replies, event-relayctl --json). Writing only; nothing here
 * parses JSON.
 */
#ifndef ER_JSON_H
#define ER_JSON_H

#include <stdio.h>

/* Writes s as a JSON string, quotes included; NULL writes null. */
void json_str(FILE *out, const char *s);

/* Writes the non-empty lines of text (NULL: none) as a JSON array of strings. */
void json_lines(FILE *out, const char *text);

#endif
