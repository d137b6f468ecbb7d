/*
 * status: renders the master's report (see status.h) from the stats
 * segment and what the master knows (generation, reloads, pause).
 *
 * Owns nothing. The one thing to know: it shows no secret; URLs and
 * passwords never reach it, and it must stay that way.
 */
#include "autoconf.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/json.h"
#include "common/route.h"
#include "common/stats.h"
#include "master/status.h"

static uint64_t
sum_val(const struct stats_shm *shm, uint32_t w, size_t off)
{
	uint64_t v = 0;

	for (uint32_t h = 0; h < 2; h++) {
		const struct worker_slot *s = &shm->slot[2 * w + h];

		v += stat_get((const uint64_t *)((const char *)&s->cur + off)) +
		    stat_get((const uint64_t *)((const char *)&s->retired + off));
	}
	return v;
}

#define SUM(shm, w, member) sum_val((shm), (w), offsetof(struct stats_values, member))

static int64_t
gauge(const struct worker_slot *s, size_t off)
{
	return __atomic_load_n((const int64_t *)((const char *)&s->gauges + off), __ATOMIC_RELAXED);
}

/* The 99th percentile of worker w's latency histogram, in ms (upper bound). */
static double
p99_ms(const struct stats_shm *shm, uint32_t w)
{
	uint64_t count = SUM(shm, w, latency.count), cum = 0;

	if (count == 0)
		return 0;
	for (size_t i = 0; i < STATS_LATENCY_BUCKETS; i++) {
		cum += SUM(shm, w, latency.bucket[i]);
		if (cum * 100 >= count * 99)
			return (double)stats_latency_bounds_us[i] / 1000.0;
	}
	return (double)stats_latency_bounds_us[STATS_LATENCY_BUCKETS - 1] / 1000.0;
}

static void
put_worker(FILE *out, const struct stats_shm *shm, uint32_t w, const struct status_info *si)
{
	const struct worker_slot *s = stats_active_c(shm, w);
	const struct worker_slot *other = &shm->slot[2 * w + (s == &shm->slot[2 * w])];
	uint32_t st = __atomic_load_n(&s->state, __ATOMIC_RELAXED);
	uint64_t hb = __atomic_load_n(&s->heartbeat_ms, __ATOMIC_RELAXED);
	int32_t pid = __atomic_load_n(&s->pid, __ATOMIC_RELAXED);
	int32_t old = __atomic_load_n(&other->pid, __ATOMIC_RELAXED);
	const char *sep = "";

	fprintf(out, "{\"slot\":%" PRIu32 ",\"pid\":%" PRId32 ",\"generation\":%" PRIu64
	    ",\"config_generation\":%" PRIu64 ",\"state\":", w, pid,
	    __atomic_load_n(&s->generation, __ATOMIC_RELAXED),
	    __atomic_load_n(&s->config_generation, __ATOMIC_RELAXED));
	json_str(out, st < WS_STATE_COUNT ? worker_state_names[st] : "?");
	fprintf(out, ",\"since\":%" PRIu64 ",\"heartbeat_age_ms\":%" PRIu64,
	    __atomic_load_n(&s->started_s, __ATOMIC_RELAXED),
	    pid > 0 && si->now_ms > hb ? si->now_ms - hb : 0);
	fprintf(out, ",\"restarts\":%" PRIu64,
	    stat_get(&shm->slot[2 * w].restarts) + stat_get(&shm->slot[2 * w + 1].restarts));
	fprintf(out, ",\"draining_pid\":%" PRId32, old > 0 ? old : 0);
	fprintf(out, ",\"ready\":%s", stats_slot_ready(s, NULL) ? "true" : "false");
	fprintf(out, ",\"breaker\":\"%s\"",
	    gauge(s, offsetof(struct stats_gauges, breaker_open)) ? "open" :
	    gauge(s, offsetof(struct stats_gauges, breaker_half_open)) ? "half-open" : "closed");
	fprintf(out, ",\"paused\":%s",
	    gauge(s, offsetof(struct stats_gauges, paused)) ? "true" : "false");
	fprintf(out, ",\"latency_p99_ms\":%g", p99_ms(shm, w));
	fprintf(out, ",\"msgs_per_s\":%.1f", si->msgs_per_s != NULL ? si->msgs_per_s[w] : 0.0);
	/* A ready worker's reasons are warnings (a parked route), not why it is not ready. */
	for (int ready = 0; ready < 2; ready++) {
		fputs(ready ? "],\"warnings\":[" : ",\"not_ready_because\":[", out);
		sep = "";
		for (int k = 0; k < REASON_COUNT && stats_slot_ready(s, NULL) == ready; k++) {
			char why[sizeof(s->reason[k].text)];

			if (stats_reason_get(&s->reason[k], why, sizeof(why)) > 0) {
				fputs(sep, out);
				json_str(out, why);
				sep = ",";
			}
		}
	}
	fputs("],\"gauges\":{", out);
	sep = "";
#define STAT_GAUGE(f, name, help) \
	fprintf(out, "%s\"%s\":%" PRId64, sep, name, gauge(s, offsetof(struct stats_gauges, f))); \
	sep = ",";
#include "common/stats.def"
#undef STAT_GAUGE
	fputs("},\"counters\":{", out);
	sep = "";
#define STAT_COUNTER(f, name, help) \
	fprintf(out, "%s\"%s\":%" PRIu64, sep, name, SUM(shm, w, f)); \
	sep = ",";
#include "common/stats.def"
#undef STAT_COUNTER
	fputs("},\"dead_lettered\":{", out);
	sep = "";
	for (size_t r = DLQ_NONE + 1; r < DLQ_REASON_COUNT; r++) {
		fprintf(out, "%s\"%s\":%" PRIu64, sep, dlq_reason_name((enum dlq_reason)r),
		    SUM(shm, w, dead_lettered[r]));
		sep = ",";
	}
	fputs("}}", out);
}

