/*
 * amqp_source: the worker's RabbitMQ connection: channel 1 consumes the
 * route's queue with manual acks, channel 2 publishes dead-letter copies
 * in confirm mode.
 *
 * Frames are read one at a time without blocking (rabbitmq-c's
 * amqp_consume_message waits forever for body frames), and a body is
 * copied straight into the slot the worker hands out for it. Each
 * connection has a generation; delivery tags belong to one generation.
 */
#ifndef ER_AMQP_SOURCE_H
#define ER_AMQP_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include <amqp.h>

#include "common/stats.h"

struct er_config;
struct route;
struct route_set;
struct slot;

struct amqp_source_ops {
	/* Connected and consuming; tags of `generation` start at 1. */
	void (*connected)(void *arg, uint64_t generation);
	/* The connection is gone: its unacked deliveries will be redelivered. */
	void (*lost)(void *arg);
	/* A delivery's header arrived: a slot to receive `size` body bytes, or NULL. */
	struct slot *(*begin)(void *arg, const struct route *r, uint64_t tag, int redelivered,
	    uint64_t size);
	/*
	 * The body is complete; props, exchange and routing_key are valid
	 * only during the call.
	 */
	void (*delivered)(void *arg, struct slot *s, const amqp_basic_properties_t *props,
	    amqp_bytes_t exchange, amqp_bytes_t routing_key);
	/* A dead-letter publish was confirmed (ok) or nacked/returned (!ok). */
	void (*confirmed)(void *arg, uint64_t seq, int multiple, int ok);
};

struct amqp_source;

struct amqp_source *amqp_source_new(const struct er_config *cfg, const struct route_set *routes,
    int worker_id, const struct amqp_source_ops *ops, void *arg,
    struct stats_gauges *gauges, struct stats_values *counters,
    struct stats_reason *reason);
void amqp_source_destroy(struct amqp_source *a);

int amqp_source_up(const struct amqp_source *a);
/* The socket to poll for POLLIN, or -1 while disconnected. */
int amqp_source_fd(const struct amqp_source *a);
/* Frames already buffered inside rabbitmq-c: do not sleep in poll. */
int amqp_source_buffered(const struct amqp_source *a);

/* Connects when due (blocking, bounded by connect_timeout); checks liveness. */
void amqp_source_tick(struct amqp_source *a, uint64_t now_ms);
uint64_t amqp_source_next_due(const struct amqp_source *a);

/*
 * The socket was readable: the broker is alive. Heartbeat frames are
 * consumed inside rabbitmq-c and never reach the reader, so the poll
 * result is the only sign of them.
 */
void amqp_source_saw_input(struct amqp_source *a, uint64_t now_ms);

/* Reads frames until none are buffered or `max` deliveries completed. */
int amqp_source_read(struct amqp_source *a, uint64_t now_ms, int max);

/* basic.ack on the consume channel; -1 drops the connection. */
int amqp_source_ack(struct amqp_source *a, uint64_t tag, int multiple);

/*
 * Publishes a dead-letter copy of the slot's message (original body and
 * properties, plus x-event-relay-* headers) with mandatory set; *seq
 * receives its confirm sequence number. props may be NULL (then only the
 * relay's headers are set). 0 or -1.
 */
int amqp_source_dead_letter(struct amqp_source *a, const struct slot *s,
    const amqp_basic_properties_t *props, uint64_t *seq);

/* Deep-copies properties into `pool` (for a later dead-letter copy). 0 or -1. */
int amqp_props_clone(amqp_basic_properties_t *dst, const amqp_basic_properties_t *src,
    amqp_pool_t *pool);

/* Stops consuming (basic.cancel) for a graceful stop, for good. */
void amqp_source_cancel(struct amqp_source *a);
/*
 * A basic.cancel is not answered yet: deliveries sent before it may
 * still arrive. A stopping worker waits for the answer, so that none of
 * them is left unread (and redelivered) when it exits.
 */
int amqp_source_cancelling(const struct amqp_source *a);
/*
 * Suspends (basic.cancel) or resumes (basic.consume) consuming, now and
 * across reconnects; deliveries already received are unaffected.
 */
void amqp_source_pause(struct amqp_source *a, int paused);
/* Closes channels and connection; unacked deliveries go back to the queue. */
void amqp_source_close(struct amqp_source *a);

#endif
