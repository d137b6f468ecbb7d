/*
 * memcpy-once: copies a buffer of SIZE bytes COUNT times (default 10)
 * with memcpy, for bench/run's copies mode: run under callgrind, the
 * instructions glibc's memcpy spends per call on a body of that size are
 * the unit in which the relay's copies are counted.
 */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	long size = argc > 1 ? strtol(argv[1], NULL, 10) : 0;
	long count = argc > 2 ? strtol(argv[2], NULL, 10) : 10;
	unsigned char *a, *b;
	unsigned sum = 0;

	if (size <= 0 || count <= 0) {
		fprintf(stderr, "usage: memcpy-once SIZE [COUNT]\n");
		return 2;
	}
	a = malloc((size_t)size);
	b = malloc((size_t)size);
	if (!a || !b)
		return 1;
	memset(a, 'x', (size_t)size);
	for (long i = 0; i < count; i++) {
		a[i % size] = (unsigned char)i;
		memcpy(b, a, (size_t)size);
		sum += b[(i * 7) % size];
	}
	printf("%u\n", sum);	/* the copies are used: not optimised away */
	free(a);
	free(b);
	return 0;
}
