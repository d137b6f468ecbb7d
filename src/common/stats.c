/*
 * stats: the shared-memory statistics segment and the tables expanded
 * from stats.def (dead-letter reason names, latency bucket bounds,
 * worker state names).
 *
 * Owns the mapping: the master maps it once before the first fork and
 * every worker inherits it. Each slot has one writer at a time (its
 * worker, or the master between that worker's death and its restart),
 * which is why plain relaxed loads and stores suffice.
 *
 * The one thing to know: stats_retire() is what keeps counters
 * monotonic across restarts; call it only after the worker is reaped,
 * never while it may still write its slot.
 */
#include "autoconf.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "common/log.h"
#include "common/stats.h"

const uint64_t stats_latency_bounds_us[STATS_LATENCY_BUCKETS] = {
#define LATENCY_BUCKET(us) (us),
#include "common/stats.def"
#undef LATENCY_BUCKET
};

static const char *const dlq_reason_names[DLQ_REASON_COUNT] = {
	[DLQ_NONE] = "none",
#define DLQ_REASON(f, label, help) [DLQ_##f] = label,
#include "common/stats.def"
#undef DLQ_REASON
};

const char *const worker_state_names[WS_STATE_COUNT] = {
	[WS_DOWN] = "down",
	[WS_STARTING] = "starting",
	[WS_RUNNING] = "running",
	[WS_DEGRADED] = "degraded",
	[WS_STOPPING] = "stopping",
};

const char *
dlq_reason_name(enum dlq_reason r)
{
	if ((unsigned)r >= DLQ_REASON_COUNT)
		return "unknown";
	return dlq_reason_names[r];
}

static size_t
stats_size(void)
{
	return sizeof(struct stats_shm) + 2 * (size_t)STATS_MAX_WORKERS * sizeof(struct worker_slot);
}

struct stats_shm *
stats_create(uint32_t nworkers)
{
	struct stats_shm *shm;

	if (nworkers == 0 || nworkers > STATS_MAX_WORKERS) {
		log_error("stats: %u worker slots requested (1 to %d)", nworkers, STATS_MAX_WORKERS);
		errno = EINVAL;
		return NULL;
	}
	/* Anonymous mappings come zeroed: every slot starts WS_DOWN at 0. */
	shm = mmap(NULL, stats_size(), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shm == MAP_FAILED) {
		log_error("stats: mmap %zu bytes: %s", stats_size(), strerror(errno));
		return NULL;
	}
	shm->nworkers = nworkers;
	shm->nused = nworkers;
	shm->started_s = (uint64_t)time(NULL);
	shm->magic = STATS_MAGIC;
	return shm;
}

void
stats_destroy(struct stats_shm *shm)
{
	if (shm == NULL)
		return;
	if (munmap(shm, stats_size()) < 0)
		log_error("stats: munmap: %s", strerror(errno));
}

/* *to += *from; *from = 0, each with a relaxed atomic access. */
static void
fold(uint64_t *to, uint64_t *from)
{
	stat_add(to, stat_get(from));
	__atomic_store_n(from, 0, __ATOMIC_RELAXED);
}

static void
fold_hist(struct stats_hist *to, struct stats_hist *from)
{
	for (size_t i = 0; i < STATS_LATENCY_BUCKETS + 1; i++)
		fold(&to->bucket[i], &from->bucket[i]);
	fold(&to->count, &from->count);
	fold(&to->sum_us, &from->sum_us);
}

void
stats_retire(struct worker_slot *s)
{
#define STAT_COUNTER(f, name, help) fold(&s->retired.f, &s->cur.f);
#include "common/stats.def"
#undef STAT_COUNTER
	for (size_t i = 0; i < DLQ_REASON_COUNT; i++)
		fold(&s->retired.dead_lettered[i], &s->cur.dead_lettered[i]);
	fold_hist(&s->retired.latency, &s->cur.latency);
	fold_hist(&s->retired.claim, &s->cur.claim);
	fold_hist(&s->retired.kafka, &s->cur.kafka);
	if (stat_get(&s->cur.latency_max_us) > stat_get(&s->retired.latency_max_us))
		__atomic_store_n(&s->retired.latency_max_us, stat_get(&s->cur.latency_max_us),
		    __ATOMIC_RELAXED);
	__atomic_store_n(&s->cur.latency_max_us, 0, __ATOMIC_RELAXED);
#define STAT_GAUGE(f, name, help) stat_set(&s->gauges.f, 0);
#include "common/stats.def"
#undef STAT_GAUGE
	for (size_t i = 0; i < REASON_COUNT; i++)
		stats_reason_set(&s->reason[i], NULL);
	for (size_t r = 0; r < STATS_MAX_ROUTES; r++) {
#define STAT_ROUTE_COUNTER(f, name, help) fold(&s->rretired[r].f, &s->rcur[r].f);
#include "common/stats.def"
#undef STAT_ROUTE_COUNTER
		for (size_t i = 0; i < DLQ_REASON_COUNT; i++)
			fold(&s->rretired[r].dead_lettered[i], &s->rcur[r].dead_lettered[i]);
	}
}

