/*
 * bare-producer: what librdkafka alone costs, for bench/run's
 * producer-only rows: the Kafka side of the relay with nothing else.
 *
 * Produces COUNT records to TOPIC with the relay's own producer settings
 * (src/worker/kafka_defaults.def: idempotent, acks=all, linger.ms 5, ...,
 * then each -X PROPERTY=VALUE), keyed like the relay's records (the event
 * id, "ev-%08ld", so the default partitioner spreads them over the
 * partitions the same way), values of BODY bytes.
 *
 * Flat (no -r): as fast as librdkafka takes them, then waits for every
 * delivery report. Paced (-r RATE): wakes every 2 ms, the spacing of a
 * worker's loop (worker.c LOOP_MIN_US), produces the records due by then
 * and serves the delivery reports that came; so a record waits for a
 * tick as a delivery waits for the worker's next loop. It prints
 * "bare_producer ready" once it has the topic's metadata and starts to
 * produce (for a caller running other work alongside), then
 *
 *   bare_producer msgs=N seconds=S rate=R cpu_us_per_msg=C
 *     dr_p50_ms=.. dr_p99_ms=.. dr_max_ms=.. errors=E rq_wait_us=W
 *
 * S runs from the first produce to the last delivery report; C is the
 * CPU (user + system, all threads) over that time, per record; dr_* is
 * produce to delivery report; W is how long its threads waited for a
 * CPU per wake-up, on average (run-queue wait over timeslices, from
 * /proc/self/task/TID/schedstat). Exit 1 if a record failed. SIGTERM
 * or SIGINT ends the producing early (the figures then count the records
 * produced until then): a caller can keep it producing at a rate for as
 * long as other work takes.
 *
 * The one thing to know before changing it: this is the floor under the
 * relay's Kafka side; it does per record only what the relay cannot
 * avoid (one rd_kafka_producev, one delivery report). Do not add work
 * here that the relay does for other reasons (Redis, AMQP, headers).
 */
#include "autoconf.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#define TOOL_NAME "bare-producer"
#include "tool.h"

#define TICK_US 2000	/* worker.c LOOP_MIN_US */

struct options {
	const char *brokers;
	const char *topic;
	long count;
	long rate;
	long body;
	const char *props[32];
	size_t nprops;
};

struct state {
	uint64_t *sent_us;	/* produce time of record i */
	uint32_t *lat_us;	/* produce to delivery report, in report order */
	long reported;
	long errors;
	uint64_t last_report_us;
};

static volatile sig_atomic_t stopping;

static void on_stop(int sig)
{
	(void)sig;
	stopping = 1;
}

static void usage(FILE *f, int rc)
{
	fprintf(f,
		"usage: bare-producer -b BROKERS -t TOPIC -n COUNT [-r RATE] [-s BODY]\n"
		"         [-X PROPERTY=VALUE]...\n"
		"  produces COUNT records with the relay's producer settings, flat out\n"
		"  or at RATE records/s; prints 'bare_producer ready' as it starts,\n"
		"  then 'bare_producer msgs=N seconds=S\n"
		"  rate=R cpu_us_per_msg=C dr_p50_ms=.. dr_p99_ms=.. dr_max_ms=..\n"
		"  errors=E rq_wait_us=W' (W: run-queue wait per wake-up); exit 1 if a\n"
		"  record failed; on SIGTERM or SIGINT it stops producing, waits for\n"
		"  the reports of what it produced and prints the same\n");
	exit(rc);
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t cpu_us(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

/* Run-queue wait (us) and timeslices of all this process's threads. */
static void sched_totals(double *wait_us, double *slices)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;

	*wait_us = *slices = 0;
	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		char path[300];
		unsigned long long on, wait, n;
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/schedstat", e->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		if (fscanf(f, "%llu %llu %llu", &on, &wait, &n) == 3) {
			*wait_us += (double)wait / 1000.0;
			*slices += (double)n;
		}
		fclose(f);
	}
	closedir(d);
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct state *st = opaque;
	uint64_t t = now_us();
	long i = (long)(uintptr_t)m->_private;

	(void)rk;
	if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		if (st->errors++ == 0)
			fprintf(stderr, "bare-producer: record %ld: %s\n", i, rd_kafka_err2str(m->err));
	}
	st->lat_us[st->reported++] = (uint32_t)(t - st->sent_us[i]);
	st->last_report_us = t;
}

static rd_kafka_t *make_producer(const struct options *o, struct state *st)
{
	static const char *const defaults[][2] = {
#define KAFKA_DEFAULT(name, value) {name, value},
#include "worker/kafka_defaults.def"
#undef KAFKA_DEFAULT
	};
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char err[512];
	rd_kafka_t *rk;

	for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
		if (rd_kafka_conf_set(conf, defaults[i][0], defaults[i][1], err, sizeof(err)) !=
		    RD_KAFKA_CONF_OK)
			die("%s: %s", defaults[i][0], err);
	/* The relay reads its statistics; nobody reads them here. */
	rd_kafka_conf_set(conf, "statistics.interval.ms", "0", err, sizeof(err));
	if (rd_kafka_conf_set(conf, "bootstrap.servers", o->brokers, err, sizeof(err)) !=
	    RD_KAFKA_CONF_OK)
		die("bootstrap.servers: %s", err);
	for (size_t i = 0; i < o->nprops; i++) {
		char name[256];
		const char *eq = strchr(o->props[i], '=');
		size_t n = eq != NULL ? (size_t)(eq - o->props[i]) : 0;

		if (n == 0 || n >= sizeof(name))
			die("-X %s: want PROPERTY=VALUE", o->props[i]);
		memcpy(name, o->props[i], n);
		name[n] = '\0';
		if (rd_kafka_conf_set(conf, name, eq + 1, err, sizeof(err)) != RD_KAFKA_CONF_OK)
			die("-X %s: %s", name, err);
	}
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	rd_kafka_conf_set_opaque(conf, st);
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	if (rk == NULL)
		die("rd_kafka_new: %s", err);
	return rk;
}

