/*
 * Unit tests of the stats segment and its Prometheus rendering. The
 * rendering of a 2-worker segment with known values (retired parts,
 * dead letters, latency observations) is compared byte for byte with
 * golden/metrics.prom, which must also pass `promtool check metrics`.
 *
 * After an intended change of the output, regenerate the golden file
 * with ER_UPDATE_GOLDEN=1 ./test_stats_render, then read the diff.
 */
#include "autoconf.h"
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/stats.h"

#define GOLDEN TEST_SRCDIR "/golden/metrics.prom"

/* Known values, different in every field so that a mix-up shows. */
static struct stats_shm *
make_shm(void)
{
	struct stats_shm *shm = stats_create(2);
	struct worker_slot *w0, *w1;
	uint64_t k = 0;

	cr_assert(shm != NULL, "stats_create(2): got NULL");
	w0 = stats_active(shm, 0);
	w1 = stats_active(shm, 1);
	/* Counter k: worker 0 has 1000(k+1) retired and k+1 current, worker 1 10(k+1). */
#define STAT_COUNTER(f, name, help) \
	k++; \
	stat_add(&w0->retired.f, 1000 * k); \
	stat_add(&w0->cur.f, k); \
	stat_add(&w1->cur.f, 10 * k);
#include "common/stats.def"
#undef STAT_COUNTER

	stat_set(&w0->gauges.in_flight, 5);
	stat_set(&w1->gauges.in_flight, 7);
	stat_set(&w0->gauges.amqp_up, 1);
	stat_set(&w0->gauges.kafka_up, 1);
	stat_set(&w1->gauges.kafka_up, 1);
	stat_set(&w1->gauges.redis_up, 1);

	stat_add(&w0->retired.dead_lettered[DLQ_invalid_json], 2);
	stat_add(&w0->cur.dead_lettered[DLQ_invalid_json], 3);
	stat_add(&w0->cur.dead_lettered[DLQ_too_large], 1);
	stat_add(&w1->cur.dead_lettered[DLQ_missing_event_id], 4);
	stat_add(&w1->retired.dead_lettered[DLQ_kafka_rejected], 1);

	/* Two routes: their rows add up to the totals' share they carry. */
	cr_assert(stats_route_register(shm, "orders") == 0, "register orders: want row 0");
	cr_assert(stats_route_register(shm, "audit") == 1, "register audit: want row 1");
	cr_assert(stats_route_register(shm, "orders") == 0, "register orders again: want row 0");
	stat_add(&w0->rcur[0].consumed, 3);
	stat_add(&w0->rretired[0].consumed, 100);
	stat_add(&w1->rcur[1].consumed, 7);
	stat_add(&w1->rcur[1].published, 6);
	stat_add(&w0->rcur[0].duplicates, 1);
	stat_add(&w0->rcur[0].dead_lettered[DLQ_invalid_json], 2);

	stats_observe_latency(&w0->retired, 250);
	stats_observe_latency(&w0->retired, 1000);
	stats_observe_latency(&w0->cur, 500);		/* on a bound: that bucket */
	stats_observe_latency(&w0->cur, 501);
	stats_observe_latency(&w0->cur, 20000000);	/* above the last bound: +Inf */
	stats_observe_latency(&w1->cur, 1234567);
	stats_observe_latency(&w1->cur, 3);
	stats_observe_latency(&w1->cur, 99999);
	/* Kafka's part: the retired and current halves add up, per worker too. */
	stats_observe_kafka(&w0->retired, 4000);
	stats_observe_kafka(&w0->cur, 6000);
	stats_observe_kafka(&w1->cur, 30000);
	stats_observe_claim(&w0->retired, 700);
	stats_observe_claim(&w0->cur, 1300);
	stats_observe_claim(&w1->cur, 2600);

	w0->restarts = 2;
	w0->state = WS_RUNNING;
	w0->pid = 1234;
	w0->generation = 3;
	w1->state = WS_STARTING;
	w1->pid = 1235;
	w1->generation = 1;
	return shm;
}

