/*
 * master_int: the master's state, shared by master.c (supervision,
 * control commands, the loop) and reload.c (the rolling replacement).
 * Private to src/master/.
 */
#ifndef ER_MASTER_INT_H
#define ER_MASTER_INT_H

#include <stdint.h>
#include <sys/types.h>

#include "common/route.h"
#include "common/stats.h"

struct control;
struct control_client;
struct er_config;
struct http;

#define NSLOTS (2 * STATS_MAX_WORKERS)

/* One process slot (two per worker). */
struct proc {
	pid_t pid;
	int active;		/* restart it when it dies */
	uint64_t started_ms;
	uint64_t restart_at_ms;
	unsigned crashes;	/* consecutive early deaths */
};

/* A rolling replacement in progress. */
struct reload {
	int on;
	uint32_t next;		/* the worker being handled */
	uint32_t upto;		/* max(old, new) worker count */
	uint32_t old_n;
	int starting;		/* a new process of worker `next` is getting ready */
	uint64_t deadline_ms;
	uint64_t t0_ms;
	unsigned replaced, started, stopped;
	char *changed;		/* settings that changed, one a line */
	struct control_client *waiter[8];
	int nwaiters;
};

struct master {
	struct er_config *cfg;
	struct route_set routes;
	/* During a reload: the settings before it, kept until it succeeds. */
	struct er_config *old_cfg;
	struct route_set old_routes;
	const char *path;	/* configuration file, or NULL */
	struct stats_shm *shm;
	struct http *http;
	struct control *ctl;
	struct proc procs[NSLOTS];
	int lifeline[2];
	uint64_t generation;
	uint64_t started_s;
	int paused;
	int stopping;
	uint64_t stop_deadline;
	struct reload rl;
	/* the last reload, for /status */
	uint64_t last_reload_s;
	int last_reload_ok;
	char *last_errors;
	char *last_needs_restart;
	/* msgs/s per worker: consumed at the last sample */
	uint64_t rate_ms;
	uint64_t rate_consumed[STATS_MAX_WORKERS];
	double rate[STATS_MAX_WORKERS];
};

/* master.c */
void master_spawn(struct master *m, int p);		/* starts process slot p */
void master_retire_proc(struct master *m, int p);	/* stops it for good (TERM) */
void master_answer(struct control_client *cl, const char *json);
/* Gives each route its row of per-route counters; -1 when the rows are all taken. */
int routes_register(struct stats_shm *shm, struct route_set *rs);

/* reload.c */
int reload_start(struct master *m);	/* 0: valid, the replacement has begun */
void reload_step(struct master *m, uint64_t now);
void reload_finish(struct master *m, int ok, const char *error);
char *reload_reply(const struct master *m, int ok, const char *error);	/* caller frees */

#endif
