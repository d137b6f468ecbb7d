/*
 * bare-consumer: the broker's limit, the baseline of bench/run.
 *
 * Drains COUNT messages from a queue the leanest way rabbitmq-c 0.11
 * allows: basic.qos PREFETCH, basic.consume with manual acks, frames read
 * one by one (a body is counted, never copied or looked at), and one
 * basic.ack multiple=true for everything received so far each time half
 * the prefetch window is unacked (so the broker never stalls on it), or
 * when the receive buffer has run dry and either an eighth of the window
 * is waiting or no frame came for 10 ms. Then it prints
 *
 *   bare_consumer msgs=N seconds=S rate=R cpu_us_per_msg=C
 *
 * with S from the first basic.deliver to the last basic.ack written, and
 * C its own CPU (user + system) over that time per message: what reading
 * the frames with rabbitmq-c costs any consumer.
 *
 * The one thing to know before changing it: every relay figure is divided
 * by this one. Anything done per message here lowers the baseline and
 * flatters the relay; keep it reading frames and acking, nothing more.
 * Each ack is work for the broker's queue process: acking whenever the
 * buffer runs dry (every ~8 messages) drains slower than acking in
 * batches of an eighth to a half of the window (measured: ~10%).
 */
#include "autoconf.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>

#include <amqp.h>
#include <amqp_framing.h>

#include "ctl/amqp_client.h"

#define TOOL_NAME "bare-consumer"
#include "tool.h"

static const amqp_channel_t CHANNEL = 1;

struct options {
	const char *url;
	const char *queue;
	long count;
	long prefetch;
	long idle_timeout_s;
};

