/*
 * config_source: the text of event-relay.conf as libconfig 1.5 can
 * parse it. Private to config.c and config_source.c.
 *
 * In the prepared text a dotted name "a.b" reads "a*b": '*' is a legal
 * name character that no setting uses, so the loader turns every '*'
 * in a setting's path back into '.'.
 */
#ifndef ER_CONFIG_SOURCE_H
#define ER_CONFIG_SOURCE_H

#include <stddef.h>

/*
 * Reads all of `path` (at most 4 MiB); NULL with errno set. The caller
 * owns the buffer, which is not NUL-terminated: its length is *lenp.
 */
char *config_source_read(const char *path, size_t *lenp);

/*
 * Rewrites in[0..len) for libconfig 1.5, keeping line numbers. Returns a
 * NUL-terminated copy that the caller owns, or NULL with `errline` (0
 * when no line is to blame) and `errmsg` (static) set.
 */
char *config_source_prepare(const char *in, size_t len, unsigned *errline,
    const char **errmsg);

#endif
