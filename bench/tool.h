/*
 * tool.h: what the bench programs share: die() and parse_num(), each
 * message starting with the program's name.
 *
 *   #define TOOL_NAME "bare-consumer"
 *   #define TOOL_DIE_STATUS 2      (optional: die()'s exit status, 1)
 *   #include "tool.h"
 *
 * parse_num() exits 2 (a usage error) on anything but a whole number in
 * [min, max].
 */
#ifndef ER_BENCH_TOOL_H
#define ER_BENCH_TOOL_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef TOOL_DIE_STATUS
#define TOOL_DIE_STATUS 1
#endif

static inline void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static inline void die(const char *fmt, ...)
{
	va_list ap;

	fputs(TOOL_NAME ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(TOOL_DIE_STATUS);
}

static inline long parse_num(const char *opt, const char *s, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
		fprintf(stderr, TOOL_NAME ": %s: want a number in [%ld, %ld], got '%s'\n", opt, min,
			max, s);
		exit(2);
	}
	return v;
}

#endif
