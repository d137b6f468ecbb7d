/*
 * status: the master's report as JSON, the body of GET /status and of
 * the control socket's `status` reply. Every counter and gauge expands
 * from stats.def, as /metrics does, so a new metric appears in both.
 */
#ifndef ER_STATUS_H
#define ER_STATUS_H

#include <stdint.h>
#include <stdio.h>

struct route_set;
struct stats_shm;

struct status_info {
	const char *version;
	const char *instance;	/* the `instance` setting or the host name */
	const char *config_path;	/* NULL: no file, defaults and environment */
	const struct route_set *routes;	/* in force */
	uint64_t generation;	/* of the configuration in force */
	uint64_t started_s;	/* CLOCK_REALTIME */
	uint64_t now_s;		/* CLOCK_REALTIME */
	uint64_t now_ms;	/* CLOCK_MONOTONIC, the clock of heartbeats */
	int paused, reloading, stopping;
	/* The last reload, if any: at_s 0 means none yet. */
	uint64_t reload_at_s;
	int reload_ok;
	const char *reload_errors;	/* one error a line, or NULL */
	const char *reload_needs_restart;	/* settings, one a line, or NULL */
	const double *msgs_per_s;	/* per worker, over the last second or so; may be NULL */
};

void status_render(FILE *out, const struct stats_shm *shm, const struct status_info *si);
/* The same as a table for people (event-relayctl status and top). */
void status_render_text(FILE *out, const struct stats_shm *shm, const struct status_info *si);

#endif
