/*
 * master: the supervisor. Creates the stats segment, forks the workers,
 * restarts crashed ones with backoff, serves HTTP and the control
 * socket, reloads on HUP (or `reload`) by replacing the workers one at a
 * time, reopens the log file on USR1 (and has each worker reopen it),
 * and stops everything gracefully on TERM/INT.
 */
#ifndef ER_MASTER_H
#define ER_MASTER_H

struct er_config;
struct route_set;

/*
 * Runs until stopped; returns the exit status (0 after a graceful stop).
 * `path` is the configuration file a reload reads again (NULL: none, the
 * defaults and the environment). On return *cfg and *route hold the
 * settings in force then (a reload may have replaced them), for the
 * caller to free.
 */
int master_run(struct er_config *cfg, struct route_set *routes, const char *path);

/*
 * Has the master's loop reopen the log file and tell every worker to
 * reopen it, as SIGUSR1 does (for the control socket's command).
 * Async-signal-safe: it only sets the flag and wakes the loop.
 */
void master_request_log_reopen(void);

#endif
