/*
 * stats_render: writes the statistics segment as Prometheus text
 * exposition format 0.0.4, the body of GET /metrics.
 *
 * Owns no state; every family is expanded from stats.def except the
 * few that describe slots rather than events (restarts, up, state,
 * workers). Each family appears twice: event_relay_<name> summed over
 * the workers and event_relay_worker_<name>{worker="N"} per slot.
 * A counter's value is retired + cur, so it never goes down when a
 * worker is replaced.
 *
 * The one thing to know: a family name must be unique in the output
 * and every sample of a family must follow its # TYPE line; check any
 * change with `promtool check metrics`.
 */
#include "autoconf.h"

#include <assert.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>

#include "common/stats.h"

#define PREFIX "event_relay_"
#define WPREFIX "event_relay_worker_"

#define LATENCY_NAME "processing_latency_seconds"
#define LATENCY_HELP "Time from receiving a delivery to acknowledging it."
#define CLAIM_LATENCY_NAME "claim_latency_seconds"
#define CLAIM_LATENCY_HELP "Time from receiving a delivery to producing its record: decoding, the Redis claim, the worker's loop."
#define KAFKA_LATENCY_NAME "kafka_produce_latency_seconds"
#define KAFKA_LATENCY_HELP "Time from producing a record to Kafka's delivery report."
#define LATENCY_MAX_NAME "processing_latency_max_seconds"
#define LATENCY_MAX_HELP "Longest time from receiving a delivery to acknowledging it, since the start."
#define DLQ_NAME "dead_lettered_total"
#define DLQ_HELP "Messages dead-lettered, by reason."

/* # HELP text escaping: backslash and newline (format 0.0.4). */
static void
put_help(FILE *out, const char *prefix, const char *name, const char *help)
{
	fprintf(out, "# HELP %s%s ", prefix, name);
	for (const char *p = help; *p != '\0'; p++) {
		if (*p == '\\')
			fputs("\\\\", out);
		else if (*p == '\n')
			fputs("\\n", out);
		else
			fputc(*p, out);
	}
	fputc('\n', out);
}

static void
put_family(FILE *out, const char *prefix, const char *name, const char *type, const char *help)
{
	put_help(out, prefix, name, help);
	fprintf(out, "# TYPE %s%s %s\n", prefix, name, type);
}

/*
 * Microseconds as decimal seconds, exactly and without the locale:
 * 500 -> 0.0005, 2500000 -> 2.5, 10000000 -> 10.
 */
static void
put_seconds(FILE *out, uint64_t us)
{
	uint64_t frac = us % 1000000;
	int digits = 6;

	fprintf(out, "%" PRIu64, us / 1000000);
	if (frac == 0)
		return;
	while (frac % 10 == 0) {
		frac /= 10;
		digits--;
	}
	fprintf(out, ".%0*" PRIu64, digits, frac);
}

static uint64_t
slot_val(const struct worker_slot *s, size_t off)
{
	const uint64_t *cur = (const uint64_t *)((const char *)&s->cur + off);
	const uint64_t *ret = (const uint64_t *)((const char *)&s->retired + off);

	return stat_get(ret) + stat_get(cur);
}

/* Worker w's counter: both of its process slots (see stats.h). */
static uint64_t
val(const struct stats_shm *shm, uint32_t w, size_t off)
{
	return slot_val(&shm->slot[2 * w], off) + slot_val(&shm->slot[2 * w + 1], off);
}

#define VAL(shm, w, member) val((shm), (w), offsetof(struct stats_values, member))

/*
 * Worker w's gauge: in_flight, an amount, counts the draining process's
 * share while it lasts; the others say yes or no about the worker and
 * are its current process's.
 */
static int64_t
gauge(const struct stats_shm *shm, uint32_t w, size_t off)
{
	const int64_t *a = (const int64_t *)((const char *)&shm->slot[2 * w].gauges + off);
	const int64_t *b = (const int64_t *)((const char *)&shm->slot[2 * w + 1].gauges + off);

	if (off == offsetof(struct stats_gauges, in_flight))
		return __atomic_load_n(a, __ATOMIC_RELAXED) + __atomic_load_n(b, __ATOMIC_RELAXED);
	return __atomic_load_n((const int64_t *)((const char *)&stats_active_c(shm, w)->gauges + off),
	    __ATOMIC_RELAXED);
}

