/*
 * er-send: publishes hand-made messages to RabbitMQ with publisher
 * confirms, for the route tests: any exchange and routing key, any AMQP
 * basic property, header-table entries of every AMQP field type
 * (field_spec.h) and bodies of any bytes.
 *
 *   er-send -u URL (-q QUEUE | -e EXCHANGE -r KEY) [-p NAME=VALUE]...
 *           [-H NAME=KIND:VALUE]... [-b BODY | -f FILE] [-n COUNT]
 *   er-send -u URL -q QUEUE --binary N [-s START] [--dup-every K]
 *           [--expected FILE] [-p ...] [-H ...]
 *   er-send -u URL -e EXCHANGE -r KEY --lines FILE [-p ...] [-H ...]
 *
 * Every publish is mandatory: a message no queue takes is an error, so a
 * test cannot publish into the void by a misspelt name. The queue is not
 * declared (a route may declare it with arguments of its own) unless
 * --declare-queue says so; --declare-exchange (durable, topic unless
 * NAME:TYPE says otherwise) and --bind set up what a route's bindings
 * need; --queue-type quorum makes --declare-queue's queues quorum queues.
 *
 * --binary N publishes N bodies that are not JSON and hold every byte
 * value 0x00-0xff (event i: the 256 byte values rotated by i, then i % 97
 * more pseudo-random bytes; with --size S, S bytes: the first 256 of
 * them as before, pseudo-random bytes after), each with message_id
 * "bin-<i, 8 digits>";
 * --expected writes "<message_id>\t<body>" per event (esc.h's escapes,
 * the format er-topic prints key and value in), sorted under LC_ALL=C.
 *
 * --lines FILE publishes each line of FILE (without its newline) as one
 * body, as er-publish --raw does to a queue, but to any exchange.
 *
 * What RabbitMQ 3.10.8 does to headers (checked with er-get -v): a
 * classic queue hands them to a consumer byte for byte, every kind
 * included; a quorum queue re-encodes them, sorted by name, with
 * x-delivery-count (l) added and u64 (L) turned into i64 (l), so that
 * 2^64-1 arrives as -1; a NaN or infinite float (f or d) is refused at
 * publish: the broker closes the connection with 541 INTERNAL_ERROR.
 *
 * The one thing to know before changing it: user_id must equal the
 * login user, or RabbitMQ refuses the publish (it closes the channel).
 */
#include "autoconf.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <amqp.h>
#include <amqp_framing.h>

#include "ctl/amqp_client.h"
#include "esc.h"
#include "field_spec.h"

#define WINDOW 500
#define MAX_HEADERS 256
#define MAX_DECLARES 16
#define MAX_FILE (64L * 1024 * 1024)

static struct amqp_client cl;
static const amqp_channel_t CHANNEL = 1;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void
die(const char *fmt, ...)
{
	va_list ap;

	fputs("er-send: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	field_spec_free_all();
	amqp_client_destroy(&cl);
	exit(1);
}

static void
usage(FILE *f, int rc)
{
	fprintf(f,
	    "usage: er-send -u URL (-q QUEUE | -e EXCHANGE -r ROUTING_KEY)\n"
	    "         [-p NAME=VALUE]... [-H NAME=KIND:VALUE]...\n"
	    "         [-b BODY | -f FILE] [-n COUNT]\n"
	    "         [--binary N [-s START] [--dup-every K] [--size S] [--expected FILE]]\n"
	    "         [--lines FILE]\n"
	    "         [--declare-exchange NAME[:TYPE]]... [--declare-queue NAME]...\n"
	    "         [--queue-type classic|quorum] [--bind QUEUE:EXCHANGE:KEY]...\n"
	    "  -p  a basic property: message_id correlation_id type app_id\n"
	    "      content_type content_encoding user_id reply_to expiration (strings,\n"
	    "      with \\xHH escapes), timestamp (seconds), priority (0-255),\n"
	    "      delivery_mode (1 or 2)\n"
	    "  -H  a header-table entry, KIND one of t b B s u I i l L f d D S x T V F A:\n"
	    "      -H 'n=I:-5' -H 'price=D:2:12345' -H 'nested=F:{a=S:x,b=A:[l:1,V]}'\n"
	    "  -b  the body as given (default: empty); -f the bytes of FILE\n"
	    "  -n  publish the message COUNT times (default 1)\n");
	exit(rc);
}

static long
parse_num(const char *opt, const char *s, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
		fprintf(stderr, "er-send: %s: want a number from %ld to %ld, got '%s'\n", opt, min,
		    max, s);
		exit(2);
	}
	return v;
}

