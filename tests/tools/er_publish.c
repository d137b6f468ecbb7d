/*
 * er-publish: publishes test events to a RabbitMQ queue with publisher
 * confirms, for the integration tests and the benchmark.
 *
 * Event i has the body
 *   {"event_id":"ev-<i, 8 digits>","correlation_id":"corr-<i>",
 *    "payload":{"seq":<i>,"pad":"xxx..."}}
 * (one line, no spaces); with --timestamp the payload also carries the
 * publish time, {"seq":<i>,"ts_ms":<ms since the epoch>,"pad":"..."}, for
 * the benchmark's publish-to-Kafka latency. --rate R paces the publishes
 * (every message, duplicates and poison included) at R per second. --expected writes, for each distinct event,
 * "<event_id>\t<payload bytes>\t<correlation_id>", which is what the
 * implicit route must put in Kafka (key, value, header). Events come out
 * in sequence order, so the file is sorted under LC_ALL=C as long as the
 * sequence numbers fit in 8 digits.
 *
 * --trace gives events W3C trace context headers, by sequence number: an
 * even one a sampled traceparent 00-<trace id>-<span id>-01 and the
 * tracestate "er=t<seq>", one of 1 mod 4 an unsampled traceparent (flags
 * 00), the others none. The ids follow the sequence number: trace id
 * 7e1a7e1a00000000 then seq as 16 hex digits, span id 5a00000000000000
 * + seq (the tracing tests compute them the same way).
 *
 * The one thing to know before changing it: the confirms are counted
 * by src/ctl/amqp_client.c, with at most WINDOW publishes unconfirmed,
 * so the tool never waits for a confirm per message; the harness and
 * every integration test read this tool's output, so keep it as it is.
 */
#include "autoconf.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <amqp.h>

#include "ctl/amqp_client.h"

#define WINDOW 500
#define MAX_BODY (64u * 1024 * 1024)

struct options {
	const char *url;
	const char *queue;
	const char *expected;
	const char *raw;
	long count;
	long start;
	long dup_every;
	long poison_every;
	long size;
	long rate;              /* messages per second, 0: as fast as possible */
	bool persistent;
	bool timestamp;
	bool passive;           /* the queue exists (of any type): declare passively */
	bool trace;
};

static struct amqp_client cl;
static const amqp_channel_t CHANNEL = 1;

/* Pacing (--rate): start time and messages paced so far. */
static struct timespec pace_start;
static uint64_t paced;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("er-publish: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void usage(FILE *f, int rc)
{
	fprintf(f,
		"usage: er-publish -u URL -q QUEUE [-n COUNT] [-s START]\n"
		"         [--dup-every K] [--poison-every K] [--size BYTES]\n"
		"         [--persistent] [--expected FILE] [--raw FILE]\n"
		"         [--rate MSGS_PER_S] [--timestamp] [--trace] [--passive]\n"
		"  publishes COUNT events (or each line of --raw FILE) to QUEUE\n"
		"  (declared durable, or passively with --passive: a queue of any\n"
		"  type that exists) through the default exchange, with\n"
		"  publisher confirms; exit 1 on a nack or a broker error.\n"
		"  --rate paces the messages; --timestamp puts \"ts_ms\" (publish\n"
		"  time, ms since the epoch) into each event's payload; --trace\n"
		"  gives even events a sampled traceparent, 1 mod 4 an unsampled one\n");
	exit(rc);
}

static long parse_num(const char *opt, const char *s, long min)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min) {
		fprintf(stderr, "er-publish: %s: want a number >= %ld, got '%s'\n",
			opt, min, s);
		exit(2);
	}
	return v;
}

/* --trace: event seq's headers into t (entries e), or 0 entries. */
static void trace_headers(const struct options *o, long seq, amqp_table_t *t,
			  amqp_table_entry_t *e, char *tp, char *ts)
{
	t->num_entries = 0;
	t->entries = e;
	if (!o->trace || seq < 0 || seq % 4 == 3)
		return;
	snprintf(tp, 56, "00-7e1a7e1a00000000%016lx-%016llx-%s", (unsigned long)seq,
		 0x5a00000000000000ULL + (unsigned long long)seq, seq % 2 == 0 ? "01" : "00");
	e[0].key = amqp_cstring_bytes("traceparent");
	e[0].value.kind = AMQP_FIELD_KIND_UTF8;
	e[0].value.value.bytes = amqp_cstring_bytes(tp);
	t->num_entries = 1;
	if (seq % 2 == 0) {
		snprintf(ts, 32, "er=t%ld", seq);
		e[1].key = amqp_cstring_bytes("tracestate");
		e[1].value.kind = AMQP_FIELD_KIND_UTF8;
		e[1].value.value.bytes = amqp_cstring_bytes(ts);
		t->num_entries = 2;
	}
}

