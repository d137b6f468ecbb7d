/*
 * dlq: event-relayctl dlq list | replay | purge, on one route's
 * dead-letter queue.
 *
 * Every command makes one pass over the queue with basic.get (manual
 * acks), one message at a time, and reads at most as many messages as
 * the queue held when it started (a passive queue.declare counts them):
 * what it hands back is never read again, and a queue that the relay
 * keeps filling does not keep it going.
 *
 * What a command keeps (listed, not matching, a dry run, a copy the
 * broker refused) stays unacknowledged on its connection until the end,
 * so the next basic.get returns the message behind it; one basic.nack
 * (every outstanding tag, requeue) hands them all back at the end, and
 * RabbitMQ puts requeued messages back in their old places: the order is
 * kept. A consumer with a prefetch window would keep order too, but the
 * broker pushes the window ahead of the count, and every delivery past
 * the bound or --limit would be one more to throw back; basic.get takes
 * exactly what the pass needs, at one round trip per message.
 *
 * The one thing to know before changing it: nothing is acknowledged on
 * the dead-letter queue before it may go. A replayed message is acked
 * only after the broker confirmed its copy in the source queue (publisher
 * confirms, mandatory publish), so a command killed at any moment loses
 * nothing: the broker requeues what the closed connection held, and at
 * worst a message is in both queues, a duplicate that the relay's Redis
 * claim turns into one Kafka record.
 */
#include "autoconf.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <amqp.h>

#include "common/config.h"
#include "common/event.h"
#include "common/json.h"
#include "common/route.h"
#include "ctl/amqp_client.h"
#include "ctl/dlq.h"

#define CH_GET 1		/* basic.get, ack and nack on the dead-letter queue */
#define CH_PUBLISH 2		/* confirmed copies to the source queue */
#define WINDOW 64		/* copies awaiting their confirm */
#define RING (2 * WINDOW)	/* see publish_copy */
#define REPLY_TIMEOUT_MS 30000
#define HDR_PREFIX "x-event-relay-"
#define HDR_REPLAYS "x-event-relay-replays"
/* Kept on a replayed copy: the route reads them instead of the default exchange's. */
#define HDR_EXCHANGE "x-event-relay-exchange"
#define HDR_ROUTING_KEY "x-event-relay-routing-key"

/* The reasons the relay writes into x-event-relay-reason. */
static const char *const reasons[] = {
#define DLQ_REASON(f, label, help) label,
#include "common/stats.def"
#undef DLQ_REASON
};

enum cmd { CMD_LIST, CMD_REPLAY, CMD_PURGE };

struct opts {
	enum cmd cmd;
	const char *name;	/* argv[0]: "list", "replay", "purge" */
	long limit;		/* 0: none */
	const char *reason;	/* NULL: every reason */
	int dry_run, yes, json;
};

/* One dead letter, as the commands show it (strings empty when absent). */
struct letter {
	char id[EVENT_ID_MAX + 1];
	char reason[64];
	char error[512];
	char time[48];
	char worker[160];
	char queue[256];
	size_t size;
	long long replays;
};

/* A copy waiting for its confirm, and the dead letter to ack then. */
struct pending {
	uint64_t tag;
	char id[EVENT_ID_MAX + 1];
	char reason[64];
};

struct pass {
	const struct er_config *cfg;
	const struct opts *o;
	const char *queue, *dlq;
	struct amqp_client c;
	uint32_t count;		/* ready in the dead-letter queue at the start */
	uint64_t kept;		/* taken, left unacked, handed back at the end */
	uint64_t matched;	/* replayed, purged or (dry run) would be */
	uint64_t done, skipped, failed, other_queue;
	int ack_failed;
	struct pending pending[RING];
};