static char *
render(const struct stats_shm *shm, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);

	cr_assert(f != NULL);
	stats_render_prometheus(shm, f);
	cr_assert(fclose(f) == 0);
	return buf;
}

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	cr_assert(f != NULL, "open %s: got an error, want the golden file", path);
	cr_assert(fseek(f, 0, SEEK_END) == 0);
	n = ftell(f);
	cr_assert(n >= 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	cr_assert(buf != NULL);
	cr_assert(fread(buf, 1, (size_t)n, f) == (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* Line number and text of the first difference, for the failure message. */
static void
first_diff(const char *got, const char *want, char *msg, size_t cap)
{
	int line = 1;
	const char *g = got, *w = want;

	while (*g != '\0' && *g == *w) {
		if (*g == '\n') {
			line++;
			got = g + 1;
			want = w + 1;
		}
		g++;
		w++;
	}
	snprintf(msg, cap, "line %d: got \"%.*s\", want \"%.*s\"", line,
	    (int)strcspn(got, "\n"), got, (int)strcspn(want, "\n"), want);
}

Test(stats_render, golden)
{
	struct stats_shm *shm = make_shm();
	size_t glen, wlen;
	char *got = render(shm, &glen), *want, msg[1024];

	if (getenv("ER_UPDATE_GOLDEN") != NULL) {
		FILE *f = fopen(GOLDEN, "wb");

		cr_assert(f != NULL, "cannot write %s", GOLDEN);
		cr_assert(fwrite(got, 1, glen, f) == glen && fclose(f) == 0);
	}
	want = slurp(GOLDEN, &wlen);
	first_diff(got, want, msg, sizeof(msg));
	cr_expect(glen == wlen && memcmp(got, want, glen) == 0,
	    "render differs from " GOLDEN ": %s (got %zu bytes, want %zu)", msg, glen, wlen);
	free(got);
	free(want);
	stats_destroy(shm);
}

/* Every family name appears in exactly one # TYPE line. */
Test(stats_render, family_names_unique)
{
	struct stats_shm *shm = make_shm();
	size_t len, nfam = 0;
	char *out = render(shm, &len), *names[256];

	for (char *l = out; *l != '\0'; l = strchr(l, '\n') + 1) {
		if (strncmp(l, "# TYPE ", 7) == 0) {
			size_t n = strcspn(l + 7, " ");

			for (size_t i = 0; i < nfam; i++)
				cr_expect(strlen(names[i]) != n || strncmp(names[i], l + 7, n) != 0,
				    "family %.*s: got two # TYPE lines, want one", (int)n, l + 7);
			cr_assert(nfam < 256);
			names[nfam++] = strndup(l + 7, n);
		}
	}
	cr_expect(nfam > 20, "families: got %zu, want every table row twice", nfam);
	for (size_t i = 0; i < nfam; i++)
		free(names[i]);
	free(out);
	stats_destroy(shm);
}

/* The value of the first sample line that starts with `series `. */
static uint64_t
sample(const char *out, const char *series)
{
	size_t n = strlen(series);

	for (const char *l = out; *l != '\0'; l = strchr(l, '\n') + 1)
		if (strncmp(l, series, n) == 0 && l[n] == ' ')
			return strtoull(l + n + 1, NULL, 10);
	cr_assert(0, "series %s: got nothing, want a sample", series);
	return 0;
}

static int
is_gauge_line(const char *l)
{
	static const char *const gauges[] = {
#define STAT_GAUGE(f, name, help) "event_relay_" name, "event_relay_worker_" name,
#include "common/stats.def"
#undef STAT_GAUGE
		"event_relay_worker_up", "event_relay_worker_state",
	};

	for (size_t i = 0; i < sizeof(gauges) / sizeof(gauges[0]); i++) {
		size_t n = strlen(gauges[i]);

		if (strncmp(l, gauges[i], n) == 0 && (l[n] == ' ' || l[n] == '{'))
			return 1;
	}
	return 0;
}

Test(stats_render, retire_keeps_totals_monotonic)
{
	struct stats_shm *shm = make_shm();
	struct worker_slot *w0 = stats_active(shm, 0);
	size_t alen, blen, clen;
	char *a = render(shm, &alen), *b, *c;
	const char *la, *lb;
	uint64_t before, after;

	stats_retire(w0);
	/* Everything folded: cur and the gauges are zero. */
#define STAT_COUNTER(f, name, help) \
	cr_expect(w0->cur.f == 0, name ": cur after retire: got %" PRIu64 ", want 0", w0->cur.f);
#include "common/stats.def"
#undef STAT_COUNTER
#define STAT_GAUGE(f, name, help) \
	cr_expect(w0->gauges.f == 0, name ": gauge after retire: got %" PRId64 ", want 0", w0->gauges.f);
#include "common/stats.def"
#undef STAT_GAUGE
	for (size_t i = 0; i < DLQ_REASON_COUNT; i++)
		cr_expect(w0->cur.dead_lettered[i] == 0, "dead_lettered[%zu] after retire: got %" PRIu64
		    ", want 0", i, w0->cur.dead_lettered[i]);
	for (size_t i = 0; i < STATS_LATENCY_BUCKETS + 1; i++)
		cr_expect(w0->cur.latency.bucket[i] == 0, "latency.bucket[%zu] after retire: got %" PRIu64
		    ", want 0", i, w0->cur.latency.bucket[i]);
	cr_expect(w0->cur.latency.count == 0 && w0->cur.latency.sum_us == 0,
	    "latency count/sum after retire: got %" PRIu64 "/%" PRIu64 ", want 0/0",
	    w0->cur.latency.count, w0->cur.latency.sum_us);
	cr_expect(w0->retired.consumed == 1001, "retired consumed: got %" PRIu64 ", want 1001",
	    w0->retired.consumed);
	cr_expect(w0->rcur[0].consumed == 0 && w0->rretired[0].consumed == 103,
	    "route consumed after retire: got cur %" PRIu64 " retired %" PRIu64 ", want 0 and 103",
	    w0->rcur[0].consumed, w0->rretired[0].consumed);
	cr_expect(w0->retired.latency.count == 5, "retired latency count: got %" PRIu64 ", want 5",
	    w0->retired.latency.count);
	cr_expect(w0->cur.kafka.count == 0 && w0->cur.kafka.sum_us == 0 && w0->cur.kafka.bucket[4] == 0,
	    "kafka latency after retire: got count %" PRIu64 " sum %" PRIu64 ", want 0 and 0",
	    w0->cur.kafka.count, w0->cur.kafka.sum_us);
	cr_expect(w0->cur.claim.count == 0 && w0->retired.claim.count == 2 && w0->retired.claim.sum_us == 2000,
	    "claim latency after retire: got retired count %" PRIu64 " sum %" PRIu64 ", want 2 and 2000",
	    w0->retired.claim.count, w0->retired.claim.sum_us);
	cr_expect(w0->retired.kafka.count == 2 && w0->retired.kafka.sum_us == 10000,
	    "retired kafka latency: got count %" PRIu64 " sum %" PRIu64 ", want 2 and 10000",
	    w0->retired.kafka.count, w0->retired.kafka.sum_us);

	/* Every non-gauge line renders exactly as before the retire. */
	b = render(shm, &blen);
	for (la = a, lb = b; *la != '\0' && *lb != '\0'; la = strchr(la, '\n') + 1, lb = strchr(lb, '\n') + 1) {
		size_t na = strcspn(la, "\n"), nb = strcspn(lb, "\n");

		if (la[0] == '#' || is_gauge_line(la))
			continue;
		cr_expect(na == nb && memcmp(la, lb, na) == 0,
		    "after retire: got \"%.*s\", want \"%.*s\"", (int)nb, lb, (int)na, la);
	}
	cr_expect(*la == '\0' && *lb == '\0', "after retire: got a different number of lines");
	cr_expect(sample(b, "event_relay_worker_in_flight{worker=\"0\"}") == 0,
	    "worker 0 in_flight after retire: got non-zero, want 0");

	/* The restarted worker counts on; a second retire changes nothing. */
	before = sample(b, "event_relay_consumed_total");
	stat_add(&w0->cur.consumed, 5);
	stats_retire(w0);
	stats_retire(w0);
	c = render(shm, &clen);
	after = sample(c, "event_relay_consumed_total");
	cr_expect(after == before + 5, "consumed_total: got %" PRIu64 ", want %" PRIu64,
	    after, before + 5);
	free(a);
	free(b);
	free(c);
	stats_destroy(shm);
}

Test(stats, create_is_zeroed)
{
	struct stats_shm *shm = stats_create(3);
	const unsigned char *p;

	cr_assert(shm != NULL, "stats_create(3): got NULL");
	cr_expect(shm->magic == STATS_MAGIC, "magic: got %#x, want %#x", shm->magic, STATS_MAGIC);
	cr_expect(shm->nworkers == 3, "nworkers: got %u, want 3", shm->nworkers);
	cr_expect(shm->started_s > 0, "started_s: got 0, want the creation time");
	p = (const unsigned char *)shm->slot;
	for (size_t i = 0; i < 3 * sizeof(struct worker_slot); i++)
		if (p[i] != 0) {
			cr_expect(0, "slot byte %zu: got %u, want 0", i, p[i]);
			break;
		}
	cr_expect(stats_active(shm, 2)->state == WS_DOWN, "state: got %u, want down", stats_active(shm, 2)->state);
	stats_destroy(shm);
	cr_expect(stats_create(0) == NULL, "stats_create(0): got a segment, want NULL");
}

Test(stats, names)
{
	static const struct {
		enum dlq_reason r;
		const char *want;
	} reasons[] = {
		{ DLQ_NONE, "none" },
		{ DLQ_invalid_json, "invalid_json" },
		{ DLQ_missing_event_id, "missing_event_id" },
		{ DLQ_too_large, "too_large" },
		{ DLQ_retries_exhausted, "retries_exhausted" },
		{ DLQ_REASON_COUNT, "unknown" },
		{ (enum dlq_reason)-1, "unknown" },
	};
	static const char *const states[] = { "down", "starting", "running", "degraded", "stopping" };

	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		cr_expect(strcmp(dlq_reason_name(reasons[i].r), reasons[i].want) == 0,
		    "reason %d: got %s, want %s", (int)reasons[i].r,
		    dlq_reason_name(reasons[i].r), reasons[i].want);
	cr_assert(WS_STATE_COUNT == 5, "states: got %d, want 5", WS_STATE_COUNT);
	for (int i = 0; i < WS_STATE_COUNT; i++)
		cr_expect(strcmp(worker_state_names[i], states[i]) == 0,
		    "state %d: got %s, want %s", i, worker_state_names[i], states[i]);
}

Test(stats, latency_buckets)
{
	static const struct {
		uint64_t us;
		size_t bucket;
	} cases[] = {
		{ 0, 0 }, { 499, 0 }, { 500, 0 }, { 501, 1 }, { 1000, 1 }, { 1001, 2 },
		{ 50000, 10 }, { 50001, 11 }, { 74999, 12 }, { 75001, 13 },
		{ 9999999, STATS_LATENCY_BUCKETS - 1 }, { 10000000, STATS_LATENCY_BUCKETS - 1 },
		{ 10000001, STATS_LATENCY_BUCKETS }, { UINT64_MAX / 2, STATS_LATENCY_BUCKETS },
	};

	cr_expect(STATS_LATENCY_BUCKETS == 20, "buckets: got %d, want the 20 table rows",
	    STATS_LATENCY_BUCKETS);
	cr_expect(stats_latency_bounds_us[0] == 500 &&
	    stats_latency_bounds_us[STATS_LATENCY_BUCKETS - 1] == 10000000,
	    "bounds: got %" PRIu64 "..%" PRIu64 ", want 500..10000000",
	    stats_latency_bounds_us[0], stats_latency_bounds_us[STATS_LATENCY_BUCKETS - 1]);
	for (size_t i = 1; i < STATS_LATENCY_BUCKETS; i++)
		cr_expect(stats_latency_bounds_us[i] > stats_latency_bounds_us[i - 1],
		    "bound %zu: got %" PRIu64 ", want more than the previous", i,
		    stats_latency_bounds_us[i]);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct stats_values v;

		memset(&v, 0, sizeof(v));
		stats_observe_latency(&v, cases[i].us);
		for (size_t b = 0; b < STATS_LATENCY_BUCKETS + 1; b++)
			cr_expect(v.latency.bucket[b] == (b == cases[i].bucket),
			    "%" PRIu64 " us: bucket %zu: got %" PRIu64 ", want %d", cases[i].us, b,
			    v.latency.bucket[b], b == cases[i].bucket);
		cr_expect(v.latency.count == 1 && v.latency.sum_us == cases[i].us,
		    "%" PRIu64 " us: count/sum: got %" PRIu64 "/%" PRIu64 ", want 1/%" PRIu64,
		    cases[i].us, v.latency.count, v.latency.sum_us, cases[i].us);
	}
}
