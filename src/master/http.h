/*
 * http: the master's HTTP endpoints (/metrics, /health, /ready), served
 * by libmicrohttpd in external-poll mode from the master's poll loop so
 * that the master stays single-threaded and fork stays safe.
 */
#ifndef ER_HTTP_H
#define ER_HTTP_H

#include <stdint.h>
#include <stdio.h>

struct er_config;
struct stats_shm;
struct http;

/* Writes the body of /status: JSON, or a table for people when `text`. */
typedef void (*http_status_fn)(void *arg, FILE *out, int text);

/*
 * Listens on metrics.listen with the metrics.* connection limits; NULL
 * after logging why.
 */
struct http *http_start(const struct er_config *cfg, const struct stats_shm *shm,
    http_status_fn status, void *arg);
void http_stop(struct http *h);
/* In a freshly forked worker: close the inherited sockets only. */
void http_close_in_child(struct http *h);

/* The fd to poll for POLLIN, and the longest the master may sleep (ms). */
int http_fd(const struct http *h);
int http_timeout_ms(struct http *h);
/* Serves whatever is ready. */
void http_run(struct http *h);

#endif