/* Produces record I; on a full queue serves reports and tries again. */
static void produce_one(rd_kafka_t *rk, const struct options *o, struct state *st, long i,
			const char *body)
{
	char key[32];
	int klen = snprintf(key, sizeof(key), "ev-%08ld", i + 1);

	for (;;) {
		rd_kafka_resp_err_t err;

		st->sent_us[i] = now_us();
		err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(o->topic),
					RD_KAFKA_V_KEY(key, (size_t)klen),
					RD_KAFKA_V_VALUE((void *)(uintptr_t)body, (size_t)o->body),
					RD_KAFKA_V_MSGFLAGS(0),
					RD_KAFKA_V_OPAQUE((void *)(uintptr_t)i), RD_KAFKA_V_END);
		if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
			return;
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
			die("produce: %s", rd_kafka_err2str(err));
		rd_kafka_poll(rk, 1);
	}
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

static double pct_ms(const uint32_t *v, long n, double p)
{
	long i = (long)(p * (double)(n - 1) + 0.5);

	return n > 0 ? (double)v[i] / 1000.0 : 0.0;
}

int main(int argc, char **argv)
{
	struct options o = { .body = 200 };
	struct state st = { 0 };
	uint64_t t0, cpu0, next_tick;
	double wait0, slices0, wait1, slices1;
	rd_kafka_t *rk;
	char *body;
	long i = 0;
	double secs;
	int c;

	while ((c = getopt(argc, argv, "b:t:n:r:s:X:h")) != -1) {
		switch (c) {
		case 'b': o.brokers = optarg; break;
		case 't': o.topic = optarg; break;
		case 'n': o.count = parse_num("-n", optarg, 1, 50000000); break;
		case 'r': o.rate = parse_num("-r", optarg, 1, 10000000); break;
		case 's': o.body = parse_num("-s", optarg, 0, 16 << 20); break;
		case 'X':
			if (o.nprops == sizeof(o.props) / sizeof(o.props[0]))
				die("too many -X");
			o.props[o.nprops++] = optarg;
			break;
		case 'h': usage(stdout, 0); break;
		default: usage(stderr, 2); break;
		}
	}
	if (o.brokers == NULL || o.topic == NULL || o.count == 0 || optind != argc)
		usage(stderr, 2);
	st.sent_us = calloc((size_t)o.count, sizeof(*st.sent_us));
	st.lat_us = calloc((size_t)o.count, sizeof(*st.lat_us));
	body = malloc((size_t)o.body + 1);
	if (st.sent_us == NULL || st.lat_us == NULL || body == NULL)
		die("out of memory");
	memset(body, 'x', (size_t)o.body);
	rk = make_producer(&o, &st);

	/* Metadata first, so the timed part does not include the lookup. */
	{
		rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, o.topic, NULL);
		const struct rd_kafka_metadata *md;

		if (rkt == NULL ||
		    rd_kafka_metadata(rk, 0, rkt, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR)
			die("no metadata for topic %s", o.topic);
		rd_kafka_metadata_destroy(md);
		rd_kafka_topic_destroy(rkt);
	}
	{
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_stop;
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGINT, &sa, NULL);
	}
	/* For a caller that starts other work when the producers do. */
	printf("bare_producer ready\n");
	fflush(stdout);

	t0 = now_us();
	cpu0 = cpu_us();
	sched_totals(&wait0, &slices0);
	next_tick = t0;
	while (i < o.count && !stopping) {
		long due = o.count;

		if (o.rate > 0) {
			uint64_t t = now_us();

			due = (long)((double)(t - t0) * (double)o.rate / 1e6) + 1;
			if (due > o.count)
				due = o.count;
		}
		for (; i < due; i++)
			produce_one(rk, &o, &st, i, body);
		rd_kafka_poll(rk, 0);
		if (o.rate > 0 && i < o.count) {
			struct timespec ts;
			uint64_t t = now_us();

			next_tick += TICK_US;
			if (next_tick > t) {
				ts.tv_sec = 0;
				ts.tv_nsec = (long)(next_tick - t) * 1000;
				nanosleep(&ts, NULL);
			} else {
				next_tick = t;
			}
		}
	}
	while (st.reported < i)
		rd_kafka_poll(rk, 100);
	if (st.reported == 0)
		die("stopped before a record was produced");
	secs = (double)(st.last_report_us - t0) / 1e6;
	{
		uint64_t cpu = cpu_us() - cpu0;

		sched_totals(&wait1, &slices1);
		qsort(st.lat_us, (size_t)st.reported, sizeof(*st.lat_us), cmp_u32);
		printf("bare_producer msgs=%ld seconds=%.3f rate=%.0f cpu_us_per_msg=%.1f "
		       "dr_p50_ms=%.1f dr_p99_ms=%.1f dr_max_ms=%.1f errors=%ld rq_wait_us=%.1f\n",
		       st.reported, secs, secs > 0 ? (double)st.reported / secs : 0.0,
		       (double)cpu / (double)st.reported, pct_ms(st.lat_us, st.reported, 0.50),
		       pct_ms(st.lat_us, st.reported, 0.99),
		       (double)st.lat_us[st.reported - 1] / 1000.0, st.errors,
		       slices1 > slices0 ? (wait1 - wait0) / (slices1 - slices0) : 0.0);
	}
	fflush(stdout);
	rd_kafka_destroy(rk);
	free(st.sent_us);
	free(st.lat_us);
	free(body);
	return st.errors > 0 ? 1 : 0;
}