static void
render_counter(const struct stats_shm *shm, FILE *out, const char *name,
    const char *help, size_t off)
{
	uint64_t sum = 0;

	for (uint32_t w = 0; w < shm->nused; w++)
		sum += val(shm, w, off);
	put_family(out, PREFIX, name, "counter", help);
	fprintf(out, PREFIX "%s %" PRIu64 "\n", name, sum);
	put_family(out, WPREFIX, name, "counter", help);
	for (uint32_t w = 0; w < shm->nworkers; w++)
		fprintf(out, WPREFIX "%s{worker=\"%" PRIu32 "\"} %" PRIu64 "\n",
		    name, w, val(shm, w, off));
}

static void
render_gauge(const struct stats_shm *shm, FILE *out, const char *name,
    const char *help, size_t off)
{
	int64_t sum = 0;

	for (uint32_t w = 0; w < shm->nused; w++)
		sum += gauge(shm, w, off);
	put_family(out, PREFIX, name, "gauge", help);
	fprintf(out, PREFIX "%s %" PRId64 "\n", name, sum);
	put_family(out, WPREFIX, name, "gauge", help);
	for (uint32_t w = 0; w < shm->nworkers; w++)
		fprintf(out, WPREFIX "%s{worker=\"%" PRIu32 "\"} %" PRId64 "\n", name, w,
		    gauge(shm, w, off));
}

static void
render_dead_lettered(const struct stats_shm *shm, FILE *out)
{
	put_family(out, PREFIX, DLQ_NAME, "counter", DLQ_HELP);
	for (size_t r = DLQ_NONE + 1; r < DLQ_REASON_COUNT; r++) {
		uint64_t sum = 0;

		for (uint32_t w = 0; w < shm->nused; w++)
			sum += VAL(shm, w, dead_lettered[r]);
		fprintf(out, PREFIX DLQ_NAME "{reason=\"%s\"} %" PRIu64 "\n",
		    dlq_reason_name((enum dlq_reason)r), sum);
	}
	put_family(out, WPREFIX, DLQ_NAME, "counter", DLQ_HELP);
	for (uint32_t w = 0; w < shm->nworkers; w++)
		for (size_t r = DLQ_NONE + 1; r < DLQ_REASON_COUNT; r++)
			fprintf(out, WPREFIX DLQ_NAME "{worker=\"%" PRIu32 "\",reason=\"%s\"} %" PRIu64 "\n",
			    w, dlq_reason_name((enum dlq_reason)r),
			    VAL(shm, w, dead_lettered[r]));
}

/* Route row r's counter at `off` in stats_route_values, over every slot used. */
static uint64_t
route_val(const struct stats_shm *shm, uint32_t r, size_t off)
{
	uint64_t sum = 0;

	for (uint32_t i = 0; i < 2 * shm->nused; i++) {
		const struct worker_slot *s = &shm->slot[i];

		sum += stat_get((const uint64_t *)((const char *)&s->rcur[r] + off)) +
		    stat_get((const uint64_t *)((const char *)&s->rretired[r] + off));
	}
	return sum;
}

/*
 * event_relay_route_*{route="NAME"}: totals by route, every route that
 * ran since the start. They add up to the unlabelled totals.
 */
static void
render_routes(const struct stats_shm *shm, FILE *out)
{
#define STAT_ROUTE_COUNTER(f, name, help) \
	put_family(out, PREFIX, name, "counter", help); \
	for (uint32_t r = 0; r < shm->nroutes; r++) \
		fprintf(out, PREFIX name "{route=\"%s\"} %" PRIu64 "\n", shm->route_name[r], \
		    route_val(shm, r, offsetof(struct stats_route_values, f)));
#include "common/stats.def"
#undef STAT_ROUTE_COUNTER
	put_family(out, PREFIX, "route_" DLQ_NAME, "counter", "Messages dead-lettered, by route and reason.");
	for (uint32_t r = 0; r < shm->nroutes; r++)
		for (size_t k = DLQ_NONE + 1; k < DLQ_REASON_COUNT; k++)
			fprintf(out, PREFIX "route_" DLQ_NAME "{route=\"%s\",reason=\"%s\"} %" PRIu64 "\n",
			    shm->route_name[r], dlq_reason_name((enum dlq_reason)k),
			    route_val(shm, r, offsetof(struct stats_route_values, dead_lettered[k])));
}

