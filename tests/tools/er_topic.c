/*
 * er-topic: reads Kafka topics back for the route tests, exactly: key,
 * value and every header (null told apart from empty, any bytes),
 * partition, offset and timestamp. kcat -J writes bytes 0x80-0xff raw
 * into its JSON (not valid UTF-8) and its -f format cannot tell a null
 * header from an empty one, hence this tool.
 *
 *   er-topic -b BROKERS [-T TIMEOUT_S] TOPIC...
 *   er-topic -b BROKERS -l            (the cluster's topics, one a line)
 *
 * For each TOPIC, each partition from its low to its high watermark (as
 * they were when it started), one line per record, tab-separated:
 *
 *   TOPIC PARTITION OFFSET TSTYPE:TIMESTAMP_MS KEY VALUE [NAME=VALUE]...
 *
 * TSTYPE is create, append or none; KEY, VALUE and the header values use
 * esc.h's escapes, \N for a null; header names escape '=' too. Records
 * come out in partition order, then offset order: the order of one key.
 *
 * Exit 0; 1 on an error or when the records are not all read within
 * TIMEOUT_S (60); 3 when a topic does not exist (it is not read: the
 * 2.0.2 mock cluster creates any topic a client asks about by name, so
 * existence is checked in the cluster's list of topics first).
 */
#include "autoconf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "esc.h"

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
remaining_ms(double deadline)
{
	double left = deadline - now_s();

	return left <= 0 ? 0 : (int)(left * 1000) + 1;
}

static void
print_record(const char *topic, const rd_kafka_message_t *m)
{
	rd_kafka_timestamp_type_t tstype;
	rd_kafka_headers_t *hdrs = NULL;
	int64_t ts = rd_kafka_message_timestamp(m, &tstype);

	printf("%s\t%" PRId32 "\t%" PRId64 "\t%s:%" PRId64 "\t", topic, m->partition, m->offset,
	    tstype == RD_KAFKA_TIMESTAMP_CREATE_TIME ? "create" :
	    tstype == RD_KAFKA_TIMESTAMP_LOG_APPEND_TIME ? "append" : "none", ts);
	esc_write_nullable(stdout, m->key, m->key_len, NULL);
	putchar('\t');
	esc_write_nullable(stdout, m->payload, m->len, NULL);
	if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
		const char *name;
		const void *val;
		size_t size;

		for (size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &val, &size) ==
		    RD_KAFKA_RESP_ERR_NO_ERROR; i++) {
			putchar('\t');
			esc_write(stdout, name, strlen(name), "=");
			putchar('=');
			esc_write_nullable(stdout, val, size, NULL);
		}
	}
	putchar('\n');
}

/* Reads one partition from lo to hi; 0, or -1. */
static int
read_partition(rd_kafka_topic_t *rkt, const char *topic, int32_t p, int64_t lo, int64_t hi,
    double deadline)
{
	int rc = 0;

	if (rd_kafka_consume_start(rkt, p, lo) < 0) {
		fprintf(stderr, "er-topic: %s [%" PRId32 "]: consume_start: %s\n", topic, p,
		    rd_kafka_err2str(rd_kafka_last_error()));
		return -1;
	}
	for (;;) {
		rd_kafka_message_t *m;
		int64_t off;

		if (remaining_ms(deadline) == 0) {
			fprintf(stderr, "er-topic: %s [%" PRId32 "]: timed out before offset %" PRId64
			    "\n", topic, p, hi);
			rc = -1;
			break;
		}
		m = rd_kafka_consume(rkt, p, remaining_ms(deadline) < 500 ? remaining_ms(deadline) : 500);
		if (m == NULL)
			continue;
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			off = m->offset;
			rd_kafka_message_destroy(m);
			if (off >= hi)
				break;
			continue;
		}
		if (m->err) {
			fprintf(stderr, "er-topic: %s [%" PRId32 "]: %s\n", topic, p,
			    rd_kafka_message_errstr(m));
			rd_kafka_message_destroy(m);
			rc = -1;
			break;
		}
		off = m->offset;
		if (off < hi)
			print_record(topic, m);
		rd_kafka_message_destroy(m);
		if (off + 1 >= hi)
			break;
	}
	rd_kafka_consume_stop(rkt, p);
	return rc;
}

