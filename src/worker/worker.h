/*
 * worker: one worker process. Owns its AMQP connection, Kafka producer
 * and Redis connection, and relays from one poll() loop until told to
 * stop (SIGTERM, or the master's death seen as EOF on the lifeline).
 */
#ifndef ER_WORKER_H
#define ER_WORKER_H

struct er_config;
struct route_set;
struct worker_slot;

/*
 * Runs worker `id` until it stops; returns the process exit status
 * (0 after a graceful stop). `lifeline` is the read end of a pipe whose
 * write end only the master holds.
 */
int worker_main(const struct er_config *cfg, const struct route_set *routes, int id,
    struct worker_slot *ws, int lifeline);

#endif