int
stats_route_register(struct stats_shm *shm, const char *name)
{
	for (uint32_t i = 0; i < shm->nroutes; i++)
		if (strcmp(shm->route_name[i], name) == 0)
			return (int)i;
	if (shm->nroutes == STATS_MAX_ROUTES || strlen(name) > STATS_ROUTE_NAME_MAX)
		return -1;
	snprintf(shm->route_name[shm->nroutes], sizeof(shm->route_name[0]), "%s", name);
	return (int)shm->nroutes++;
}

/*
 * A sequence lock over bytes stored with relaxed atomics: no torn read
 * is ever used, and the one writer never waits.
 */
void
stats_reason_set(struct stats_reason *r, const char *text)
{
	uint32_t seq = __atomic_load_n(&r->seq, __ATOMIC_RELAXED);
	size_t n = text != NULL ? strnlen(text, sizeof(r->text) - 1) : 0;

	__atomic_store_n(&r->seq, seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	for (size_t i = 0; i < n; i++)
		__atomic_store_n(&r->text[i], text[i], __ATOMIC_RELAXED);
	__atomic_store_n(&r->text[n], '\0', __ATOMIC_RELAXED);
	__atomic_store_n(&r->seq, seq + 2, __ATOMIC_RELEASE);
}

size_t
stats_reason_get(const struct stats_reason *r, char *buf, size_t bufsz)
{
	size_t n = 0;

	if (bufsz == 0)
		return 0;
	for (int tries = 0; tries < 100; tries++) {
		uint32_t seq = __atomic_load_n(&r->seq, __ATOMIC_ACQUIRE);

		if (seq & 1)
			continue;
		for (n = 0; n + 1 < bufsz && n < sizeof(r->text); n++) {
			buf[n] = __atomic_load_n(&r->text[n], __ATOMIC_RELAXED);
			if (buf[n] == '\0')
				break;
		}
		buf[n] = '\0';
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&r->seq, __ATOMIC_RELAXED) == seq)
			return n;
	}
	buf[0] = '\0';
	return 0;
}

static size_t
latency_bucket(uint64_t us)
{
	size_t i = 0;

	while (i < STATS_LATENCY_BUCKETS && us > stats_latency_bounds_us[i])
		i++;
	return i;
}

static void
observe(struct stats_hist *h, uint64_t us)
{
	stat_add(&h->bucket[latency_bucket(us)], 1);
	stat_add(&h->count, 1);
	stat_add(&h->sum_us, us);
}

void
stats_observe_latency(struct stats_values *v, uint64_t us)
{
	observe(&v->latency, us);
	if (us > stat_get(&v->latency_max_us))
		__atomic_store_n(&v->latency_max_us, us, __ATOMIC_RELAXED);
}

void
stats_observe_claim(struct stats_values *v, uint64_t us)
{
	observe(&v->claim, us);
}

void
stats_observe_kafka(struct stats_values *v, uint64_t us)
{
	observe(&v->kafka, us);
}

int
stats_slot_ready(const struct worker_slot *s, struct slot_readiness *r)
{
	struct slot_readiness got = {
		.state = __atomic_load_n(&s->state, __ATOMIC_RELAXED),
		.amqp = __atomic_load_n(&s->gauges.amqp_up, __ATOMIC_RELAXED) != 0,
		.kafka = __atomic_load_n(&s->gauges.kafka_up, __ATOMIC_RELAXED) != 0,
		.redis = __atomic_load_n(&s->gauges.redis_up, __ATOMIC_RELAXED) != 0,
	};

	if (r != NULL)
		*r = got;
	return got.state == WS_RUNNING && got.amqp && got.kafka && got.redis;
}