/* 0, -1 on an error, -3 when the topic does not exist. */
static int
read_topic(rd_kafka_t *rk, const char *topic, double deadline)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
	rd_kafka_resp_err_t err;
	int rc = 0, nparts;
	int32_t *parts;

	if (rkt == NULL) {
		fprintf(stderr, "er-topic: %s: %s\n", topic, rd_kafka_err2str(rd_kafka_last_error()));
		return -1;
	}
	err = rd_kafka_metadata(rk, 0, rkt, &md, remaining_ms(deadline));
	if (err || md->topic_cnt != 1) {
		fprintf(stderr, "er-topic: %s: metadata: %s\n", topic, rd_kafka_err2str(err));
		if (md)
			rd_kafka_metadata_destroy(md);
		rd_kafka_topic_destroy(rkt);
		return -1;
	}
	if (md->topics[0].err) {
		err = md->topics[0].err;
		fprintf(stderr, "er-topic: %s: %s\n", topic, rd_kafka_err2str(err));
		rd_kafka_metadata_destroy(md);
		rd_kafka_topic_destroy(rkt);
		return err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ? -3 : -1;
	}
	nparts = md->topics[0].partition_cnt;
	parts = calloc((size_t)nparts + 1, sizeof(*parts));
	if (parts == NULL) {
		fprintf(stderr, "er-topic: out of memory\n");
		rd_kafka_metadata_destroy(md);
		rd_kafka_topic_destroy(rkt);
		return -1;
	}
	for (int i = 0; i < nparts; i++)
		parts[i] = md->topics[0].partitions[i].id;
	rd_kafka_metadata_destroy(md);
	/* Partition order, whatever order the metadata listed them in. */
	for (int i = 1; i < nparts; i++)
		for (int j = i; j > 0 && parts[j - 1] > parts[j]; j--) {
			int32_t t = parts[j];

			parts[j] = parts[j - 1];
			parts[j - 1] = t;
		}
	for (int i = 0; i < nparts && rc == 0; i++) {
		int64_t lo, hi;

		err = rd_kafka_query_watermark_offsets(rk, topic, parts[i], &lo, &hi,
		    remaining_ms(deadline));
		if (err) {
			fprintf(stderr, "er-topic: %s [%" PRId32 "]: watermarks: %s\n", topic,
			    parts[i], rd_kafka_err2str(err));
			rc = -1;
		} else if (hi > lo) {
			rc = read_partition(rkt, topic, parts[i], lo, hi, deadline);
		}
	}
	free(parts);
	rd_kafka_topic_destroy(rkt);
	return rc;
}

/* The cluster's topics (asking for all of them creates none); NULL on an error. */
static const struct rd_kafka_metadata *
all_topics(rd_kafka_t *rk, double deadline)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, NULL, &md, remaining_ms(deadline));

	if (err) {
		fprintf(stderr, "er-topic: metadata: %s\n", rd_kafka_err2str(err));
		return NULL;
	}
	return md;
}

static int
has_topic(const struct rd_kafka_metadata *md, const char *topic)
{
	for (int i = 0; i < md->topic_cnt; i++)
		if (md->topics[i].err == 0 && strcmp(md->topics[i].topic, topic) == 0)
			return 1;
	return 0;
}

static int
set(rd_kafka_conf_t *conf, const char *k, const char *v)
{
	char err[256];

	if (rd_kafka_conf_set(conf, k, v, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
		fprintf(stderr, "er-topic: %s=%s: %s\n", k, v, err);
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	const struct rd_kafka_metadata *md;
	const char *brokers = NULL;
	rd_kafka_conf_t *conf;
	rd_kafka_t *rk;
	double deadline;
	long timeout = 60;
	int c, list = 0, rc = 0;
	char err[256];

	while ((c = getopt(argc, argv, "b:T:l")) != -1) {
		switch (c) {
		case 'b': brokers = optarg; break;
		case 'T': timeout = atol(optarg); break;
		case 'l': list = 1; break;
		default: goto usage;
		}
	}
	if (brokers == NULL || timeout <= 0 || (list ? optind != argc : optind == argc))
		goto usage;
	deadline = now_s() + (double)timeout;

	conf = rd_kafka_conf_new();
	if (set(conf, "bootstrap.servers", brokers) < 0 ||
	    set(conf, "enable.partition.eof", "true") < 0 ||
	    set(conf, "allow.auto.create.topics", "false") < 0 ||
	    set(conf, "fetch.message.max.bytes", "104857600") < 0 ||
	    set(conf, "receive.message.max.bytes", "209715200") < 0 ||
	    set(conf, "fetch.wait.max.ms", "10") < 0 ||
	    set(conf, "log_level", "3") < 0) {
		rd_kafka_conf_destroy(conf);
		return 1;
	}
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
	if (rk == NULL) {
		fprintf(stderr, "er-topic: rd_kafka_new: %s\n", err);
		rd_kafka_conf_destroy(conf);
		return 1;
	}
	md = all_topics(rk, deadline);
	if (md == NULL) {
		rc = 1;
	} else if (list) {
		for (int i = 0; i < md->topic_cnt; i++)
			if (md->topics[i].err == 0)
				printf("%s\n", md->topics[i].topic);
	} else {
		for (int i = optind; i < argc && rc != 1; i++) {
			int r = -3;

			if (has_topic(md, argv[i]))
				r = read_topic(rk, argv[i], deadline);
			else
				fprintf(stderr, "er-topic: %s: no such topic\n", argv[i]);
			if (r == -1)
				rc = 1;
			else if (r == -3 && rc == 0)
				rc = 3;
		}
	}
	if (md != NULL)
		rd_kafka_metadata_destroy(md);
	if (fflush(stdout) != 0) {
		fprintf(stderr, "er-topic: stdout: %s\n", strerror(errno));
		rc = 1;
	}
	rd_kafka_destroy(rk);
	return rc;
usage:
	fprintf(stderr, "usage: er-topic -b BROKERS [-T TIMEOUT_S] TOPIC...\n"
	    "       er-topic -b BROKERS [-T TIMEOUT_S] -l\n");
	return 2;
}