/* Route row r's counter at `off`, over every process slot used. */
static uint64_t
route_count(const struct stats_shm *shm, unsigned r, size_t off)
{
	uint64_t sum = 0;

	for (uint32_t i = 0; i < 2 * shm->nused; i++)
		sum += stat_get((const uint64_t *)((const char *)&shm->slot[i].rcur[r] + off)) +
		    stat_get((const uint64_t *)((const char *)&shm->slot[i].rretired[r] + off));
	return sum;
}

static uint64_t
route_dead_lettered(const struct stats_shm *shm, unsigned r)
{
	uint64_t sum = 0;

	for (size_t k = DLQ_NONE + 1; k < DLQ_REASON_COUNT; k++)
		sum += route_count(shm, r, offsetof(struct stats_route_values, dead_lettered[k]));
	return sum;
}

static void
put_route(FILE *out, const struct stats_shm *shm, const struct route *r)
{
	fputs("{\"name\":", out);
	json_str(out, r->name);
	fputs(",\"file\":", out);
	json_str(out, r->file);
	fprintf(out, ",\"line\":%d,\"queue\":", r->line);
	json_str(out, r->queue);
	fputs(",\"topic\":", out);
	json_str(out, r->topic);
	fputs(",\"dead_letter_queue\":", out);
	json_str(out, r->dlq);
#define STAT_ROUTE_COUNTER(f, name, help) \
	fprintf(out, ",\"%s\":%" PRIu64, #f, \
	    route_count(shm, r->stats_idx, offsetof(struct stats_route_values, f)));
#include "common/stats.def"
#undef STAT_ROUTE_COUNTER
	fprintf(out, ",\"dead_lettered\":%" PRIu64 "}", route_dead_lettered(shm, r->stats_idx));
}

void
status_render(FILE *out, const struct stats_shm *shm, const struct status_info *si)
{
	fputs("{\"version\":", out);
	json_str(out, si->version);
	fputs(",\"instance\":", out);
	json_str(out, si->instance);
	fputs(",\"config_file\":", out);
	json_str(out, si->config_path);
	fprintf(out, ",\"generation\":%" PRIu64 ",\"started\":%" PRIu64 ",\"uptime_s\":%" PRIu64,
	    si->generation, si->started_s, si->now_s > si->started_s ? si->now_s - si->started_s : 0);
	fprintf(out, ",\"paused\":%s,\"reloading\":%s,\"stopping\":%s", si->paused ? "true" : "false",
	    si->reloading ? "true" : "false", si->stopping ? "true" : "false");
	fputs(",\"last_reload\":", out);
	if (si->reload_at_s == 0) {
		fputs("null", out);
	} else {
		fprintf(out, "{\"time\":%" PRIu64 ",\"ok\":%s,\"errors\":", si->reload_at_s,
		    si->reload_ok ? "true" : "false");
		json_lines(out, si->reload_errors);
		fputs(",\"needs_restart\":", out);
		json_lines(out, si->reload_needs_restart);
		fputc('}', out);
	}
	fputs(",\"routes\":[", out);
	for (size_t i = 0; i < si->routes->n; i++) {
		if (i > 0)
			fputc(',', out);
		put_route(out, shm, &si->routes->v[i]);
	}
	fprintf(out, "],\"workers_configured\":%" PRIu32 ",\"workers\":[", shm->nworkers);
	for (uint32_t w = 0; w < shm->nworkers; w++) {
		if (w > 0)
			fputc(',', out);
		put_worker(out, shm, w, si);
	}
	fputs("]}\n", out);
}

static void
put_duration(FILE *out, uint64_t s)
{
	if (s >= 86400)
		fprintf(out, "%" PRIu64 "d", s / 86400);
	if (s >= 3600)
		fprintf(out, "%" PRIu64 "h", s / 3600 % 24);
	if (s >= 60)
		fprintf(out, "%" PRIu64 "m", s / 60 % 60);
	fprintf(out, "%" PRIu64 "s", s % 60);
}

