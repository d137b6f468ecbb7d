/*
 * stats: the shared-memory segment through which workers publish their
 * counters and state and the master renders /metrics.
 * One writer per slot (its worker; the master only between a worker's
 * death and its restart), so updates are relaxed atomic stores and
 * readers never lock. The master folds a dead worker's counters into
 * `retired` so that every counter stays monotonic across restarts.
 */
#ifndef ER_STATS_H
#define ER_STATS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum dlq_reason {
	DLQ_NONE = 0,
#define DLQ_REASON(f, label, help) DLQ_##f,
#include "common/stats.def"
#undef DLQ_REASON
	DLQ_REASON_COUNT
};

enum {
	STATS_LATENCY_BUCKETS =
#define LATENCY_BUCKET(us) 1 +
#include "common/stats.def"
#undef LATENCY_BUCKET
	0
};

extern const uint64_t stats_latency_bounds_us[STATS_LATENCY_BUCKETS];
const char *dlq_reason_name(enum dlq_reason r);

/* A latency histogram over stats_latency_bounds_us. */
struct stats_hist {
	uint64_t bucket[STATS_LATENCY_BUCKETS + 1];	/* last: +Inf */
	uint64_t count;
	uint64_t sum_us;
};

struct stats_values {
#define STAT_COUNTER(f, name, help) uint64_t f;
#include "common/stats.def"
#undef STAT_COUNTER
	uint64_t dead_lettered[DLQ_REASON_COUNT];
	struct stats_hist latency;	/* delivery to ack */
	uint64_t latency_max_us;	/* a maximum, not a sum: folded with max */
	struct stats_hist claim;	/* delivery to its record's first produce call */
	struct stats_hist kafka;	/* produce to Kafka's delivery report */
};

/* Counters kept per route as well (one row per route, see stats_shm). */
struct stats_route_values {
#define STAT_ROUTE_COUNTER(f, name, help) uint64_t f;
#include "common/stats.def"
#undef STAT_ROUTE_COUNTER
	uint64_t dead_lettered[DLQ_REASON_COUNT];
};

#define STATS_MAX_ROUTES 64
#define STATS_ROUTE_NAME_MAX 64

struct stats_gauges {
#define STAT_GAUGE(f, name, help) int64_t f;
#include "common/stats.def"
#undef STAT_GAUGE
};

enum worker_state {
	WS_DOWN = 0,		/* not running (before first start, or dead) */
	WS_STARTING,		/* forked, connecting */
	WS_RUNNING,		/* connected and relaying */
	WS_DEGRADED,		/* running, a server is unreachable */
	WS_STOPPING,		/* graceful stop in progress */
	WS_STATE_COUNT
};
extern const char *const worker_state_names[WS_STATE_COUNT];

/*
 * Why a worker is not ready, per server, as one short line ("amqp: vhost
 * \"x\" not found"), for /ready. Written by the worker, read by the
 * master: a sequence count (odd while a write is in progress) lets the
 * reader retry a torn copy instead of locking.
 */
enum stats_reason_src {
	REASON_AMQP = 0,
	REASON_REDIS,
	REASON_KAFKA,
	REASON_COUNT
};

struct stats_reason {
	uint32_t seq;
	char text[156];
};

struct worker_slot {
	int32_t pid;
	uint32_t state;		/* enum worker_state */
	uint64_t generation;	/* incremented by the master at each start */
	uint64_t heartbeat_ms;	/* CLOCK_MONOTONIC ms, written by the worker */
	uint64_t restarts;	/* written by the master */
	uint64_t started_s;	/* CLOCK_REALTIME s of the current start */
	uint64_t config_generation;	/* of the configuration it runs, by the master */
	uint32_t pause_req;	/* 1: stop consuming (event-relayctl pause), by the master */
	/* 1 + the system call its seccomp filter refused (SIGSYS), by the worker; 0: none */
	uint32_t sigsys;
	struct stats_values cur;	/* this incarnation, written by the worker */
	struct stats_values retired;	/* earlier incarnations, by the master */
	struct stats_gauges gauges;
	struct stats_reason reason[REASON_COUNT];	/* cleared by stats_retire */
	struct stats_route_values rcur[STATS_MAX_ROUTES];	/* by route row, as cur */
	struct stats_route_values rretired[STATS_MAX_ROUTES];	/* as retired */
};

