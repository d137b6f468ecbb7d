/*
 * master: the supervisor. Creates the stats segment, forks the workers,
 * restarts crashed ones with backoff, serves HTTP and stops everything
 * gracefully on TERM/INT.
 */
#ifndef ER_MASTER_H
#define ER_MASTER_H

struct er_config;
struct route;

/* Runs until stopped; returns the exit status (0 after a graceful stop). */
int master_run(const struct er_config *cfg, const struct route *route);

#endif