/*
 * One histogram's samples. `wl` is "" for the total or `worker="N"`
 * for a slot; buckets[] are per bucket, not yet cumulative.
 */
static void
put_histogram(FILE *out, const char *name, const char *wl,
    const uint64_t *buckets, uint64_t sum_us, uint64_t count)
{
	const char *comma = wl[0] != '\0' ? "," : "";
	const char *open = wl[0] != '\0' ? "{" : "";
	const char *close = wl[0] != '\0' ? "}" : "";
	uint64_t cum = 0;

	for (size_t i = 0; i < STATS_LATENCY_BUCKETS; i++) {
		cum += buckets[i];
		fprintf(out, "%s_bucket{%s%sle=\"", name, wl, comma);
		put_seconds(out, stats_latency_bounds_us[i]);
		fprintf(out, "\"} %" PRIu64 "\n", cum);
	}
	cum += buckets[STATS_LATENCY_BUCKETS];
	fprintf(out, "%s_bucket{%s%sle=\"+Inf\"} %" PRIu64 "\n", name, wl, comma, cum);
	fprintf(out, "%s_sum%s%s%s ", name, open, wl, close);
	put_seconds(out, sum_us);
	fprintf(out, "\n%s_count%s%s%s %" PRIu64 "\n", name, open, wl, close, count);
}

/*
 * A histogram of struct stats_values, totals and per worker: its name,
 * help and where its struct stats_hist is.
 */
struct histogram_fields {
	const char *name, *help;
	size_t hist;
};

static const struct histogram_fields latency_fields = {
	LATENCY_NAME, LATENCY_HELP, offsetof(struct stats_values, latency),
};

static const struct histogram_fields claim_fields = {
	CLAIM_LATENCY_NAME, CLAIM_LATENCY_HELP, offsetof(struct stats_values, claim),
};

static const struct histogram_fields kafka_fields = {
	KAFKA_LATENCY_NAME, KAFKA_LATENCY_HELP, offsetof(struct stats_values, kafka),
};

static void
render_histogram(const struct stats_shm *shm, FILE *out, const struct histogram_fields *f)
{
	uint64_t b[STATS_LATENCY_BUCKETS + 1] = { 0 }, sum = 0, count = 0;
	const size_t bucket = f->hist + offsetof(struct stats_hist, bucket);
	const size_t sum_us = f->hist + offsetof(struct stats_hist, sum_us);
	const size_t cnt = f->hist + offsetof(struct stats_hist, count);
	char name[128];

	for (uint32_t w = 0; w < shm->nused; w++) {
		for (size_t i = 0; i < STATS_LATENCY_BUCKETS + 1; i++)
			b[i] += val(shm, w, bucket + i * sizeof(uint64_t));
		sum += val(shm, w, sum_us);
		count += val(shm, w, cnt);
	}
	put_family(out, PREFIX, f->name, "histogram", f->help);
	snprintf(name, sizeof(name), PREFIX "%s", f->name);
	put_histogram(out, name, "", b, sum, count);

	put_family(out, WPREFIX, f->name, "histogram", f->help);
	snprintf(name, sizeof(name), WPREFIX "%s", f->name);
	for (uint32_t w = 0; w < shm->nworkers; w++) {
		char wlabel[32];

		for (size_t i = 0; i < STATS_LATENCY_BUCKETS + 1; i++)
			b[i] = val(shm, w, bucket + i * sizeof(uint64_t));
		snprintf(wlabel, sizeof(wlabel), "worker=\"%" PRIu32 "\"", w);
		put_histogram(out, name, wlabel, b, val(shm, w, sum_us), val(shm, w, cnt));
	}
}

