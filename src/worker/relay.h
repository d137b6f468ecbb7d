/*
 * relay: the relay path inside a worker (DESIGN.md steps 1-6) and the
 * worker state it shares with the process loop in worker.c.
 *
 *   deliver -> decode -> claim (Redis) -> produce (Kafka) -> report
 *           -> done-mark (Redis) -> complete -> ack (multiple=true)
 *   poison  -> dead-letter copy (confirmed) -> complete -> ack
 *
 * worker.c owns the process (signals, poll loop, start and stop);
 * relay.c owns every slot state change, made only in the callback of the
 * module that finished a step.
 */
#ifndef ER_RELAY_H
#define ER_RELAY_H

#include <stddef.h>
#include <stdint.h>

#include "common/clock.h"
#include "common/event.h"
#include "common/stats.h"
#include "worker/ack_tracker.h"
#include "worker/amqp_source.h"
#include "worker/breaker.h"
#include "worker/kafka_sink.h"
#include "worker/redis_claim.h"
#include "worker/slot.h"

struct er_config;
struct route_set;
struct worker_slot;

/*
 * A completion behind an older pending delivery is acked singly once it
 * has waited this long. 4 ms instead (bench/run throughput, 2 workers,
 * three runs each, alternated): 40,309-64,852 single acks against
 * 2,695-9,198 in a drain of 220,000, and 0.60-0.73 of the bare consumer
 * against 0.64-0.93; paced (two runs each) no lower delivery-to-ack p99
 * (46.9, 58.7 ms against 33.4, 44.6).
 */
#define ACK_HOLE_DELAY_MS 100

struct worker {
	const struct er_config *cfg;
	const struct route_set *routes;
	int id;
	struct worker_slot *ws;
	struct stats_values *st;

	struct slot_pool pool;

	struct ack_tracker tracker;
	struct event_decoder decoder;
	struct amqp_source *amqp;
	struct kafka_sink *kafka;
	struct redis_claim *redis;
	struct breaker breaker;		/* around Kafka */
	struct tracer *tracer;		/* NULL: no spans */
	int dedup_bypass;		/* redis.on_failure = bypass */
	int bypassing;			/* relaying without Redis right now */

	uint64_t generation;	/* current AMQP generation, 0 while down */
	struct slot *receiving;	/* handed to amqp_source, body incomplete */
	struct slot_queue claim_q;	/* waiting for Redis */
	struct slot_queue timers;	/* CLAIM_WAIT / RETRY_WAIT, unordered */
	struct slot_queue dlq;		/* dead-letter copies awaiting confirm, by seq */

	size_t acks_pending;	/* completions since the last ack flush */
	uint64_t renew_ms;		/* next renewal of long-held claims */
	uint64_t now_ms;
	uint64_t now_us;	/* CLOCK_MONOTONIC, read once per loop step */
	uint64_t rng;
	int stopping;
	int op_paused;		/* event-relayctl pause: the slot's pause_req */
	uint64_t stop_deadline_ms;
};

extern const struct ack_ops relay_ack_ops;
extern const struct kafka_sink_ops relay_kafka_ops;
extern const struct redis_claim_ops relay_redis_ops;
extern const struct amqp_source_ops relay_amqp_ops;

/* Sends the acks that are due (all that can go, with force). */
void relay_flush_acks(struct worker *w, int force);
/* Claims again and produces again whatever waited for its time. */
void relay_run_timers(struct worker *w);
/* Renews the Redis claims of long-held deliveries when due (every lease / 3). */
void relay_renew_claims(struct worker *w);
/* The earliest timer (UINT64_MAX: none). */
uint64_t relay_next_timer(const struct worker *w);

/*
 * Kafka housekeeping for each loop iteration: the breaker's probes and
 * the stall watchdog. -1 if the producer had to be recreated and could
 * not be (the worker must exit; nothing is acked).
 */
int relay_kafka_tick(struct worker *w);
/* The next time relay_kafka_tick() has something to do. */
uint64_t relay_kafka_next_due(const struct worker *w);
/*
 * Destroys and recreates the producer and produces again every record
 * it held; -1 if the new producer could not be created.
 */
int relay_kafka_restart(struct worker *w, const char *why);

#endif
