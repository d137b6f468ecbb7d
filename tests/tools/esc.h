/*
 * esc: the byte escaping the test tools print and read, so that any
 * bytes (NUL, 0x80-0xff, tabs, newlines) fit on one tab-separated line
 * and a test can compare them exactly.
 *
 * Written: printable ASCII and space as they are; backslash as \\; tab,
 * newline and carriage return as \t \n \r; every other byte as \xHH
 * (two lowercase hex digits). `printf '%b'` turns such a string back
 * into its bytes. A null (no value at all, as opposed to an empty one)
 * is written \N.
 *
 * Read (er-send's values): the same, plus \C for any other character C
 * standing for C itself, so that \, \} \] \= \: quote the separators of
 * er-send's header syntax.
 */
#ifndef ER_TOOLS_ESC_H
#define ER_TOOLS_ESC_H

#include <stddef.h>
#include <stdio.h>

/* Writes len bytes of p escaped; bytes of `also` are written \xHH too. */
void esc_write(FILE *f, const void *p, size_t len, const char *also);

/* Writes \N when p is NULL, else esc_write(f, p, len, also). */
void esc_write_nullable(FILE *f, const void *p, size_t len, const char *also);

/*
 * Reads an escaped string from s up to the first unescaped character of
 * `stop` (or the end of s) into dst (at least strlen(s) bytes). Returns
 * the number of bytes written; *end points at the stop character (or
 * the NUL). -1 on a bad escape (a lone trailing backslash, \x without
 * two hex digits).
 */
long esc_read(const char *s, const char *stop, unsigned char *dst, const char **end);

#endif