static void publish(const struct options *o, const char *body, size_t len, long seq)
{
	amqp_basic_properties_t props;
	amqp_table_entry_t e[2];
	char tp[56], ts[32];

	memset(&props, 0, sizeof(props));
	props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
	props.delivery_mode = o->persistent ? 2 : 1;
	trace_headers(o, seq, &props.headers, e, tp, ts);
	if (props.headers.num_entries > 0)
		props._flags |= AMQP_BASIC_HEADERS_FLAG;
	if (amqp_client_publish(&cl, CHANNEL, "", o->queue, 0, &props, body, len, NULL) < 0)
		die("%s", cl.err);
}

/* Takes the confirms that have come, when any can have come. */
static void take_confirms(void)
{
	if ((amqp_client_unconfirmed(&cl) > 0 || amqp_frames_enqueued(cl.conn) ||
	     amqp_data_in_buffer(cl.conn)) && amqp_client_take_confirms(&cl) < 0)
		die("%s", cl.err);
}

static double elapsed_s(const struct timespec *since)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - since->tv_sec) +
	       (double)(now.tv_nsec - since->tv_nsec) / 1e9;
}

/*
 * --rate: waits until the next message is due (message k at start + k/R),
 * taking confirms while it waits. A publisher that fell behind catches up
 * without sleeping, so the average rate holds.
 */
static void pace(const struct options *o)
{
	struct timespec due;
	uint64_t ns;

	if (o->rate <= 0)
		return;
	if (paced == 0)
		clock_gettime(CLOCK_MONOTONIC, &pace_start);
	ns = paced * UINT64_C(1000000000) / (uint64_t)o->rate;
	paced++;
	due.tv_sec = pace_start.tv_sec + (time_t)(ns / 1000000000);
	due.tv_nsec = pace_start.tv_nsec + (long)(ns % 1000000000);
	if (due.tv_nsec >= 1000000000) {
		due.tv_sec++;
		due.tv_nsec -= 1000000000;
	}
	take_confirms();
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &due, NULL) == EINTR)
		;
}

/* Milliseconds since the epoch, for --timestamp. */
static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void connect_broker(const struct options *o)
{
	amqp_client_init(&cl, 0);
	if (amqp_client_connect_str(&cl, o->url) < 0 ||
	    amqp_client_channel_open(&cl, CHANNEL) < 0 ||
	    amqp_client_queue_declare(&cl, CHANNEL, o->queue, o->passive, NULL) < 0 ||
	    amqp_client_confirm_select(&cl, CHANNEL, WINDOW, NULL, NULL) < 0)
		die("%s", cl.err);
}

/*
 * Writes event seq's body into buf (size bufsz); sets *payload to it.
 * ts_ms < 0: no "ts_ms" member.
 */
static size_t format_event(char *buf, size_t bufsz, long seq, long size,
			   long long ts_ms, size_t *payload_off,
			   size_t *payload_len)
{
	char ts[32] = "";
	size_t base, pad = 0;
	int n;

	if (ts_ms >= 0)
		snprintf(ts, sizeof(ts), "\"ts_ms\":%lld,", ts_ms);
	/* The body without padding, to size the padding. */
	n = snprintf(buf, bufsz,
		     "{\"event_id\":\"ev-%08ld\",\"correlation_id\":\"corr-%ld\","
		     "\"payload\":{\"seq\":%ld,%s\"pad\":\"\"}}",
		     seq, seq, seq, ts);
	if (n < 0 || (size_t)n >= bufsz)
		die("event %ld does not fit", seq);
	base = (size_t)n;
	if ((size_t)size > base)
		pad = (size_t)size - base;
	if (base + pad >= bufsz)
		die("event %ld does not fit", seq);

	n = snprintf(buf, bufsz,
		     "{\"event_id\":\"ev-%08ld\",\"correlation_id\":\"corr-%ld\","
		     "\"payload\":{\"seq\":%ld,%s\"pad\":\"",
		     seq, seq, seq, ts);
	memset(buf + n, 'x', pad);
	memcpy(buf + n + pad, "\"}}", 4);
	*payload_off = (size_t)(strstr(buf, "\"payload\":") - buf) + 10;
	*payload_len = base + pad - 1 - *payload_off;
	return base + pad;
}

static void publish_events(const struct options *o, FILE *expected,
			   unsigned long *events, unsigned long *dups,
			   unsigned long *poison)
{
	size_t bufsz = (size_t)o->size + 256;
	char *buf = malloc(bufsz);
	char pbuf[64];
	long k;

	if (!buf)
		die("out of memory");
	for (k = 1; k <= o->count; k++) {
		long seq = o->start + k - 1;
		size_t off, plen, len;

		pace(o);
		len = format_event(buf, bufsz, seq, o->size,
				   o->timestamp ? now_ms() : -1, &off, &plen);
		publish(o, buf, len, seq);
		(*events)++;
		if (expected &&
		    fprintf(expected, "ev-%08ld\t%.*s\tcorr-%ld\n", seq,
			    (int)plen, buf + off, seq) < 0)
			die("%s: %s", o->expected, strerror(errno));
		if (o->dup_every && k % o->dup_every == 0) {
			pace(o);
			publish(o, buf, len, seq);
			(*dups)++;
		}
		if (o->poison_every && k % o->poison_every == 0) {
			int n = snprintf(pbuf, sizeof(pbuf), "poison-%ld", seq);

			pace(o);
			publish(o, pbuf, (size_t)n, -1);
			(*poison)++;
		}
	}
	free(buf);
}