static void
put_time(FILE *out, uint64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	char buf[32];

	gmtime_r(&tt, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fputs(buf, out);
}

/* The lines of text, joined with ", ". */
static void
put_joined(FILE *out, const char *text)
{
	const char *sep = "";

	for (const char *p = text; p != NULL && *p != '\0';) {
		size_t n = strcspn(p, "\n");

		if (n > 0) {
			fprintf(out, "%s%.*s", sep, (int)n, p);
			sep = "; ";
		}
		p += n + (p[n] == '\n');
	}
}

void
status_render_text(FILE *out, const struct stats_shm *shm, const struct status_info *si)
{
	fprintf(out, "event-relayd %s on %s, configuration generation %" PRIu64 ", up ", si->version,
	    si->instance, si->generation);
	put_duration(out, si->now_s > si->started_s ? si->now_s - si->started_s : 0);
	fprintf(out, ", %s%s%s\n", si->config_path != NULL ? si->config_path :
	    "no configuration file (defaults and environment)", si->paused ? ", PAUSED" : "",
	    si->reloading ? ", RELOADING" : si->stopping ? ", STOPPING" : "");
	for (size_t i = 0; i < si->routes->n; i++) {
		const struct route *r = &si->routes->v[i];

		fprintf(out, "route %s: queue %s -> topic %s", r->name, r->queue, r->topic);
		if (si->routes->n > 1)
			fprintf(out, " (consumed %" PRIu64 ", published %" PRIu64 ", duplicates %" PRIu64
			    ", dead-lettered %" PRIu64 ")", route_count(shm, r->stats_idx,
			    offsetof(struct stats_route_values, consumed)), route_count(shm, r->stats_idx,
			    offsetof(struct stats_route_values, published)), route_count(shm, r->stats_idx,
			    offsetof(struct stats_route_values, duplicates)),
			    route_dead_lettered(shm, r->stats_idx));
		fputc('\n', out);
	}
	if (si->reload_at_s != 0) {
		fputs("last reload: ", out);
		put_time(out, si->reload_at_s);
		fputs(si->reload_ok ? " ok" : " FAILED: ", out);
		if (!si->reload_ok)
			put_joined(out, si->reload_errors);
		if (si->reload_needs_restart != NULL && si->reload_needs_restart[0] != '\0') {
			fputs("; needs a restart: ", out);
			put_joined(out, si->reload_needs_restart);
		}
		fputc('\n', out);
	}
	fprintf(out, "%-6s %-8s %-4s %-9s %-5s %8s %9s %10s %10s %8s %6s %7s %-9s %s\n", "WORKER",
	    "PID", "GEN", "STATE", "READY", "MSGS/S", "IN-FLIGHT", "CONSUMED", "PUBLISHED", "DUPS",
	    "DLQ", "P99MS", "BREAKER", "PAUSED");
	for (uint32_t w = 0; w < shm->nworkers; w++) {
		const struct worker_slot *s = stats_active_c(shm, w);
		uint32_t st = __atomic_load_n(&s->state, __ATOMIC_RELAXED);
		uint64_t dlq = 0;

		for (size_t r = DLQ_NONE + 1; r < DLQ_REASON_COUNT; r++)
			dlq += SUM(shm, w, dead_lettered[r]);
		fprintf(out, "%-6" PRIu32 " %-8" PRId32 " %-4" PRIu64 " %-9s %-5s %8.0f %9" PRId64
		    " %10" PRIu64 " %10" PRIu64 " %8" PRIu64 " %6" PRIu64 " %7g %-9s %s\n", w,
		    __atomic_load_n(&s->pid, __ATOMIC_RELAXED),
		    __atomic_load_n(&s->config_generation, __ATOMIC_RELAXED),
		    st < WS_STATE_COUNT ? worker_state_names[st] : "?", stats_slot_ready(s, NULL) ? "yes" : "no",
		    si->msgs_per_s != NULL ? si->msgs_per_s[w] : 0.0,
		    gauge(s, offsetof(struct stats_gauges, in_flight)), SUM(shm, w, consumed),
		    SUM(shm, w, published), SUM(shm, w, duplicates), dlq, p99_ms(shm, w),
		    gauge(s, offsetof(struct stats_gauges, breaker_open)) ? "open" :
		    gauge(s, offsetof(struct stats_gauges, breaker_half_open)) ? "half-open" : "closed",
		    gauge(s, offsetof(struct stats_gauges, paused)) ? "yes" : "no");
		for (int k = 0; k < REASON_COUNT; k++) {
			char why[sizeof(s->reason[k].text)];

			if (stats_reason_get(&s->reason[k], why, sizeof(why)) > 0)
				fprintf(out, "       %s: %s\n", stats_slot_ready(s, NULL) ? "warning" :
				    "not ready", why);
		}
	}
}