static uint64_t
worker_latency_max(const struct stats_shm *shm, uint32_t w)
{
	uint64_t max = 0;

	for (uint32_t h = 0; h < 2; h++) {
		const struct worker_slot *s = &shm->slot[2 * w + h];
		uint64_t cur = stat_get(&s->cur.latency_max_us);
		uint64_t old = stat_get(&s->retired.latency_max_us);

		if (cur > max)
			max = cur;
		if (old > max)
			max = old;
	}
	return max;
}

static void
render_latency_max(const struct stats_shm *shm, FILE *out)
{
	uint64_t max = 0;

	for (uint32_t w = 0; w < shm->nused; w++)
		if (worker_latency_max(shm, w) > max)
			max = worker_latency_max(shm, w);
	put_family(out, PREFIX, LATENCY_MAX_NAME, "gauge", LATENCY_MAX_HELP);
	fputs(PREFIX LATENCY_MAX_NAME " ", out);
	put_seconds(out, max);
	fputc('\n', out);
	put_family(out, WPREFIX, LATENCY_MAX_NAME, "gauge", LATENCY_MAX_HELP);
	for (uint32_t w = 0; w < shm->nworkers; w++) {
		fprintf(out, WPREFIX LATENCY_MAX_NAME "{worker=\"%" PRIu32 "\"} ", w);
		put_seconds(out, worker_latency_max(shm, w));
		fputc('\n', out);
	}
}

static void
render_slots(const struct stats_shm *shm, FILE *out)
{
	uint64_t restarts = 0;

	for (uint32_t w = 0; w < shm->nused; w++)
		restarts += stat_get(&shm->slot[2 * w].restarts) + stat_get(&shm->slot[2 * w + 1].restarts);
	put_family(out, PREFIX, "restarts_total", "counter",
	    "Worker processes restarted after they exited.");
	fprintf(out, PREFIX "restarts_total %" PRIu64 "\n", restarts);
	put_family(out, WPREFIX, "restarts_total", "counter",
	    "Times this worker slot was restarted after its process exited.");
	for (uint32_t w = 0; w < shm->nworkers; w++)
		fprintf(out, WPREFIX "restarts_total{worker=\"%" PRIu32 "\"} %" PRIu64 "\n",
		    w, stat_get(&shm->slot[2 * w].restarts) + stat_get(&shm->slot[2 * w + 1].restarts));

	put_family(out, WPREFIX, "up", "gauge",
	    "1 if the worker is running (state running or degraded).");
	for (uint32_t w = 0; w < shm->nworkers; w++) {
		uint32_t st = __atomic_load_n(&stats_active_c(shm, w)->state, __ATOMIC_RELAXED);

		fprintf(out, WPREFIX "up{worker=\"%" PRIu32 "\"} %d\n",
		    w, st == WS_RUNNING || st == WS_DEGRADED);
	}

	put_family(out, WPREFIX, "state", "gauge",
	    "1 for the state the worker is in, 0 for the others.");
	for (uint32_t w = 0; w < shm->nworkers; w++) {
		uint32_t st = __atomic_load_n(&stats_active_c(shm, w)->state, __ATOMIC_RELAXED);

		for (uint32_t i = 0; i < WS_STATE_COUNT; i++)
			fprintf(out, WPREFIX "state{worker=\"%" PRIu32 "\",state=\"%s\"} %d\n",
			    w, worker_state_names[i], st == i);
	}

	put_family(out, PREFIX, "workers", "gauge", "Configured number of worker processes.");
	fprintf(out, PREFIX "workers %" PRIu32 "\n", shm->nworkers);
}

void
stats_render_prometheus(const struct stats_shm *shm, FILE *out)
{
	assert(shm->magic == STATS_MAGIC);
#define STAT_COUNTER(f, name, help) \
	render_counter(shm, out, name, help, offsetof(struct stats_values, f));
#include "common/stats.def"
#undef STAT_COUNTER
#define STAT_GAUGE(f, name, help) \
	render_gauge(shm, out, name, help, offsetof(struct stats_gauges, f));
#include "common/stats.def"
#undef STAT_GAUGE
	render_dead_lettered(shm, out);
	render_routes(shm, out);
	render_histogram(shm, out, &latency_fields);
	render_latency_max(shm, out);
	render_histogram(shm, out, &claim_fields);
	render_histogram(shm, out, &kafka_fields);
	render_slots(shm, out);
}
