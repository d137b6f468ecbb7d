/*
 * latency-consumer: reads a Kafka topic live and measures how long each
 * record took from its publisher to Kafka, for bench/run's latency mode.
 *
 * It assigns every partition of TOPIC (with -s STEP, every STEP-th: ids
 * 0, STEP, 2*STEP, ...) at its current end offset (asked with a
 * watermark query, so nothing produced after "ready" is missed), prints
 * "ready partitions=P" and flushes; then, for each record whose value
 * holds "ts_ms":<ms since the epoch> (what er-publish --timestamp puts in
 * the payload), it records now - ts_ms. It stops after COUNT records or
 * TIMEOUT seconds. With -s, COUNT is not known in advance: on SIGUSR1
 * (sent once everything is in Kafka) it queries the assigned partitions'
 * end offsets and stops when it has read up to them; COUNT is then what
 * they hold. Either way it prints
 *
 *   latency_consumer records=N want=COUNT no_ts=K p50_ms=.. p99_ms=.. max_ms=..
 *
 * and exits 0 if it saw COUNT records, 1 if not.
 *
 * Why sample: librdkafka's mock cluster finds a fetch's offset by walking
 * the partition's message sets from the oldest (rdkafka_mock.c
 * rd_kafka_mock_msgset_find, "FIXME: Maintain an index"), so a live
 * reader of all 48 partitions of a topic that grows by 5,000 records a
 * second took half a core of the mock (perf: 59% of its samples in that
 * loop) and its answers to the relay slowed down with it. Records are
 * spread over the partitions by the hash of their key, so every STEP-th
 * partition is a sample of the records, independent of their timing.
 *
 * The one thing to know before changing it: the latency is taken with
 * the wall clock on both sides (same host), and ts_ms is truncated to the
 * millisecond, so a figure may read up to 1 ms high; keep the consumer's
 * own fetch delay small (fetch.wait.max.ms) or it is measured too.
 */
#include "autoconf.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#define TOOL_NAME "latency-consumer"
#define TOOL_DIE_STATUS 2
#include "tool.h"

struct options {
	const char *brokers;
	const char *topic;
	long count;
	long timeout_s;
	int step;
};

static volatile sig_atomic_t stop, finish;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void on_finish(int sig)
{
	(void)sig;
	finish = 1;
}

static void usage(FILE *f, int rc)
{
	fprintf(f,
		"usage: latency-consumer -b BROKERS -t TOPIC (-n COUNT | -s STEP) [-T TIMEOUT_S]\n"
		"  reads TOPIC (-s: every STEP-th partition) from its end; for each\n"
		"  record with \"ts_ms\" in its value takes now - ts_ms; stops after\n"
		"  COUNT records (-s: on SIGUSR1, at the partitions' end offsets) or\n"
		"  TIMEOUT_S seconds (60) and prints the p50/p99/max latency in ms\n");
	exit(rc);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The number after "ts_ms": in the value, or -1. */
static long long find_ts(const char *v, size_t len)
{
	static const char key[] = "\"ts_ms\":";
	const char *p = memmem(v, len, key, sizeof(key) - 1);
	const char *end = v + len;
	long long ts = 0;
	int digits = 0;

	if (!p)
		return -1;
	for (p += sizeof(key) - 1; p < end && *p >= '0' && *p <= '9'; p++) {
		if (++digits > 15)
			return -1;
		ts = ts * 10 + (*p - '0');
	}
	return digits ? ts : -1;
}

static void set(rd_kafka_conf_t *conf, const char *name, const char *value)
{
	char err[256];

	if (rd_kafka_conf_set(conf, name, value, err, sizeof(err)) != RD_KAFKA_CONF_OK)
		die("%s=%s: %s", name, value, err);
}

/*
 * Assigns every step-th partition of the topic at its end offset; returns
 * the list assigned (offsets: where reading starts).
 */
static rd_kafka_topic_partition_list_t *assign_at_end(rd_kafka_t *rk, const char *topic, int step)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_topic_partition_list_t *parts;
	rd_kafka_topic_t *rkt;
	rd_kafka_resp_err_t err;
	int i, n, tries;

	rkt = rd_kafka_topic_new(rk, topic, NULL);
	if (!rkt)
		die("rd_kafka_topic_new %s: %s", topic,
		    rd_kafka_err2str(rd_kafka_last_error()));
	for (tries = 0;; tries++) {
		err = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
		if (err == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1 &&
		    md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
		    md->topics[0].partition_cnt > 0)
			break;
		if (err == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1)
			err = md->topics[0].err;
		if (md)
			rd_kafka_metadata_destroy(md);
		md = NULL;
		if (tries >= 20)
			die("metadata for %s: %s", topic, rd_kafka_err2str(err));
		nanosleep(&(struct timespec){ 0, 250000000 }, NULL);	/* poll metadata, 20 tries: deadline 5 s */
	}
	n = md->topics[0].partition_cnt;
	parts = rd_kafka_topic_partition_list_new(n);
	for (i = 0; i < n; i++) {
		int32_t id = md->topics[0].partitions[i].id;
		int64_t lo, hi;

		if (id % step != 0)
			continue;
		err = rd_kafka_query_watermark_offsets(rk, topic, id, &lo, &hi, 10000);
		if (err)
			die("watermarks of %s [%" PRId32 "]: %s", topic, id,
			    rd_kafka_err2str(err));
		rd_kafka_topic_partition_list_add(parts, topic, id)->offset = hi;
	}
	err = rd_kafka_assign(rk, parts);
	if (err)
		die("assign: %s", rd_kafka_err2str(err));
	rd_kafka_metadata_destroy(md);
	rd_kafka_topic_destroy(rkt);
	return parts;
}