static void usage(FILE *f, int rc)
{
	fprintf(f,
		"usage: bare-consumer -u URL -q QUEUE -n COUNT [-p PREFETCH]\n"
		"         [-t IDLE_TIMEOUT_S]\n"
		"  consumes COUNT messages from QUEUE with manual acks (basic.qos\n"
		"  PREFETCH, default 1000; multiple acks), then prints\n"
		"  'bare_consumer msgs=N seconds=S rate=R cpu_us_per_msg=C'; exit 1 when no\n"
		"  frame comes for IDLE_TIMEOUT_S seconds (60) or on a broker error\n");
	exit(rc);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* This process's CPU time (user + system), in seconds. */
static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static amqp_connection_state_t connect_broker(const struct options *o, struct amqp_client *cl)
{
	amqp_client_init(cl, 0);
	if (amqp_client_connect_str(cl, o->url) < 0 ||
	    amqp_client_channel_open(cl, CHANNEL) < 0)
		die("%s", cl->err);
	amqp_basic_qos(cl->conn, CHANNEL, 0, (uint16_t)o->prefetch, 0);
	if (amqp_client_reply(cl, amqp_get_rpc_reply(cl->conn), "basic.qos") < 0)
		die("%s", cl->err);
	amqp_basic_consume(cl->conn, CHANNEL, amqp_cstring_bytes(o->queue),
			   amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
	if (amqp_client_reply(cl, amqp_get_rpc_reply(cl->conn), "basic.consume") < 0)
		die("%s", cl->err);
	return cl->conn;
}

static void ack_upto(struct amqp_client *cl, uint64_t tag)
{
	if (amqp_client_ack(cl, CHANNEL, tag, 1) < 0)
		die("%s", cl->err);
}

/* A method frame other than basic.deliver: only a close or a cancel matters. */
static void other_method(const amqp_frame_t *f)
{
	switch (f->payload.method.id) {
	case AMQP_CHANNEL_CLOSE_METHOD: {
		amqp_channel_close_t *m = f->payload.method.decoded;

		die("channel closed by broker: %u %.*s", m->reply_code,
		    (int)m->reply_text.len, (char *)m->reply_text.bytes);
	}
	case AMQP_CONNECTION_CLOSE_METHOD: {
		amqp_connection_close_t *m = f->payload.method.decoded;

		die("connection closed by broker: %u %.*s", m->reply_code,
		    (int)m->reply_text.len, (char *)m->reply_text.bytes);
	}
	case AMQP_BASIC_CANCEL_METHOD:
		die("the broker cancelled the consumer (queue deleted?)");
	default:
		break;
	}
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "url", required_argument, NULL, 'u' },
		{ "queue", required_argument, NULL, 'q' },
		{ "count", required_argument, NULL, 'n' },
		{ "prefetch", required_argument, NULL, 'p' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct options o = { .count = 0, .prefetch = 1000, .idle_timeout_s = 60 };
	struct amqp_client cl;
	amqp_connection_state_t conn;
	struct timeval idle;
	uint64_t tag = 0, last_acked = 0;
	uint64_t body_size = 0, body_got = 0;
	long received = 0, unacked = 0, ack_every, ack_dry;
	bool in_message = false, short_wait;
	double t_first = 0, t_last, cpu_first = 0;
	int c;

	while ((c = getopt_long(argc, argv, "u:q:n:p:t:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'u': o.url = optarg; break;
		case 'q': o.queue = optarg; break;
		case 'n': o.count = parse_num("-n", optarg, 1, LONG_MAX); break;
		case 'p': o.prefetch = parse_num("-p", optarg, 1, 65535); break;
		case 't': o.idle_timeout_s = parse_num("-t", optarg, 1, 86400); break;
		case 'h': usage(stdout, 0); break;
		default: usage(stderr, 2); break;
		}
	}
	if (optind != argc || !o.url || !o.queue || o.count == 0)
		usage(stderr, 2);
	ack_every = o.prefetch / 2 > 0 ? o.prefetch / 2 : 1;
	ack_dry = o.prefetch / 8 > 0 ? o.prefetch / 8 : 1;

	conn = connect_broker(&o, &cl);
	while (received < o.count) {
		amqp_frame_t f;
		int rc;

		/*
		 * Nothing more to read without a system call: ack what has
		 * come if it is a batch worth a frame, else wait a little for
		 * more first. Deliveries already buffered are always taken
		 * first, so one ack covers all the broker sent in one go.
		 */
		short_wait = false;
		if (unacked > 0 && !amqp_frames_enqueued(conn) &&
		    !amqp_data_in_buffer(conn)) {
			if (unacked >= ack_dry) {
				ack_upto(&cl, last_acked = tag);
				unacked = 0;
			} else {
				short_wait = true;
			}
			amqp_maybe_release_buffers(conn);
		}
		idle.tv_sec = short_wait ? 0 : o.idle_timeout_s;
		idle.tv_usec = short_wait ? 10000 : 0;
		rc = amqp_simple_wait_frame_noblock(conn, &f, &idle);
		if (rc == AMQP_STATUS_TIMEOUT && short_wait) {
			ack_upto(&cl, last_acked = tag);
			unacked = 0;
			continue;
		}
		if (rc == AMQP_STATUS_TIMEOUT)
			die("no frame for %lds after %ld of %ld messages",
			    o.idle_timeout_s, received, o.count);
		if (rc != AMQP_STATUS_OK)
			die("reading a frame: %s", amqp_error_string2(rc));

		switch (f.frame_type) {
		case AMQP_FRAME_METHOD:
			if (f.payload.method.id != AMQP_BASIC_DELIVER_METHOD) {
				other_method(&f);
				continue;
			}
			if (in_message)
				die("basic.deliver inside a message");
			if (received == 0) {
				t_first = now_s();
				cpu_first = cpu_s();
			}
			tag = ((amqp_basic_deliver_t *)f.payload.method.decoded)->delivery_tag;
			in_message = true;
			body_got = 0;
			continue;
		case AMQP_FRAME_HEADER:
			if (!in_message)
				die("content header outside a message");
			body_size = f.payload.properties.body_size;
			break;
		case AMQP_FRAME_BODY:
			if (!in_message)
				die("body frame outside a message");
			body_got += f.payload.body_fragment.len;
			break;
		default:
			continue; /* heartbeat */
		}
		if (body_got < body_size)
			continue;
		/* One message complete. */
		in_message = false;
		received++;
		if (++unacked >= ack_every) {
			ack_upto(&cl, last_acked = tag);
			unacked = 0;
		}
	}
	if (tag != last_acked)
		ack_upto(&cl, tag);
	t_last = now_s();
	cpu_first = cpu_s() - cpu_first;

	/* Deliveries beyond COUNT (prefetched, unacked) go back to the queue. */
	if (amqp_client_close(&cl, CHANNEL) < 0)
		die("%s", cl.err);

	printf("bare_consumer msgs=%ld seconds=%.3f rate=%.0f cpu_us_per_msg=%.1f\n", received,
	       t_last - t_first,
	       t_last > t_first ? (double)received / (t_last - t_first) : 0.0,
	       received > 0 ? cpu_first * 1e6 / (double)received : 0.0);
	return 0;
}