/* An escaped property string, kept for the process's life. */
static amqp_bytes_t
prop_string(const char *name, const char *s)
{
	unsigned char *dst = malloc(strlen(s) + 1);
	const char *end;
	long n;

	if (dst == NULL)
		die("out of memory");
	n = esc_read(s, NULL, dst, &end);
	if (n < 0) {
		free(dst);
		fprintf(stderr, "er-send: -p %s: bad escape in '%s'\n", name, s);
		exit(2);
	}
	return (amqp_bytes_t){ .len = (size_t)n, .bytes = dst };
}

static const struct {
	const char *name;
	amqp_flags_t flag;
	size_t off;	/* of the amqp_bytes_t in amqp_basic_properties_t */
} string_props[] = {
	{ "message_id", AMQP_BASIC_MESSAGE_ID_FLAG, offsetof(amqp_basic_properties_t, message_id) },
	{ "correlation_id", AMQP_BASIC_CORRELATION_ID_FLAG,
	  offsetof(amqp_basic_properties_t, correlation_id) },
	{ "type", AMQP_BASIC_TYPE_FLAG, offsetof(amqp_basic_properties_t, type) },
	{ "app_id", AMQP_BASIC_APP_ID_FLAG, offsetof(amqp_basic_properties_t, app_id) },
	{ "content_type", AMQP_BASIC_CONTENT_TYPE_FLAG,
	  offsetof(amqp_basic_properties_t, content_type) },
	{ "content_encoding", AMQP_BASIC_CONTENT_ENCODING_FLAG,
	  offsetof(amqp_basic_properties_t, content_encoding) },
	{ "user_id", AMQP_BASIC_USER_ID_FLAG, offsetof(amqp_basic_properties_t, user_id) },
	{ "reply_to", AMQP_BASIC_REPLY_TO_FLAG, offsetof(amqp_basic_properties_t, reply_to) },
	{ "expiration", AMQP_BASIC_EXPIRATION_FLAG, offsetof(amqp_basic_properties_t, expiration) },
};

static void
set_property(amqp_basic_properties_t *p, const char *arg)
{
	const char *eq = strchr(arg, '=');
	char name[64];
	size_t n;

	if (eq == NULL || (n = (size_t)(eq - arg)) == 0 || n >= sizeof(name)) {
		fprintf(stderr, "er-send: -p '%s': want NAME=VALUE\n", arg);
		exit(2);
	}
	memcpy(name, arg, n);
	name[n] = '\0';
	for (size_t i = 0; i < sizeof(string_props) / sizeof(string_props[0]); i++) {
		if (strcmp(name, string_props[i].name) == 0) {
			amqp_bytes_t *b = (amqp_bytes_t *)((char *)p + string_props[i].off);

			if (p->_flags & string_props[i].flag)
				free(b->bytes);
			*b = prop_string(name, eq + 1);
			p->_flags |= string_props[i].flag;
			return;
		}
	}
	if (strcmp(name, "timestamp") == 0) {
		char *end;

		errno = 0;
		p->timestamp = strtoull(eq + 1, &end, 10);
		if (errno != 0 || end == eq + 1 || *end != '\0' || eq[1] == '-') {
			fprintf(stderr, "er-send: -p timestamp: want an unsigned number, got '%s'\n",
			    eq + 1);
			exit(2);
		}
		p->_flags |= AMQP_BASIC_TIMESTAMP_FLAG;
	} else if (strcmp(name, "priority") == 0) {
		p->priority = (uint8_t)parse_num("-p priority", eq + 1, 0, 255);
		p->_flags |= AMQP_BASIC_PRIORITY_FLAG;
	} else if (strcmp(name, "delivery_mode") == 0) {
		p->delivery_mode = (uint8_t)parse_num("-p delivery_mode", eq + 1, 1, 2);
		p->_flags |= AMQP_BASIC_DELIVERY_MODE_FLAG;
	} else {
		fprintf(stderr, "er-send: -p: unknown property '%s'\n", name);
		exit(2);
	}
}

static void
free_properties(amqp_basic_properties_t *p)
{
	for (size_t i = 0; i < sizeof(string_props) / sizeof(string_props[0]); i++)
		if (p->_flags & string_props[i].flag)
			free(((amqp_bytes_t *)((char *)p + string_props[i].off))->bytes);
}