/* Records between the start offsets of parts and the partitions' end offsets now. */
static long count_to_end(rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *parts)
{
	long total = 0;

	for (int i = 0; i < parts->cnt; i++) {
		const rd_kafka_topic_partition_t *p = &parts->elems[i];
		rd_kafka_resp_err_t err;
		int64_t lo, hi;

		err = rd_kafka_query_watermark_offsets(rk, p->topic, p->partition, &lo, &hi, 10000);
		if (err)
			die("watermarks of %s [%" PRId32 "]: %s", p->topic, p->partition,
			    rd_kafka_err2str(err));
		total += (long)(hi - p->offset);
	}
	return total;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank quantile of the sorted v[0..n-1]. */
static double quantile(const double *v, long n, double q)
{
	long rank;

	if (n == 0)
		return 0;
	rank = (long)(q * (double)n + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return v[rank - 1];
}

int main(int argc, char **argv)
{
	struct options o = { .timeout_s = 60, .step = 0 };
	rd_kafka_topic_partition_list_t *parts;
	char err[512];
	rd_kafka_conf_t *conf;
	rd_kafka_t *rk;
	double *lat, deadline;
	long got = 0, no_ts = 0, cap;
	int c, known;

	while ((c = getopt(argc, argv, "b:t:n:s:T:h")) != -1) {
		switch (c) {
		case 'b': o.brokers = optarg; break;
		case 't': o.topic = optarg; break;
		case 'n': o.count = parse_num("-n", optarg, 1, 100000000); break;
		case 's': o.step = (int)parse_num("-s", optarg, 1, 100000); break;
		case 'T': o.timeout_s = parse_num("-T", optarg, 1, 86400); break;
		case 'h': usage(stdout, 0); break;
		default: usage(stderr, 2); break;
		}
	}
	if (optind != argc || !o.brokers || !o.topic || (o.count == 0) == (o.step == 0))
		usage(stderr, 2);
	cap = o.count > 0 ? o.count : 1024;
	lat = malloc((size_t)cap * sizeof(*lat));
	if (!lat)
		die("out of memory");
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGUSR1, on_finish);

	conf = rd_kafka_conf_new();
	set(conf, "bootstrap.servers", o.brokers);
	set(conf, "group.id", "event-relay-bench-latency");
	set(conf, "enable.auto.commit", "false");
	set(conf, "enable.auto.offset.store", "false");
	set(conf, "fetch.wait.max.ms", "5");
	set(conf, "fetch.error.backoff.ms", "5");
	set(conf, "log_level", "3");
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
	if (!rk)
		die("rd_kafka_new: %s", err);
	rd_kafka_poll_set_consumer(rk);
	parts = assign_at_end(rk, o.topic, o.step > 0 ? o.step : 1);
	printf("ready partitions=%d\n", parts->cnt);
	fflush(stdout);

	deadline = mono_s() + (double)o.timeout_s;
	known = o.count > 0;
	while (!stop && mono_s() < deadline) {
		rd_kafka_message_t *m;
		double now;
		long long ts;

		if (finish && !known) {
			o.count = count_to_end(rk, parts);
			known = 1;
		}
		if (known && got + no_ts >= o.count)
			break;
		m = rd_kafka_consumer_poll(rk, 100);
		if (!m)
			continue;
		now = now_ms();
		if (m->err) {
			if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
				fprintf(stderr, "latency-consumer: %s\n",
					rd_kafka_message_errstr(m));
			rd_kafka_message_destroy(m);
			continue;
		}
		ts = m->payload ? find_ts(m->payload, m->len) : -1;
		if (ts < 0) {
			no_ts++;
		} else {
			if (got == cap) {
				double *bigger = realloc(lat, (size_t)cap * 2 * sizeof(*lat));

				if (!bigger)
					die("out of memory");
				lat = bigger;
				cap *= 2;
			}
			lat[got++] = now - (double)ts;
		}
		rd_kafka_message_destroy(m);
	}
	rd_kafka_topic_partition_list_destroy(parts);
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);

	qsort(lat, (size_t)got, sizeof(*lat), cmp_double);
	printf("latency_consumer records=%ld want=%ld no_ts=%ld p50_ms=%.1f "
	       "p99_ms=%.1f max_ms=%.1f\n", got, o.count, no_ts,
	       quantile(lat, got, 0.50), quantile(lat, got, 0.99),
	       got ? lat[got - 1] : 0.0);
	free(lat);
	return got == o.count ? 0 : 1;
}
