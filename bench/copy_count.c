/*
 * copy-count.so: counts the bytes each shared object copies with
 * memcpy/memmove, for bench/run's copies mode.
 *
 *   COPY_COUNT_MIN=BYTES COPY_COUNT_DIR=DIR LD_PRELOAD=.../copy-count.so CMD
 *
 * Interposes memcpy, memmove, mempcpy and their _FORTIFY_SOURCE forms
 * (__memcpy_chk, ...). A call of at least COPY_COUNT_MIN bytes is
 * counted against the object (executable or library) its caller lies
 * in: calls and bytes. Each process (a forked child starts from zero)
 * keeps DIR/copies.PID up to date, one line per object:
 *
 *   copy-count OBJECT calls=N bytes=B
 *
 * bench/run sets COPY_COUNT_MIN to an eighth of the body, so a body
 * copied in pieces (a frame split over two socket reads) still counts
 * whole, while keys, headers and protocol fields do not count at all;
 * bytes / (messages x body size) is then how many times that object
 * copies a body.
 *
 * The one thing to know before changing it: everything here runs inside
 * memcpy. Nothing may call memcpy or memmove itself before the real
 * ones are found (dlsym can: a byte loop stands in meanwhile), and a
 * counted call takes a lock and rewrites the file, which is why it only
 * suits short runs of a few hundred messages.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_OBJECTS 32

typedef void *(*copy_fn)(void *, const void *, size_t);

struct object {
	const void *base;	/* dli_fbase; NULL: not in any object */
	const char *name;
	unsigned long calls;
	unsigned long long bytes;
};

static copy_fn real_memcpy, real_memmove, real_mempcpy;
static int resolving;
static size_t min_bytes;	/* 0: counting is off */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct object objects[MAX_OBJECTS];
static int nobjects;
static pid_t owner;
static int out_fd = -1;

/* Used while dlsym runs: it must not end up calling what it stands for. */
static void *
byte_copy(void *dst, const void *src, size_t n)
{
	volatile unsigned char *d = dst;
	const volatile unsigned char *s = src;

	if (d < s) {
		for (size_t i = 0; i < n; i++)
			d[i] = s[i];
	} else {
		for (size_t i = n; i > 0; i--)
			d[i - 1] = s[i - 1];
	}
	return dst;
}

static void
resolve(void)
{
	const char *e;

	if (real_memmove != NULL || resolving)
		return;
	resolving = 1;
	real_memcpy = (copy_fn)dlsym(RTLD_NEXT, "memcpy");
	real_mempcpy = (copy_fn)dlsym(RTLD_NEXT, "mempcpy");
	e = getenv("COPY_COUNT_MIN");
	min_bytes = e != NULL ? strtoul(e, NULL, 10) : 0;
	real_memmove = (copy_fn)dlsym(RTLD_NEXT, "memmove");
	resolving = 0;
}

/* Rewrites DIR/copies.PID; called with the lock held. */
static void
write_counts(void)
{
	char buf[MAX_OBJECTS * 320];
	size_t off = 0;

	if (out_fd < 0) {
		const char *dir = getenv("COPY_COUNT_DIR");
		char path[4096];

		if (dir == NULL)
			return;
		snprintf(path, sizeof(path), "%s/copies.%ld", dir, (long)owner);
		out_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (out_fd < 0)
			return;
	}
	for (int i = 0; i < nobjects && off < sizeof(buf); i++) {
		int n = snprintf(buf + off, sizeof(buf) - off, "copy-count %s calls=%lu bytes=%llu\n",
		    objects[i].name, objects[i].calls, objects[i].bytes);

		if (n < 0)
			break;
		off += (size_t)n;
	}
	if (off > sizeof(buf))
		off = sizeof(buf);
	if (pwrite(out_fd, buf, off, 0) == (ssize_t)off && ftruncate(out_fd, (off_t)off) != 0)
		return;	/* a longer old text stays: the next call rewrites it */
}

static void
count(const void *caller, size_t n)
{
	Dl_info di;
	const void *base = NULL;
	const char *name = "?";
	int i;

	if (dladdr(caller, &di) != 0) {
		base = di.dli_fbase;
		if (di.dli_fname != NULL)
			name = di.dli_fname;
	}
	pthread_mutex_lock(&lock);
	if (owner != getpid()) {	/* a fork's child counts its own copies */
		owner = getpid();
		nobjects = 0;
		if (out_fd >= 0)
			close(out_fd);
		out_fd = -1;
	}
	for (i = 0; i < nobjects; i++)
		if (objects[i].base == base)
			break;
	if (i == nobjects && nobjects < MAX_OBJECTS) {
		objects[i].base = base;
		objects[i].name = name;
		objects[i].calls = 0;
		objects[i].bytes = 0;
		nobjects++;
	}
	if (i < nobjects) {
		objects[i].calls++;
		objects[i].bytes += n;
		write_counts();
	}
	pthread_mutex_unlock(&lock);
}

#define COUNTED(n)	(min_bytes > 0 && (n) >= min_bytes)

void *
memcpy(void *dst, const void *src, size_t n)
{
	resolve();
	if (real_memcpy == NULL)
		return byte_copy(dst, src, n);
	if (COUNTED(n))
		count(__builtin_return_address(0), n);
	return real_memcpy(dst, src, n);
}

void *
memmove(void *dst, const void *src, size_t n)
{
	resolve();
	if (real_memmove == NULL)
		return byte_copy(dst, src, n);
	if (COUNTED(n))
		count(__builtin_return_address(0), n);
	return real_memmove(dst, src, n);
}

void *
mempcpy(void *dst, const void *src, size_t n)
{
	resolve();
	if (real_mempcpy == NULL)
		return (char *)byte_copy(dst, src, n) + n;
	if (COUNTED(n))
		count(__builtin_return_address(0), n);
	return real_mempcpy(dst, src, n);
}

/* _FORTIFY_SOURCE's checked forms: the object size is not checked here. */
void *__memcpy_chk(void *dst, const void *src, size_t n, size_t dstlen);
void *__memmove_chk(void *dst, const void *src, size_t n, size_t dstlen);
void *__mempcpy_chk(void *dst, const void *src, size_t n, size_t dstlen);

void *
__memcpy_chk(void *dst, const void *src, size_t n, size_t dstlen)
{
	(void)dstlen;
	resolve();
	if (real_memcpy == NULL)
		return byte_copy(dst, src, n);
	if (COUNTED(n))
		count(__builtin_return_address(0), n);
	return real_memcpy(dst, src, n);
}

void *
__memmove_chk(void *dst, const void *src, size_t n, size_t dstlen)
{
	(void)dstlen;
	resolve();
	if (real_memmove == NULL)
		return byte_copy(dst, src, n);
	if (COUNTED(n))
		count(__builtin_return_address(0), n);
	return real_memmove(dst, src, n);
}

void *
__mempcpy_chk(void *dst, const void *src, size_t n, size_t dstlen)
{
	(void)dstlen;
	resolve();
	if (real_mempcpy == NULL)
		return (char *)byte_copy(dst, src, n) + n;
	if (COUNTED(n))
		count(__builtin_return_address(0), n);
	return real_mempcpy(dst, src, n);
}
