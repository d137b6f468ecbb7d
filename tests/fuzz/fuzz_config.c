/*
 * fuzz_config: libFuzzer target for config_load, the event-relay.conf
 * loader (libconfig text, then the checks of settings.def). See
 * README.md for how to build and run it.
 *
 * The loader reads a path, so each input is written to a memfd and
 * loaded as /proc/self/fd/N: nothing touches the disk. The environment
 * is empty (the tests of test_config.c cover it).
 *
 * Besides crashes (ASan, UBSan) and leaks, it checks what the loader
 * promises: every error is one line naming the file; the count returned
 * is the number of lines; a file without errors dumps (config_dump) to
 * a text that loads again without errors and dumps to the very same
 * text.
 */
#define _GNU_SOURCE
#include "autoconf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static int fd = -1;
static char path[64];

static const char *
no_env(const char *name)
{
	(void)name;
	return NULL;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fd = memfd_create("event-relay.conf", MFD_CLOEXEC);
	if (fd < 0)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	log_set_level(LOG_LVL_ERROR);
	return 0;
}

static void
put(const void *buf, size_t len)
{
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, len, 0) != (ssize_t)len)
		abort();
}

/* Loads the memfd into cfg; returns the error count, checked. */
static int
load(struct er_config *cfg)
{
	char *out = NULL;
	size_t olen = 0, lines = 0;
	FILE *errs = open_memstream(&out, &olen);
	int n;

	if (errs == NULL)
		abort();
	n = config_load(cfg, path, no_env, errs);
	if (fclose(errs) != 0)
		abort();
	for (const char *p = out; p < out + olen; p++) {
		if (strncmp(p, path, strlen(path)) != 0 && strncmp(p, "/", 1) != 0)
			abort();	/* a line that names no file */
		p = memchr(p, '\n', (size_t)(out + olen - p));
		if (p == NULL)
			abort();	/* an unterminated line */
		lines++;
	}
	if (lines != (size_t)n || (n > 0) != (olen > 0))
		abort();
	free(out);
	return n;
}

static char *
dump(const struct er_config *cfg, size_t *len)
{
	char *out = NULL;
	FILE *f = open_memstream(&out, len);

	if (f == NULL)
		abort();
	config_dump(cfg, f);
	if (fclose(f) != 0)
		abort();
	return out;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct er_config cfg, again;
	char *d1, *d2;
	size_t l1, l2;

	if (size > 65536)
		return 0;
	put(data, size);
	if (load(&cfg) != 0) {
		config_free(&cfg);
		return 0;
	}
	d1 = dump(&cfg, &l1);
	config_free(&cfg);
	put(d1, l1);
	if (load(&again) != 0)
		abort();	/* the dump of a valid file is not valid */
	d2 = dump(&again, &l2);
	config_free(&again);
	if (l1 != l2 || memcmp(d1, d2, l1) != 0)
		abort();	/* the dump does not read back to itself */
	free(d1);
	free(d2);
	return 0;
}