static void *
read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0, r;

	if (f == NULL)
		die("%s: %s", path, strerror(errno));
	do {
		if (n == cap) {
			char *nb;

			cap = cap ? 2 * cap : 65536;
			if (cap > (size_t)MAX_FILE + 1)
				die("%s: larger than %ld bytes", path, MAX_FILE);
			nb = realloc(buf, cap);
			if (nb == NULL)
				die("out of memory");
			buf = nb;
		}
		r = fread(buf + n, 1, cap - n, f);
		n += r;
	} while (r > 0);
	if (ferror(f))
		die("%s: %s", path, strerror(errno));
	fclose(f);
	*len = n;
	return buf;
}

static void
publish(const char *exchange, const char *rkey, const amqp_basic_properties_t *props,
    const void *body, size_t len)
{
	if (amqp_client_publish(&cl, CHANNEL, exchange, rkey, 1, props, body, len, NULL) < 0)
		die("%s", cl.err);
}

static void
declare_exchange(const char *spec)
{
	char name[256], type[64] = "topic";
	const char *colon = strchr(spec, ':');
	size_t n = colon ? (size_t)(colon - spec) : strlen(spec);

	if (n == 0 || n >= sizeof(name) || (colon && strlen(colon + 1) >= sizeof(type)))
		die("--declare-exchange '%s': want NAME[:TYPE]", spec);
	memcpy(name, spec, n);
	name[n] = '\0';
	if (colon)
		strcpy(type, colon + 1);
	amqp_exchange_declare(cl.conn, CHANNEL, amqp_cstring_bytes(name), amqp_cstring_bytes(type),
	    0, 1, 0, 0, amqp_empty_table);
	if (amqp_client_reply(&cl, amqp_get_rpc_reply(cl.conn), "exchange.declare") < 0)
		die("%s: %s", name, cl.err);
}

/* A durable queue; of type `type` (x-queue-type) unless NULL. */
static void
declare_queue(const char *name, const char *type)
{
	amqp_table_entry_t arg;
	amqp_table_t args = amqp_empty_table;

	if (type == NULL) {
		if (amqp_client_queue_declare(&cl, CHANNEL, name, 0, NULL) < 0)
			die("%s: %s", name, cl.err);
		return;
	}
	arg.key = amqp_cstring_bytes("x-queue-type");
	arg.value.kind = AMQP_FIELD_KIND_UTF8;
	arg.value.value.bytes = amqp_cstring_bytes(type);
	args.num_entries = 1;
	args.entries = &arg;
	amqp_queue_declare(cl.conn, CHANNEL, amqp_cstring_bytes(name), 0, 1, 0, 0, args);
	if (amqp_client_reply(&cl, amqp_get_rpc_reply(cl.conn), "queue.declare") < 0)
		die("%s: %s", name, cl.err);
}

static void
bind_queue(const char *spec)
{
	char buf[768], *ex, *key;

	if (strlen(spec) >= sizeof(buf))
		die("--bind: too long");
	strcpy(buf, spec);
	ex = strchr(buf, ':');
	key = ex ? strchr(ex + 1, ':') : NULL;
	if (key == NULL)
		die("--bind '%s': want QUEUE:EXCHANGE:KEY", spec);
	*ex++ = '\0';
	*key++ = '\0';
	amqp_queue_bind(cl.conn, CHANNEL, amqp_cstring_bytes(buf), amqp_cstring_bytes(ex),
	    amqp_cstring_bytes(key), amqp_empty_table);
	if (amqp_client_reply(&cl, amqp_get_rpc_reply(cl.conn), "queue.bind") < 0)
		die("%s", cl.err);
}

/* xorshift64: the pseudo-random tail of the binary bodies. */
static uint64_t
next_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Event seq's --binary body, `size` bytes (< 0: 256 + seq % 97). */
static size_t
binary_body(unsigned char *buf, long seq, long size)
{
	uint64_t s = 0x9e3779b97f4a7c15ULL ^ (uint64_t)seq;
	size_t n = size < 0 ? 256 + (size_t)(seq % 97) : (size_t)size;

	for (size_t j = 0; j < n; j++)
		buf[j] = j < 256 ? (unsigned char)((long)j + seq) : (unsigned char)next_rand(&s);
	return n;
}

