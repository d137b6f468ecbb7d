/*
 * tracing: a worker's spans (OpenTelemetry, exported over OTLP/HTTP by
 * trace_export). Per sampled delivery, a CONSUMER span `process
 * <queue>` parented on the incoming traceparent, and a PRODUCER span
 * `send <topic>` below it whose context goes into the Kafka traceparent
 * header (tracing.propagation = rewrite).
 *
 * The relay calls in at each step of a delivery; for an unsampled one
 * only tracing_begin() runs, and nothing is allocated. Finished spans
 * wait in a ring of tracing.queue_size messages allocated at start;
 * when it is full they are dropped and counted, never the relay held.
 */
#ifndef ER_TRACING_H
#define ER_TRACING_H

#include <poll.h>
#include <stdint.h>

#include <amqp.h>
#include <librdkafka/rdkafka.h>

struct er_config;
struct slot;
struct stats_values;
struct tracer;

/* NULL when tracing is off (no URL) or could not start (logged; the relay goes on). */
struct tracer *tracing_new(const struct er_config *cfg, int worker, struct stats_values *st);
/* Flushes what is queued for at most `budget_ms`, then frees everything. */
void tracing_destroy(struct tracer *t, uint64_t budget_ms);

/*
 * A delivery decoded: decides whether it is sampled (s->tr.sampled)
 * from its AMQP headers (NULL: none) and the sampler.
 */
void tracing_begin(struct tracer *t, struct slot *s, const amqp_table_t *headers,
    uint64_t now_us);
/* First produce of a sampled delivery: starts its send span. */
void tracing_send(struct tracer *t, struct slot *s, uint64_t now_us);
/* A delivery report of a sampled delivery (err 0: delivered). */
void tracing_report(struct tracer *t, struct slot *s, rd_kafka_resp_err_t err, int32_t partition,
    int64_t offset, uint64_t now_us);
/* A sampled delivery is complete (relayed, duplicate, dead-lettered): its spans end. */
void tracing_finish(struct tracer *t, struct slot *s, uint64_t now_us);

/* The poll loop: up to `max` descriptors to watch; returns how many it wrote. */
int tracing_pollfds(struct tracer *t, struct pollfd *pfd, int max);
/* After poll(): pfd[0..n) are those tracing_pollfds() wrote. */
void tracing_handle(struct tracer *t, const struct pollfd *pfd, int n, uint64_t now_ms);
/* The next time tracing_handle() has something to do (UINT64_MAX: nothing). */
uint64_t tracing_next_due(const struct tracer *t);

#define TRACING_MAX_FDS 4

#endif
