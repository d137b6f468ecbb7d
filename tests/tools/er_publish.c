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
 * The one thing to know before changing it: rabbitmq-c 0.11 has no
 * publisher-confirm helper. Every publish gets the next delivery tag on
 * the channel; basic.ack / basic.nack frames (single or "multiple") are
 * read with amqp_simple_wait_frame*, and at most WINDOW publishes are
 * left unconfirmed, so the tool never waits for a confirm per message.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>

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
};

/* Publisher-confirm state of the one channel. */
struct confirms {
	uint64_t next_tag;      /* tag of the next publish */
	uint64_t lowest;        /* lowest tag not yet confirmed */
	bool done[WINDOW];      /* tag % WINDOW confirmed (tags >= lowest) */
	uint64_t nacked;
};

static amqp_connection_state_t conn;
static const amqp_channel_t CHANNEL = 1;
static struct confirms cf = { .next_tag = 1, .lowest = 1 };

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
		"         [--rate MSGS_PER_S] [--timestamp]\n"
		"  publishes COUNT events (or each line of --raw FILE) to QUEUE\n"
		"  (declared durable) through the default exchange, with\n"
		"  publisher confirms; exit 1 on a nack or a broker error.\n"
		"  --rate paces the messages; --timestamp puts \"ts_ms\" (publish\n"
		"  time, ms since the epoch) into each event's payload\n");
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

static void check_reply(amqp_rpc_reply_t r, const char *what)
{
	switch (r.reply_type) {
	case AMQP_RESPONSE_NORMAL:
		return;
	case AMQP_RESPONSE_NONE:
		die("%s: missing RPC reply", what);
	case AMQP_RESPONSE_LIBRARY_EXCEPTION:
		die("%s: %s", what, amqp_error_string2(r.library_error));
	case AMQP_RESPONSE_SERVER_EXCEPTION:
		if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
			amqp_connection_close_t *m = r.reply.decoded;

			die("%s: connection closed by broker: %u %.*s", what,
			    m->reply_code, (int)m->reply_text.len,
			    (char *)m->reply_text.bytes);
		}
		if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
			amqp_channel_close_t *m = r.reply.decoded;

			die("%s: channel closed by broker: %u %.*s", what,
			    m->reply_code, (int)m->reply_text.len,
			    (char *)m->reply_text.bytes);
		}
		die("%s: unexpected server method 0x%08x", what, r.reply.id);
	}
	die("%s: unknown reply type", what);
}

static void confirm(uint64_t tag, bool multiple, bool ack)
{
	uint64_t t, first = multiple ? cf.lowest : tag;

	if (tag < cf.lowest || tag >= cf.next_tag) {
		/* Already covered by an earlier "multiple" confirm. */
		if (tag >= cf.next_tag)
			die("broker confirmed tag %" PRIu64 " never published", tag);
		return;
	}
	for (t = first; t <= tag; t++) {
		if (!cf.done[t % WINDOW]) {
			cf.done[t % WINDOW] = true;
			if (!ack)
				cf.nacked++;
		}
	}
	while (cf.lowest < cf.next_tag && cf.done[cf.lowest % WINDOW]) {
		cf.done[cf.lowest % WINDOW] = false;
		cf.lowest++;
	}
}

/*
 * Reads one frame and handles it. With block false, returns false when no
 * frame is ready. Any close from the broker is fatal: the tool's job is
 * to report that the publish did not fully succeed.
 */
static bool handle_frame(bool block)
{
	struct timeval zero = { 0, 0 };
	amqp_frame_t f;
	int rc;

	if (block)
		rc = amqp_simple_wait_frame(conn, &f);
	else
		rc = amqp_simple_wait_frame_noblock(conn, &f, &zero);
	if (rc == AMQP_STATUS_TIMEOUT)
		return false;
	if (rc != AMQP_STATUS_OK)
		die("reading confirms: %s", amqp_error_string2(rc));
	if (f.frame_type != AMQP_FRAME_METHOD)
		return true;

	switch (f.payload.method.id) {
	case AMQP_BASIC_ACK_METHOD: {
		amqp_basic_ack_t *m = f.payload.method.decoded;

		confirm(m->delivery_tag, m->multiple, true);
		break;
	}
	case AMQP_BASIC_NACK_METHOD: {
		amqp_basic_nack_t *m = f.payload.method.decoded;

		confirm(m->delivery_tag, m->multiple, false);
		break;
	}
	case AMQP_BASIC_RETURN_METHOD:
		die("a message was returned by the broker");
	case AMQP_CHANNEL_CLOSE_METHOD: {
		amqp_channel_close_t *m = f.payload.method.decoded;

		die("channel closed by broker: %u %.*s", m->reply_code,
		    (int)m->reply_text.len, (char *)m->reply_text.bytes);
	}
	case AMQP_CONNECTION_CLOSE_METHOD: {
		amqp_connection_close_t *m = f.payload.method.decoded;

		die("connection closed by broker: %u %.*s", m->reply_code,
		    (int)m->reply_text.len, (char *)m->reply_text.bytes);
	}
	default:
		break;
	}
	amqp_maybe_release_buffers(conn);
	return true;
}