static void __attribute__((format(printf, 2, 3)))
say_error(const struct opts *o, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "event-relayctl: dlq%s%s: ", o->name != NULL ? " " : "",
	    o->name != NULL ? o->name : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void
ctl_dlq_usage(FILE *out)
{
	fputs("usage: event-relayctl dlq list [--route NAME] [--limit N] [--json]\n"
	    "       event-relayctl dlq replay [--route NAME] [--reason R] [--limit N] [--dry-run]\n"
	    "       event-relayctl dlq purge [--route NAME] --reason R --yes\n", out);
}

static int
known_reason(const char *r)
{
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (strcmp(reasons[i], r) == 0)
			return 1;
	return 0;
}

static int
usage_error(void)
{
	ctl_dlq_usage(stderr);
	return CTL_DLQ_USAGE;
}

/* Parses argv (argv[0] the command) into o: 0, or an exit code. */
static int
parse_opts(struct opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "limit", required_argument, NULL, 'n' },
		{ "reason", required_argument, NULL, 'r' },
		{ "dry-run", no_argument, NULL, 'd' },
		{ "yes", no_argument, NULL, 'y' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	/* The options each command takes. */
	static const char *const takes[] = {
		[CMD_LIST] = "nj", [CMD_REPLAY] = "nrdj", [CMD_PURGE] = "ryj",
	};
	char *end;
	int c, li;

	if (argc < 1 || argv[0] == NULL) {
		say_error(o, "which command? list, replay or purge");
		return usage_error();
	}
	o->name = argv[0];
	if (strcmp(argv[0], "list") == 0) {
		o->cmd = CMD_LIST;
	} else if (strcmp(argv[0], "replay") == 0) {
		o->cmd = CMD_REPLAY;
	} else if (strcmp(argv[0], "purge") == 0) {
		o->cmd = CMD_PURGE;
	} else {
		o->name = NULL;
		say_error(o, "unknown command '%s': list, replay or purge", argv[0]);
		return usage_error();
	}
	optind = 0;	/* glibc: start again, at argv[1] */
	opterr = 0;
	while ((li = -1, c = getopt_long(argc, argv, "+:", longopts, &li)) != -1) {
		if (c == '?') {
			say_error(o, "unknown option '%s'", argv[optind - 1]);
			return usage_error();
		}
		if (c == ':') {
			say_error(o, "option '%s' needs a value", argv[optind - 1]);
			return usage_error();
		}
		if (strchr(takes[o->cmd], c) == NULL) {
			say_error(o, "--%s is not an option of this command", longopts[li].name);
			return usage_error();
		}
		switch (c) {
		case 'n':
			errno = 0;
			o->limit = strtol(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' || o->limit < 1) {
				say_error(o, "--limit: want a number >= 1, got '%s'", optarg);
				return usage_error();
			}
			break;
		case 'r':
			o->reason = optarg;
			break;
		case 'd':
			o->dry_run = 1;
			break;
		case 'y':
			o->yes = 1;
			break;
		case 'j':
			o->json = 1;
			break;
		}
	}
	if (optind < argc) {
		say_error(o, "unexpected argument '%s'", argv[optind]);
		return usage_error();
	}
	if (o->reason != NULL && !known_reason(o->reason)) {
		say_error(o, "--reason: '%s' is not a dead-letter reason; the reasons are:", o->reason);
		for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
			fprintf(stderr, "  %s\n", reasons[i]);
		return CTL_DLQ_USAGE;
	}
	if (o->cmd == CMD_PURGE && o->reason == NULL) {
		say_error(o, "--reason R is required: purge deletes the dead letters of one "
		    "reason (see them with: event-relayctl dlq list)");
		return usage_error();
	}
	if (o->cmd == CMD_PURGE && !o->yes) {
		say_error(o, "refusing to delete the dead letters with reason %s without --yes "
		    "(see them first with: event-relayctl dlq list)", o->reason);
		return CTL_DLQ_USAGE;
	}
	return 0;
}

/* Copies len bytes as a C string (NUL bytes become '?'), cut to fit. */
static void
bytes_text(const void *b, size_t len, char *buf, size_t sz)
{
	size_t n = len < sz - 1 ? len : sz - 1;

	memcpy(buf, b, n);
	buf[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = '?';
}

/* An integer field's value: 0, or -1 if the field is not an integer. */
static int
field_int(const amqp_field_value_t *v, long long *out)
{
	switch (v->kind) {
	case AMQP_FIELD_KIND_I8: *out = v->value.i8; return 0;
	case AMQP_FIELD_KIND_U8: *out = v->value.u8; return 0;
	case AMQP_FIELD_KIND_I16: *out = v->value.i16; return 0;
	case AMQP_FIELD_KIND_U16: *out = v->value.u16; return 0;
	case AMQP_FIELD_KIND_I32: *out = v->value.i32; return 0;
	case AMQP_FIELD_KIND_U32: *out = v->value.u32; return 0;
	case AMQP_FIELD_KIND_I64: *out = v->value.i64; return 0;
	case AMQP_FIELD_KIND_U64:
	case AMQP_FIELD_KIND_TIMESTAMP:
		*out = v->value.u64 > LLONG_MAX ? LLONG_MAX : (long long)v->value.u64;
		return 0;
	default:
		return -1;
	}
}

static void
header_text(const amqp_basic_properties_t *p, const char *name, char *buf, size_t sz)
{
	const amqp_field_value_t *v = amqp_client_header(p, name);
	long long n;

	buf[0] = '\0';
	if (v == NULL)
		return;
	if (v->kind == AMQP_FIELD_KIND_UTF8 || v->kind == AMQP_FIELD_KIND_BYTES)
		bytes_text(v->value.bytes.bytes, v->value.bytes.len, buf, sz);
	else if (field_int(v, &n) == 0)
		snprintf(buf, sz, "%lld", n);
}

/*
 * The event id: "event_id" of a JSON body, as the relay decodes it (also
 * from a body the relay rejected for another member), else the AMQP
 * message_id; empty if neither.
 */
static void
event_id(const struct amqp_client_msg *m, char *id, size_t sz)
{
	const amqp_basic_properties_t *p = &m->m.properties;
	struct route r = { .format = ROUTE_FMT_SEED_JSON, .max_message_bytes = SIZE_MAX };
	struct event_decoder d;
	struct event ev;
	size_t len = m->m.body.len;

	id[0] = '\0';
	if (len > 0 && len <= (size_t)INT_MAX - 4 && event_decoder_init(&d, len) == 0) {
		ev.id[0] = '\0';
		event_decode(&d, &r, m->m.body.bytes, len, &ev);
		event_decoder_free(&d);
		if (ev.id[0] != '\0') {
			snprintf(id, sz, "%s", ev.id);
			return;
		}
	}
	if ((p->_flags & AMQP_BASIC_MESSAGE_ID_FLAG) && p->message_id.len > 0)
		bytes_text(p->message_id.bytes, p->message_id.len, id, sz);
}

static void
describe(const struct amqp_client_msg *m, struct letter *l)
{
	const amqp_basic_properties_t *p = &m->m.properties;
	const amqp_field_value_t *v;
	char text[32];

	event_id(m, l->id, sizeof(l->id));
	header_text(p, "x-event-relay-reason", l->reason, sizeof(l->reason));
	header_text(p, "x-event-relay-error", l->error, sizeof(l->error));
	header_text(p, "x-event-relay-time", l->time, sizeof(l->time));
	header_text(p, "x-event-relay-worker", l->worker, sizeof(l->worker));
	header_text(p, "x-event-relay-queue", l->queue, sizeof(l->queue));
	l->size = m->m.body.len;
	l->replays = 0;
	v = amqp_client_header(p, HDR_REPLAYS);
	if (v != NULL && field_int(v, &l->replays) < 0) {
		header_text(p, HDR_REPLAYS, text, sizeof(text));
		l->replays = strtoll(text, NULL, 10);
	}
	if (l->replays < 0)
		l->replays = 0;
}

/* A table cell: "-" when empty, control characters shown as '?'. */
static const char *
cell(const char *s, char *buf, size_t sz)
{
	size_t i;

	if (s[0] == '\0')
		return "-";
	for (i = 0; s[i] != '\0' && i < sz - 1; i++)
		buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	buf[i] = '\0';
	return buf;
}

/* A JSON member "name": "s" (null when s is empty), with a leading comma unless first. */
static void
json_member(const char *name, const char *s, int first)
{
	printf("%s\"%s\":", first ? "" : ",", name);
	json_str(stdout, s[0] != '\0' ? s : NULL);
}

static void
print_letter(const struct pass *p, const struct letter *l)
{
	char b[5][sizeof(l->error)];

	if (p->o->json) {
		putchar('{');
		json_member("event_id", l->id, 1);
		json_member("reason", l->reason, 0);
		json_member("error", l->error, 0);
		json_member("time", l->time, 0);
		json_member("worker", l->worker, 0);
		json_member("queue", l->queue, 0);
		printf(",\"size\":%zu,\"replays\":%lld}\n", l->size, l->replays);
		return;
	}
	printf("%-24s %-22s %8zu %-24s %-30s %s\n", cell(l->id, b[0], sizeof(b[0])),
	    cell(l->reason, b[1], sizeof(b[1])), l->size, cell(l->time, b[2], sizeof(b[2])),
	    cell(l->worker, b[3], sizeof(b[3])), cell(l->error, b[4], sizeof(b[4])));
}

/* One line per message a command moved: "replayed ID (REASON)" or its JSON. */
static void
print_action(const struct pass *p, const char *action, const char *id, const char *reason)
{
	char b[2][EVENT_ID_MAX + 64];

	if (p->o->json) {
		printf("{\"action\":\"%s\",", action);
		json_member("event_id", id, 1);
		json_member("reason", reason, 0);
		puts("}");
	} else {
		printf("%s %s (%s)\n", action, cell(id, b[0], sizeof(b[0])),
		    cell(reason, b[1], sizeof(b[1])));
	}
}

/* basic.ack or basic.nack of the copy with this seq (see publish_copy). */
static void
on_confirm(void *arg, uint64_t seq, int ok)
{
	struct pass *p = arg;
	struct pending *pd = &p->pending[seq % RING];
	char b[EVENT_ID_MAX + 1];

	if (!ok) {
		/* Its dead letter stays unacked: handed back at the end. */
		p->failed++;
		p->kept++;
		say_error(p->o, "the broker refused the copy of %s (basic.nack): it stays in %s",
		    cell(pd->id, b, sizeof(b)), p->dlq);
		return;
	}
	if (p->ack_failed)
		return;
	if (amqp_client_ack(&p->c, CH_GET, pd->tag, 0) < 0) {
		p->ack_failed = 1;
		return;
	}
	p->done++;
	print_action(p, "replayed", pd->id, pd->reason);
}

/*
 * Publishes the dead letter back to the source queue: original body and
 * properties, without the x-event-relay-* headers but the original
 * exchange and routing key (its route may build the topic or key from
 * them), with
 * x-event-relay-replays one more than before. Its dead letter is acked
 * by on_confirm.
 */
static int
publish_copy(struct pass *p, const struct amqp_client_msg *m, const struct letter *l)
{
	amqp_basic_properties_t props = m->m.properties;
	const amqp_table_t *old = &m->m.properties.headers;
	int nold = (props._flags & AMQP_BASIC_HEADERS_FLAG) ? old->num_entries : 0;
	size_t plen = strlen(HDR_PREFIX);
	amqp_table_entry_t *e;
	struct pending *pd;
	int n = 0, rc;

	e = calloc((size_t)nold + 1, sizeof(*e));
	if (e == NULL) {
		say_error(p->o, "out of memory");
		return -1;
	}
	for (int i = 0; i < nold; i++) {
		const amqp_bytes_t *k = &old->entries[i].key;

		if (k->len >= plen && memcmp(k->bytes, HDR_PREFIX, plen) == 0 &&
		    !(k->len == strlen(HDR_EXCHANGE) && memcmp(k->bytes, HDR_EXCHANGE, k->len) == 0) &&
		    !(k->len == strlen(HDR_ROUTING_KEY) && memcmp(k->bytes, HDR_ROUTING_KEY, k->len) == 0))
			continue;
		e[n++] = old->entries[i];
	}
	e[n].key = amqp_cstring_bytes(HDR_REPLAYS);
	e[n].value.kind = AMQP_FIELD_KIND_I64;
	e[n].value.value.i64 = l->replays == LLONG_MAX ? LLONG_MAX : l->replays + 1;
	props.headers.num_entries = n + 1;
	props.headers.entries = e;
	props._flags |= AMQP_BASIC_HEADERS_FLAG;

	/*
	 * The publish takes seq c.next_seq and may take its own confirm
	 * before it returns, so the slot is filled first. With at most
	 * WINDOW copies unconfirmed, the seq RING before it (this slot's
	 * last user) was confirmed long ago.
	 */
	pd = &p->pending[p->c.next_seq % RING];
	pd->tag = m->tag;
	snprintf(pd->id, sizeof(pd->id), "%s", l->id);
	snprintf(pd->reason, sizeof(pd->reason), "%s", l->reason);
	rc = amqp_client_publish(&p->c, CH_PUBLISH, "", p->queue, 1, &props, m->m.body.bytes,
	    m->m.body.len, NULL);
	free(e);
	if (rc < 0) {
		say_error(p->o, "publishing to %s: %s", p->queue, p->c.err);
		return -1;
	}
	if (p->ack_failed) {
		say_error(p->o, "acknowledging a replayed dead letter: %s", p->c.err);
		return -1;
	}
	return 0;
}

/* Connects, opens the channels and counts the dead letters: 0 or an exit code. */
static int
open_pass(struct pass *p)
{
	const struct opts *o = p->o;
	uint32_t ready;
	int rc;

	amqp_client_init(&p->c, REPLY_TIMEOUT_MS);
	p->c.tls_cfg = p->cfg;
	if (p->cfg->amqp_connect_timeout > 0)
		p->c.connect_timeout_ms = p->cfg->amqp_connect_timeout * 1000;
	if (amqp_client_connect_str(&p->c, p->cfg->amqp_url) < 0) {
		if (p->c.unreachable) {
			say_error(o, "RabbitMQ not reachable: %s", p->c.err);
			return CTL_DLQ_UNREACHABLE;
		}
		say_error(o, "%s", p->c.err);
		return CTL_DLQ_FAILED;
	}
	if (amqp_client_channel_open(&p->c, CH_GET) < 0)
		goto fail;
	rc = amqp_client_queue_declare(&p->c, CH_GET, p->dlq, 1, &p->count);
	if (rc == -2) {
		say_error(o, "the dead-letter queue %s does not exist (event-relayd declares it "
		    "when it starts)", p->dlq);
		return CTL_DLQ_FAILED;
	}
	if (rc < 0)
		goto fail;
	if (o->cmd != CMD_REPLAY)
		return 0;
	if (amqp_client_channel_open(&p->c, CH_PUBLISH) < 0)
		goto fail;
	rc = amqp_client_queue_declare(&p->c, CH_PUBLISH, p->queue, 1, &ready);
	if (rc == -2) {
		say_error(o, "the source queue %s does not exist: nothing to replay into", p->queue);
		return CTL_DLQ_FAILED;
	}
	if (rc < 0)
		goto fail;
	if (!o->dry_run &&
	    amqp_client_confirm_select(&p->c, CH_PUBLISH, WINDOW, on_confirm, p) < 0)
		goto fail;
	return 0;
fail:
	say_error(o, "%s", p->c.err);
	return CTL_DLQ_FAILED;
}

/* Hands back what the pass kept and closes the connection: 0 or -1. */
static int
close_pass(struct pass *p)
{
	if (p->kept > 0 && amqp_client_nack(&p->c, CH_GET, 0, 1, 1) < 0) {
		say_error(p->o, "handing dead letters back: %s", p->c.err);
		return -1;
	}
	if (amqp_client_close(&p->c, 0) < 0) {
		say_error(p->o, "%s", p->c.err);
		return -1;
	}
	return 0;
}

/* Is this dead letter one the command acts on? Counts those it skips. */
static int
wanted(struct pass *p, const struct letter *l)
{
	if (p->o->cmd == CMD_LIST)
		return 1;
	if (l->queue[0] != '\0' && strcmp(l->queue, p->queue) != 0) {
		p->other_queue++;
		p->skipped++;
		return 0;
	}
	if (p->o->reason != NULL && strcmp(l->reason, p->o->reason) != 0) {
		p->skipped++;
		return 0;
	}
	return 1;
}

/* One message of the pass: 0, or -1 to stop with an error. */
static int
step(struct pass *p, const struct amqp_client_msg *m)
{
	const struct opts *o = p->o;
	struct letter l;

	describe(m, &l);
	if (!wanted(p, &l)) {
		p->kept++;
		return 0;
	}
	switch (o->cmd) {
	case CMD_LIST:
		p->kept++;
		p->matched++;
		print_letter(p, &l);
		return 0;
	case CMD_REPLAY:
		p->matched++;
		if (o->dry_run) {
			p->kept++;
			print_action(p, "would replay", l.id, l.reason);
			return 0;
		}
		return publish_copy(p, m, &l);
	case CMD_PURGE:
		p->matched++;
		if (amqp_client_ack(&p->c, CH_GET, m->tag, 0) < 0) {
			say_error(o, "%s", p->c.err);
			return -1;
		}
		p->done++;
		print_action(p, "purged", l.id, l.reason);
		return 0;
	}
	return 0;
}

static void
print_summary(const struct pass *p)
{
	const struct opts *o = p->o;
	const char *verb = o->cmd == CMD_PURGE ? "purged" :
	    o->dry_run ? "would_replay" : "replayed";

	if (o->cmd == CMD_LIST) {
		if (!o->json)
			printf("%llu of %lu dead letters in %s listed\n",
			    (unsigned long long)p->matched, (unsigned long)p->count, p->dlq);
		return;
	}
	if (o->json) {
		printf("{\"%s\":%llu,\"skipped\":%llu,\"failed\":%llu}\n", verb,
		    (unsigned long long)(o->dry_run ? p->matched : p->done),
		    (unsigned long long)p->skipped, (unsigned long long)p->failed);
		return;
	}
	printf("%s %llu, skipped %llu", o->dry_run ? "would replay" : verb,
	    (unsigned long long)(o->dry_run ? p->matched : p->done),
	    (unsigned long long)p->skipped);
	if (p->failed > 0)
		printf(", failed %llu", (unsigned long long)p->failed);
	puts(o->dry_run ? " (dry run: nothing changed)" : "");
	if (p->other_queue > 0)
		fprintf(stderr, "event-relayctl: dlq %s: %llu dead letters came from another queue "
		    "than %s (x-event-relay-queue) and were left in place\n", o->name,
		    (unsigned long long)p->other_queue, p->queue);
}

int
ctl_dlq(const struct er_config *cfg, const char *queue, const char *dlq, int argc,
    char **argv, int json)
{
	struct opts o = { .json = json };
	struct pass *p;
	uint64_t bound;
	int rc;

	rc = parse_opts(&o, argc, argv);
	if (rc != 0)
		return rc;
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		say_error(&o, "out of memory");
		return CTL_DLQ_FAILED;
	}
	p->cfg = cfg;
	p->o = &o;
	p->queue = queue;
	p->dlq = dlq;
	rc = open_pass(p);
	if (rc != 0)
		goto out;

	if (o.cmd == CMD_LIST && !o.json)
		printf("%-24s %-22s %8s %-24s %-30s %s\n", "EVENT ID", "REASON", "SIZE", "TIME",
		    "WORKER", "ERROR");
	/* One pass: never more messages than the queue held at the start. */
	bound = p->count;
	for (uint64_t i = 0; i < bound; i++) {
		struct amqp_client_msg m;
		int got;

		if (o.limit > 0 && p->matched >= (uint64_t)o.limit)
			break;
		got = amqp_client_get(&p->c, CH_GET, dlq, 0, &m);
		if (got < 0) {
			say_error(&o, "%s", p->c.err);
			rc = CTL_DLQ_FAILED;
			goto stopped;
		}
		if (got == 0)
			break;	/* others took the rest */
		rc = step(p, &m);
		amqp_client_msg_free(&p->c, &m);
		if (rc < 0) {
			rc = CTL_DLQ_FAILED;
			goto stopped;
		}
	}
	if (amqp_client_unconfirmed(&p->c) > 0 && amqp_client_wait_confirms(&p->c) < 0) {
		say_error(&o, "waiting for the broker's confirms: %s", p->c.err);
		rc = CTL_DLQ_FAILED;
		goto stopped;
	}
	if (p->ack_failed) {
		say_error(&o, "acknowledging a replayed dead letter: %s", p->c.err);
		rc = CTL_DLQ_FAILED;
		goto stopped;
	}
	rc = close_pass(p) < 0 || p->failed > 0 ? CTL_DLQ_FAILED : CTL_DLQ_OK;
stopped:
	/* What was done before an error is done: say so (a list just stops). */
	if (rc == CTL_DLQ_OK || o.cmd != CMD_LIST)
		print_summary(p);
out:
	/* After an error the broker requeues whatever the connection held. */
	amqp_client_destroy(&p->c);
	fflush(stdout);
	free(p);
	return rc;
}