/*
 * Worker N (the label worker="N") owns two process slots, slot[2N] and
 * slot[2N+1]: during a reload its new process runs in one while the old
 * one drains in the other, and both count in its series. `active` names
 * the half of the current process. Every slot ever used counts in the
 * totals, so totals stay monotonic when `workers` shrinks.
 */
#define STATS_MAX_WORKERS 64

struct stats_shm {
	uint32_t magic;
	uint32_t nworkers;	/* configured now: per-worker series 0..nworkers-1 */
	uint32_t nused;		/* workers that ever ran: totals cover 0..nused-1 */
	uint32_t reserved;
	uint64_t started_s;
	uint8_t active[STATS_MAX_WORKERS];	/* 0 or 1, written by the master */
	/*
	 * Every route name ever run, by row: a row is never reused, so
	 * route counters stay monotonic across reloads. Master only.
	 */
	uint32_t nroutes;
	char route_name[STATS_MAX_ROUTES][STATS_ROUTE_NAME_MAX + 1];
	struct worker_slot slot[];	/* 2 * STATS_MAX_WORKERS */
};

#define STATS_MAGIC 0x45524c59u	/* "ERLY" */

/* The process slot of worker w's current process. */
static inline struct worker_slot *
stats_active(struct stats_shm *shm, uint32_t w)
{
	return &shm->slot[2 * w + (__atomic_load_n(&shm->active[w], __ATOMIC_RELAXED) & 1)];
}

static inline const struct worker_slot *
stats_active_c(const struct stats_shm *shm, uint32_t w)
{
	return &shm->slot[2 * w + (__atomic_load_n(&shm->active[w], __ATOMIC_RELAXED) & 1)];
}

/*
 * Maps an anonymous shared segment with room for STATS_MAX_WORKERS
 * workers, nworkers of them configured; call before forking.
 */
struct stats_shm *stats_create(uint32_t nworkers);
void stats_destroy(struct stats_shm *shm);

/*
 * The row of route `name`, registered if new (master only): its index,
 * or -1 when all STATS_MAX_ROUTES rows are taken by other names.
 */
int stats_route_register(struct stats_shm *shm, const char *name);

/* Master, after a worker's death: cur -> retired, gauges zeroed. */
void stats_retire(struct worker_slot *s);

/* Relaxed single-writer updates. */
static inline void
stat_add(uint64_t *c, uint64_t n)
{
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

static inline void
stat_set(int64_t *g, int64_t v)
{
	__atomic_store_n(g, v, __ATOMIC_RELAXED);
}

static inline uint64_t
stat_get(const uint64_t *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

void stats_observe_latency(struct stats_values *v, uint64_t us);
void stats_observe_claim(struct stats_values *v, uint64_t us);
void stats_observe_kafka(struct stats_values *v, uint64_t us);

/* Sets the reason (NULL or "" clears it); one writer per slot. */
void stats_reason_set(struct stats_reason *r, const char *text);
/* Copies the reason into buf (NUL-terminated); returns its length, 0 if none. */
size_t stats_reason_get(const struct stats_reason *r, char *buf, size_t bufsz);

/*
 * The readiness rule, one place for /ready and sd_notify: a worker is
 * ready when its state is running and RabbitMQ, Kafka and Redis are all
 * up. Reads the slot once; fills *r (may be NULL) with what it read, so
 * that a caller can say why a worker is not ready. Returns 1 or 0.
 */
struct slot_readiness {
	uint32_t state;		/* enum worker_state */
	int amqp, kafka, redis;	/* 1 up, 0 down */
};
int stats_slot_ready(const struct worker_slot *s, struct slot_readiness *r);

/*
 * Renders the Prometheus text format into `out`: per-worker series
 * (event_relay_worker_*{worker="N"}) and totals (event_relay_*).
 */
void stats_render_prometheus(const struct stats_shm *shm, FILE *out);

#endif