static void publish_raw(const struct options *o, unsigned long *events)
{
	FILE *f = fopen(o->raw, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (!f)
		die("%s: %s", o->raw, strerror(errno));
	while ((n = getline(&line, &cap, f)) >= 0) {
		if (n > 0 && line[n - 1] == '\n')
			n--;
		if ((size_t)n > MAX_BODY)
			die("%s: line too long", o->raw);
		pace(o);
		publish(o, line, (size_t)n, -1);
		(*events)++;
	}
	if (ferror(f))
		die("%s: %s", o->raw, strerror(errno));
	free(line);
	fclose(f);
}

int main(int argc, char **argv)
{
	enum { OPT_DUP = 256, OPT_POISON, OPT_SIZE, OPT_PERSIST, OPT_PASSIVE, OPT_EXPECTED,
	       OPT_RAW, OPT_RATE, OPT_TIMESTAMP, OPT_TRACE };
	static const struct option longopts[] = {
		{ "url", required_argument, NULL, 'u' },
		{ "queue", required_argument, NULL, 'q' },
		{ "count", required_argument, NULL, 'n' },
		{ "start", required_argument, NULL, 's' },
		{ "dup-every", required_argument, NULL, OPT_DUP },
		{ "poison-every", required_argument, NULL, OPT_POISON },
		{ "size", required_argument, NULL, OPT_SIZE },
		{ "persistent", no_argument, NULL, OPT_PERSIST },
		{ "passive", no_argument, NULL, OPT_PASSIVE },
		{ "expected", required_argument, NULL, OPT_EXPECTED },
		{ "raw", required_argument, NULL, OPT_RAW },
		{ "rate", required_argument, NULL, OPT_RATE },
		{ "timestamp", no_argument, NULL, OPT_TIMESTAMP },
		{ "trace", no_argument, NULL, OPT_TRACE },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct options o = { .count = 1, .start = 1, .size = 200 };
	unsigned long events = 0, dups = 0, poison = 0;
	FILE *expected = NULL;
	double paced_s = 0;
	int c;

	while ((c = getopt_long(argc, argv, "u:q:n:s:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'u': o.url = optarg; break;
		case 'q': o.queue = optarg; break;
		case 'n': o.count = parse_num("-n", optarg, 0); break;
		case 's': o.start = parse_num("-s", optarg, 0); break;
		case OPT_DUP: o.dup_every = parse_num("--dup-every", optarg, 1); break;
		case OPT_POISON:
			o.poison_every = parse_num("--poison-every", optarg, 1);
			break;
		case OPT_SIZE: o.size = parse_num("--size", optarg, 0); break;
		case OPT_PERSIST: o.persistent = true; break;
		case OPT_PASSIVE: o.passive = true; break;
		case OPT_EXPECTED: o.expected = optarg; break;
		case OPT_RAW: o.raw = optarg; break;
		case OPT_RATE: o.rate = parse_num("--rate", optarg, 1); break;
		case OPT_TIMESTAMP: o.timestamp = true; break;
		case OPT_TRACE: o.trace = true; break;
		case 'h': usage(stdout, 0); break;
		default: usage(stderr, 2); break;
		}
	}
	if (optind != argc || !o.url || !o.queue)
		usage(stderr, 2);
	if (o.raw && (o.expected || o.timestamp)) {
		fprintf(stderr, "er-publish: --expected and --timestamp do not go with --raw\n");
		return 2;
	}
	if ((unsigned long)o.size > MAX_BODY) {
		fprintf(stderr, "er-publish: --size: at most %u\n", MAX_BODY);
		return 2;
	}

	if (o.expected) {
		expected = fopen(o.expected, "w");
		if (!expected)
			die("%s: %s", o.expected, strerror(errno));
	}

	connect_broker(&o);
	if (o.raw)
		publish_raw(&o, &events);
	else
		publish_events(&o, expected, &events, &dups, &poison);
	if (paced > 0)
		paced_s = elapsed_s(&pace_start);
	if (amqp_client_wait_confirms(&cl) < 0 || amqp_client_close(&cl, CHANNEL) < 0)
		die("%s", cl.err);

	if (expected && fclose(expected) != 0)
		die("%s: %s", o.expected, strerror(errno));

	printf("published %" PRIu64 " messages (%lu events, %lu duplicates, "
	       "%lu poison)\n", cl.next_seq - 1, events, dups, poison);
	if (paced > 1 && paced_s > 0)
		printf("paced %" PRIu64 " messages at %.0f msgs/s (asked %ld)\n",
		       paced, (double)(paced - 1) / paced_s, o.rate);
	if (cl.nacked) {
		fprintf(stderr, "er-publish: %" PRIu64 " messages were nacked\n",
			cl.nacked);
		return 1;
	}
	return 0;
}