int
main(int argc, char **argv)
{
	enum { OPT_BINARY = 256, OPT_LINES, OPT_SIZE, OPT_DUP, OPT_EXPECTED, OPT_DECL_EX, OPT_DECL_Q, OPT_QTYPE,
	       OPT_BIND };
	static const struct option longopts[] = {
		{ "url", required_argument, NULL, 'u' },
		{ "queue", required_argument, NULL, 'q' },
		{ "exchange", required_argument, NULL, 'e' },
		{ "routing-key", required_argument, NULL, 'r' },
		{ "property", required_argument, NULL, 'p' },
		{ "header", required_argument, NULL, 'H' },
		{ "body", required_argument, NULL, 'b' },
		{ "body-file", required_argument, NULL, 'f' },
		{ "count", required_argument, NULL, 'n' },
		{ "start", required_argument, NULL, 's' },
		{ "binary", required_argument, NULL, OPT_BINARY },
		{ "lines", required_argument, NULL, OPT_LINES },
		{ "size", required_argument, NULL, OPT_SIZE },
		{ "dup-every", required_argument, NULL, OPT_DUP },
		{ "expected", required_argument, NULL, OPT_EXPECTED },
		{ "declare-exchange", required_argument, NULL, OPT_DECL_EX },
		{ "declare-queue", required_argument, NULL, OPT_DECL_Q },
		{ "queue-type", required_argument, NULL, OPT_QTYPE },
		{ "bind", required_argument, NULL, OPT_BIND },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *url = NULL, *exchange = "", *rkey = NULL, *queue = NULL;
	const char *body_arg = NULL, *body_file = NULL, *expected_path = NULL;
	const char *queue_type = NULL, *lines = NULL;
	const char *decl_ex[MAX_DECLARES], *decl_q[MAX_DECLARES], *binds[MAX_DECLARES];
	size_t ndecl_ex = 0, ndecl_q = 0, nbinds = 0;
	static amqp_table_entry_t headers[MAX_HEADERS];
	amqp_basic_properties_t props;
	long count = 1, binary = -1, start = 1, dup_every = 0, size = -1;
	unsigned long events = 0, dups = 0;
	FILE *expected = NULL;
	char err[256];
	void *body = NULL;
	size_t body_len = 0;
	int c, nheaders = 0;

	memset(&props, 0, sizeof(props));
	while ((c = getopt_long(argc, argv, "u:q:e:r:p:H:b:f:n:s:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'u': url = optarg; break;
		case 'q': queue = optarg; break;
		case 'e': exchange = optarg; break;
		case 'r': rkey = optarg; break;
		case 'p': set_property(&props, optarg); break;
		case 'H':
			if (nheaders == MAX_HEADERS) {
				fprintf(stderr, "er-send: at most %d headers\n", MAX_HEADERS);
				return 2;
			}
			if (field_spec_parse_entry(optarg, &headers[nheaders++], err, sizeof(err)) < 0) {
				fprintf(stderr, "er-send: -H %s: %s\n", optarg, err);
				return 2;
			}
			break;
		case 'b': body_arg = optarg; break;
		case 'f': body_file = optarg; break;
		case 'n': count = parse_num("-n", optarg, 0, 100000000); break;
		case 's': start = parse_num("-s", optarg, 0, 99999999); break;
		case OPT_BINARY: binary = parse_num("--binary", optarg, 0, 100000000); break;
		case OPT_LINES: lines = optarg; break;
		case OPT_SIZE: size = parse_num("--size", optarg, 0, MAX_FILE); break;
		case OPT_DUP: dup_every = parse_num("--dup-every", optarg, 1, 100000000); break;
		case OPT_EXPECTED: expected_path = optarg; break;
		case OPT_QTYPE: queue_type = optarg; break;
		case OPT_DECL_EX:
		case OPT_DECL_Q:
		case OPT_BIND: {
			const char **v = c == OPT_DECL_EX ? decl_ex : c == OPT_DECL_Q ? decl_q : binds;
			size_t *n = c == OPT_DECL_EX ? &ndecl_ex : c == OPT_DECL_Q ? &ndecl_q : &nbinds;

			if (*n == MAX_DECLARES) {
				fprintf(stderr, "er-send: at most %d of each declaration\n", MAX_DECLARES);
				return 2;
			}
			v[(*n)++] = optarg;
			break;
		}
		case 'h': usage(stdout, 0); break;
		default: usage(stderr, 2); break;
		}
	}
	if (optind != argc || url == NULL || (queue && rkey) || (queue && *exchange) ||
	    (body_arg && body_file))
		usage(stderr, 2);
	if (queue)
		rkey = queue;
	if (rkey == NULL && (binary >= 0 || lines || count > 0 || !(ndecl_ex || ndecl_q || nbinds)))
		usage(stderr, 2);
	if (lines && (binary >= 0 || body_arg || body_file)) {
		fprintf(stderr, "er-send: --lines goes with none of --binary, -b, -f\n");
		return 2;
	}
	if (binary >= 0 && (body_arg || body_file || (props._flags & AMQP_BASIC_MESSAGE_ID_FLAG))) {
		fprintf(stderr, "er-send: --binary makes its own bodies and message ids\n");
		return 2;
	}
	if ((expected_path || dup_every || size >= 0) && binary < 0) {
		fprintf(stderr, "er-send: --expected, --dup-every and --size go with --binary\n");
		return 2;
	}
	if (nheaders > 0) {
		props._flags |= AMQP_BASIC_HEADERS_FLAG;
		props.headers.num_entries = nheaders;
		props.headers.entries = headers;
	}
	if (body_file)
		body = read_file(body_file, &body_len);
	else if (body_arg)
		body_len = strlen(body_arg);

	amqp_client_init(&cl, 30000);
	if (amqp_client_connect_str(&cl, url) < 0 || amqp_client_channel_open(&cl, CHANNEL) < 0)
		die("%s", cl.err);
	for (size_t i = 0; i < ndecl_ex; i++)
		declare_exchange(decl_ex[i]);
	for (size_t i = 0; i < ndecl_q; i++)
		declare_queue(decl_q[i], queue_type);
	for (size_t i = 0; i < nbinds; i++)
		bind_queue(binds[i]);
	if (amqp_client_confirm_select(&cl, CHANNEL, WINDOW, NULL, NULL) < 0)
		die("%s", cl.err);

	if (binary >= 0) {
		unsigned char *buf = malloc(size < 0 ? 256 + 97 : (size_t)size + 1);
		char id[32];

		if (buf == NULL)
			die("out of memory");
		if (expected_path && (expected = fopen(expected_path, "w")) == NULL)
			die("%s: %s", expected_path, strerror(errno));
		props._flags |= AMQP_BASIC_MESSAGE_ID_FLAG;
		for (long k = 1; k <= binary; k++) {
			long seq = start + k - 1;
			size_t n = binary_body(buf, seq, size);

			snprintf(id, sizeof(id), "bin-%08ld", seq);
			props.message_id = amqp_cstring_bytes(id);
			publish(exchange, rkey, &props, buf, n);
			events++;
			if (dup_every && k % dup_every == 0) {
				publish(exchange, rkey, &props, buf, n);
				dups++;
			}
			if (expected) {
				fprintf(expected, "%s\t", id);
				esc_write(expected, buf, n, NULL);
				fputc('\n', expected);
			}
		}
		props._flags &= ~(amqp_flags_t)AMQP_BASIC_MESSAGE_ID_FLAG;
		free(buf);
	} else if (lines) {
		FILE *f = fopen(lines, "r");
		char *line = NULL;
		size_t cap = 0;
		ssize_t n;

		if (f == NULL)
			die("%s: %s", lines, strerror(errno));
		while ((n = getline(&line, &cap, f)) >= 0) {
			if (n > 0 && line[n - 1] == '\n')
				n--;
			publish(exchange, rkey, &props, line, (size_t)n);
			events++;
		}
		if (ferror(f))
			die("%s: %s", lines, strerror(errno));
		free(line);
		fclose(f);
	} else {
		const void *b = body ? body : body_arg;

		for (long k = 0; k < count; k++) {
			publish(exchange, rkey, &props, b ? b : "", body_len);
			events++;
		}
	}
	if (amqp_client_wait_confirms(&cl) < 0 || amqp_client_close(&cl, CHANNEL) < 0)
		die("%s", cl.err);
	if (expected && fclose(expected) != 0)
		die("%s: %s", expected_path, strerror(errno));
	printf("published %" PRIu64 " messages (%lu events, %lu duplicates)\n", cl.next_seq - 1,
	    events, dups);
	free(body);
	free_properties(&props);
	field_spec_free_all();
	if (cl.nacked) {
		fprintf(stderr, "er-send: %" PRIu64 " messages were nacked\n", cl.nacked);
		return 1;
	}
	return 0;
}
