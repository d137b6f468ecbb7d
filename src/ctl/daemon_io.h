/*
 * daemon_io: how event-relayctl reaches a running event-relayd: one
 * request line on the control socket (changes), or GET on its HTTP port
 * (reading), and the little JSON reading the replies need.
 */
#ifndef ER_DAEMON_IO_H
#define ER_DAEMON_IO_H

#include <stddef.h>

/*
 * Sends `request` (no newline) on the unix socket at `path`, waits at
 * most timeout_ms (-1: forever) for the reply line; returns it (caller
 * frees) or NULL with errno set and `err` saying why.
 */
char *ctl_request(const char *path, const char *request, int timeout_ms, char *err,
    size_t errsz);

/*
 * GET http://<listen><target> ("host:port", a wildcard host means
 * 127.0.0.1); the body (caller frees) on status 200, else NULL with err.
 */
char *ctl_http_get(const char *listen, const char *target, char *err, size_t errsz);

/*
 * Reading the daemon's own, flat JSON replies: the value of a top-level
 * key as a boolean (-1 if absent), a number (def if absent), or each
 * string of an array of strings passed to fn.
 */
int ctl_json_bool(const char *json, const char *key);
double ctl_json_num(const char *json, const char *key, double def);
int ctl_json_str(const char *json, const char *key, char *out, size_t outsz);
void ctl_json_strings(const char *json, const char *key, void (*fn)(const char *s, void *arg),
    void *arg);

#endif
