/*
 * trace_export: one OTLP/HTTP POST at a time through libcurl's multi
 * interface, driven by the worker's poll loop: libcurl tells which
 * sockets to watch and when to call it back (its socket and timer
 * callbacks); nothing here blocks. One easy handle is reused, so the
 * connection stays open between requests (HTTP keep-alive).
 */
#ifndef ER_TRACE_EXPORT_H
#define ER_TRACE_EXPORT_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

struct trace_export;

struct export_result {
	long status;		/* HTTP status; 0: no response (error says why) */
	uint64_t retry_after_ms;	/* the Retry-After header; 0: none */
	char error[256];	/* libcurl's reason, or "" */
};

/*
 * For `url` with the headers `headers` (key=value,... as checked by the
 * configuration; may be ""), each request limited to timeout_ms. NULL
 * after logging why.
 */
struct trace_export *trace_export_new(const char *url, const char *headers, long timeout_ms);
void trace_export_free(struct trace_export *x);

/* 1 while a request is on its way. */
int trace_export_busy(const struct trace_export *x);
/* Starts a POST of body[0..len) (kept by the caller until it ends). 0, or -1. */
int trace_export_post(struct trace_export *x, const char *body, size_t len, uint64_t now_ms);

int trace_export_pollfds(const struct trace_export *x, struct pollfd *pfd, int max);
/*
 * Serves the sockets that poll() found ready in pfd[0..n) and the
 * timer; 1 when the request ended (*res says how), else 0.
 */
int trace_export_handle(struct trace_export *x, const struct pollfd *pfd, int n, uint64_t now_ms,
    struct export_result *res);
/* When libcurl wants its timer served (UINT64_MAX: never). */
uint64_t trace_export_next_due(const struct trace_export *x);

#endif