static void publish(const struct options *o, const char *body, size_t len)
{
	amqp_basic_properties_t props;
	amqp_bytes_t b = { .len = len, .bytes = (void *)body };
	int rc;

	/* Keep the window: wait for confirms while it is full. */
	while (cf.next_tag - cf.lowest >= WINDOW)
		handle_frame(true);

	memset(&props, 0, sizeof(props));
	props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
	props.delivery_mode = o->persistent ? 2 : 1;

	rc = amqp_basic_publish(conn, CHANNEL, amqp_empty_bytes,
				amqp_cstring_bytes(o->queue), 0, 0, &props, b);
	if (rc != AMQP_STATUS_OK)
		die("basic.publish: %s", amqp_error_string2(rc));
	cf.next_tag++;

	/*
	 * Take the confirms that have arrived, without blocking: always when
	 * they are already buffered, otherwise (a read system call) only once
	 * half the window is in flight.
	 */
	if (amqp_frames_enqueued(conn) || amqp_data_in_buffer(conn) ||
	    cf.next_tag - cf.lowest >= WINDOW / 2) {
		while (handle_frame(false))
			;
	}
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
	if (amqp_frames_enqueued(conn) || amqp_data_in_buffer(conn) ||
	    cf.next_tag > cf.lowest) {
		while (handle_frame(false))
			;
	}
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

static void drain_confirms(void)
{
	while (cf.lowest < cf.next_tag)
		handle_frame(true);
}

static void connect_broker(const struct options *o)
{
	struct amqp_connection_info ci;
	struct timeval tmo = { 10, 0 };
	amqp_socket_t *sock;
	char *url;
	int rc;

	url = strdup(o->url);
	if (!url)
		die("out of memory");
	amqp_default_connection_info(&ci);
	if (amqp_parse_url(url, &ci) != AMQP_STATUS_OK)
		die("bad URL %s", o->url);
	if (ci.ssl)
		die("amqps URLs are not supported");

	conn = amqp_new_connection();
	sock = amqp_tcp_socket_new(conn);
	if (!sock)
		die("amqp_tcp_socket_new failed");
	rc = amqp_socket_open_noblock(sock, ci.host, ci.port, &tmo);
	if (rc != AMQP_STATUS_OK)
		die("connect %s:%d: %s", ci.host, ci.port,
		    amqp_error_string2(rc));
	check_reply(amqp_login(conn, ci.vhost, 0, AMQP_DEFAULT_FRAME_SIZE, 0,
			       AMQP_SASL_METHOD_PLAIN, ci.user, ci.password),
		    "login");
	amqp_channel_open(conn, CHANNEL);
	check_reply(amqp_get_rpc_reply(conn), "channel.open");
	amqp_queue_declare(conn, CHANNEL, amqp_cstring_bytes(o->queue), 0, 1,
			   0, 0, amqp_empty_table);
	check_reply(amqp_get_rpc_reply(conn), "queue.declare");
	amqp_confirm_select(conn, CHANNEL);
	check_reply(amqp_get_rpc_reply(conn), "confirm.select");
	free(url);
}

static void disconnect_broker(void)
{
	check_reply(amqp_channel_close(conn, CHANNEL, AMQP_REPLY_SUCCESS),
		    "channel.close");
	check_reply(amqp_connection_close(conn, AMQP_REPLY_SUCCESS),
		    "connection.close");
	amqp_destroy_connection(conn);
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
		publish(o, buf, len);
		(*events)++;
		if (expected &&
		    fprintf(expected, "ev-%08ld\t%.*s\tcorr-%ld\n", seq,
			    (int)plen, buf + off, seq) < 0)
			die("%s: %s", o->expected, strerror(errno));
		if (o->dup_every && k % o->dup_every == 0) {
			pace(o);
			publish(o, buf, len);
			(*dups)++;
		}
		if (o->poison_every && k % o->poison_every == 0) {
			int n = snprintf(pbuf, sizeof(pbuf), "poison-%ld", seq);

			pace(o);
			publish(o, pbuf, (size_t)n);
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
		publish(o, line, (size_t)n);
		(*events)++;
	}
	if (ferror(f))
		die("%s: %s", o->raw, strerror(errno));
	free(line);
	fclose(f);
}

int main(int argc, char **argv)
{
	enum { OPT_DUP = 256, OPT_POISON, OPT_SIZE, OPT_PERSIST, OPT_EXPECTED,
	       OPT_RAW, OPT_RATE, OPT_TIMESTAMP };
	static const struct option longopts[] = {
		{ "url", required_argument, NULL, 'u' },
		{ "queue", required_argument, NULL, 'q' },
		{ "count", required_argument, NULL, 'n' },
		{ "start", required_argument, NULL, 's' },
		{ "dup-every", required_argument, NULL, OPT_DUP },
		{ "poison-every", required_argument, NULL, OPT_POISON },
		{ "size", required_argument, NULL, OPT_SIZE },
		{ "persistent", no_argument, NULL, OPT_PERSIST },
		{ "expected", required_argument, NULL, OPT_EXPECTED },
		{ "raw", required_argument, NULL, OPT_RAW },
		{ "rate", required_argument, NULL, OPT_RATE },
		{ "timestamp", no_argument, NULL, OPT_TIMESTAMP },
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
		case OPT_EXPECTED: o.expected = optarg; break;
		case OPT_RAW: o.raw = optarg; break;
		case OPT_RATE: o.rate = parse_num("--rate", optarg, 1); break;
		case OPT_TIMESTAMP: o.timestamp = true; break;
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
	drain_confirms();
	disconnect_broker();

	if (expected && fclose(expected) != 0)
		die("%s: %s", o.expected, strerror(errno));

	printf("published %" PRIu64 " messages (%lu events, %lu duplicates, "
	       "%lu poison)\n", cf.next_tag - 1, events, dups, poison);
	if (paced > 1 && paced_s > 0)
		printf("paced %" PRIu64 " messages at %.0f msgs/s (asked %ld)\n",
		       paced, (double)(paced - 1) / paced_s, o.rate);
	if (cf.nacked) {
		fprintf(stderr, "er-publish: %" PRIu64 " messages were nacked\n",
			cf.nacked);
		return 1;
	}
	return 0;
}
