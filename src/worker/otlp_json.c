/*
 * otlp_json: the OTLP/HTTP JSON encoder (otlp_json.h).
 *
 * The one thing to know: a receiver rejects the whole request when one
 * string is not valid UTF-8, and routing keys, message ids and keys
 * come from the wire as bytes. Every string goes through put_str(),
 * which writes an invalid sequence as U+FFFD.
 */
#include "autoconf.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "worker/otlp_json.h"
#include "worker/trace_context.h"

/* Span kinds and status codes of the OTLP protobuf enums. */
#define KIND_PRODUCER 4
#define KIND_CONSUMER 5
#define STATUS_ERROR 2

void
span_text_reset(struct span_rec *r)
{
	r->text_used = 0;
	for (int i = 0; i < SPAN_TEXT_COUNT; i++)
		r->text_len[i] = SPAN_TEXT_ABSENT;
}

int
span_text_put(struct span_rec *r, enum span_text which, const void *p, size_t n)
{
	if (n > sizeof(r->text) - r->text_used) {
		r->text_len[which] = SPAN_TEXT_ABSENT;
		return -1;
	}
	if (n > 0)
		memcpy(r->text + r->text_used, p, n);
	r->text_off[which] = r->text_used;
	r->text_len[which] = (uint16_t)n;
	r->text_used = (uint16_t)(r->text_used + n);
	return 0;
}

const char *
span_text_get(const struct span_rec *r, enum span_text which, size_t *n)
{
	if (r->text_len[which] == SPAN_TEXT_ABSENT)
		return NULL;
	*n = r->text_len[which];
	return r->text + r->text_off[which];
}

/* The slow path of reserve(): grows the buffer. */
static int
grow(struct otlp_buf *b, size_t n)
{
	size_t cap;
	char *p;

	if (b->failed)
		return -1;
	cap = b->cap > 0 ? b->cap : 4096;
	while (cap < b->len + n)
		cap *= 2;
	p = realloc(b->p, cap);
	if (p == NULL) {
		b->failed = 1;
		return -1;
	}
	b->p = p;
	b->cap = cap;
	return 0;
}

/* Room for n more bytes; -1 once an allocation failed. */
static inline int
reserve(struct otlp_buf *b, size_t n)
{
	if (__builtin_expect(b->len + n <= b->cap && !b->failed, 1))
		return 0;
	return grow(b, n);
}

static void
put(struct otlp_buf *b, const void *s, size_t n)
{
	if (reserve(b, n) < 0)
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void
puts_(struct otlp_buf *b, const char *s)
{
	put(b, s, strlen(s));
}

static void __attribute__((format(printf, 2, 3)))
putf(struct otlp_buf *b, const char *fmt, ...)
{
	char tmp[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		put(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* Decimal digits of v (printf costs a third of the encoding). */
static void
put_u64(struct otlp_buf *b, uint64_t v)
{
	char tmp[20];
	size_t i = sizeof(tmp);

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	put(b, tmp + i, sizeof(tmp) - i);
}

static void
put_i64(struct otlp_buf *b, int64_t v)
{
	if (v < 0) {
		put(b, "-", 1);
		put_u64(b, (uint64_t)0 - (uint64_t)v);
	} else {
		put_u64(b, (uint64_t)v);
	}
}

/* A quoted decimal string: OTLP's JSON form of a 64-bit integer. */
static void
put_u64_str(struct otlp_buf *b, uint64_t v)
{
	put(b, "\"", 1);
	put_u64(b, v);
	put(b, "\"", 1);
}

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0. */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len;
	unsigned min, cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		min = 0x80;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		min = 0x800;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		min = 0x10000;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* A JSON string: quotes, escapes, invalid UTF-8 as U+FFFD. */
static void
put_str(struct otlp_buf *b, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	if (reserve(b, n + 2) < 0)
		return;
	b->p[b->len++] = '"';
	while (i < n) {
		unsigned c = s[i];
		size_t run = i;

		/* The common case: a run of plain ASCII. */
		while (run < n && s[run] >= 0x20 && s[run] < 0x80 && s[run] != '"' && s[run] != '\\')
			run++;
		if (run > i) {
			put(b, s + i, run - i);
			i = run;
			continue;
		}
		if (c == '"' || c == '\\') {
			char e[2] = { '\\', (char)c };

			put(b, e, 2);
			i++;
		} else if (c < 0x20) {
			putf(b, "\\u%04x", c);
			i++;
		} else {
			size_t len = utf8_len(s + i, n - i);

			if (len == 0) {
				put(b, "\xef\xbf\xbd", 3);
				i++;
			} else {
				put(b, s + i, len);
				i += len;
			}
		}
	}
	put(b, "\"", 1);
}

static void
put_hex(struct otlp_buf *b, const uint8_t *id, size_t n)
{
	char tmp[32];

	trace_hex(id, n, tmp);
	put(b, "\"", 1);
	put(b, tmp, 2 * n);
	put(b, "\"", 1);
}

/* Attributes: `first` is 1 for the first of a list (no comma before it). */
static void
attr_str(struct otlp_buf *b, int *first, const char *key, const char *v, size_t n)
{
	puts_(b, *first ? "{\"key\":\"" : ",{\"key\":\"");
	*first = 0;
	puts_(b, key);
	puts_(b, "\",\"value\":{\"stringValue\":");
	put_str(b, v, n);
	puts_(b, "}}");
}

static void
attr_cstr(struct otlp_buf *b, int *first, const char *key, const char *v)
{
	attr_str(b, first, key, v, strlen(v));
}

static void
attr_int(struct otlp_buf *b, int *first, const char *key, int64_t v)
{
	puts_(b, *first ? "{\"key\":\"" : ",{\"key\":\"");
	*first = 0;
	puts_(b, key);
	puts_(b, "\",\"value\":{\"intValue\":\"");
	put_i64(b, v);
	puts_(b, "\"}}");
}

struct kv_ctx {
	struct otlp_buf *b;
	int *first;
};

static void
kv_attr(void *arg, const char *key, const char *value)
{
	struct kv_ctx *c = arg;

	puts_(c->b, *c->first ? "{\"key\":" : ",{\"key\":");
	*c->first = 0;
	put_str(c->b, key, strlen(key));
	puts_(c->b, ",\"value\":{\"stringValue\":");
	put_str(c->b, value, strlen(value));
	puts_(c->b, "}}");
}

int
otlp_resource(struct otlp_buf *b, const struct otlp_resource *r)
{
	int first = 1;
	char why[128];

	b->len = 0;
	b->failed = 0;
	puts_(b, "{\"attributes\":[");
	attr_cstr(b, &first, "service.name", r->service_name);
	attr_cstr(b, &first, "service.version", r->service_version);
	attr_cstr(b, &first, "host.name", r->host_name);
	attr_int(b, &first, "process.pid", r->pid);
	attr_int(b, &first, "event_relay.worker", r->worker);
	if (r->extra != NULL) {
		struct kv_ctx c = { b, &first };

		(void)config_kv_split(r->extra, kv_attr, &c, why, sizeof(why));
	}
	puts_(b, "]}");
	put(b, "", 1);		/* NUL-terminated: it is copied as a string */
	b->len--;
	return b->failed ? -1 : 0;
}

void
otlp_begin(struct otlp_buf *b, const char *resource_json, const char *scope_version)
{
	b->len = 0;
	b->failed = 0;
	puts_(b, "{\"resourceSpans\":[{\"resource\":");
	puts_(b, resource_json);
	puts_(b, ",\"scopeSpans\":[{\"scope\":{\"name\":\"event-relay\",\"version\":");
	put_str(b, scope_version, strlen(scope_version));
	puts_(b, "},\"spans\":[");
}

static void
span_head(struct otlp_buf *b, const struct span_rec *r, const uint8_t *id, const uint8_t *parent,
    const char *verb, const char *dest, size_t dest_len, int kind, uint64_t start, uint64_t end)
{
	const char *ts;
	size_t n;

	puts_(b, "{\"traceId\":");
	put_hex(b, r->trace_id, 16);
	puts_(b, ",\"spanId\":");
	put_hex(b, id, 8);
	if (parent != NULL) {
		puts_(b, ",\"parentSpanId\":");
		put_hex(b, parent, 8);
	}
	if ((ts = span_text_get(r, SPAN_TRACESTATE, &n)) != NULL && n > 0) {
		puts_(b, ",\"traceState\":");
		put_str(b, ts, n);
	}
	puts_(b, ",\"name\":");
	{
		char name[SPAN_TEXT_BYTES + 16];
		size_t vl = strlen(verb);

		if (dest_len > SPAN_TEXT_BYTES)
			dest_len = SPAN_TEXT_BYTES;
		memcpy(name, verb, vl);
		name[vl] = ' ';
		memcpy(name + vl + 1, dest, dest_len);
		put_str(b, name, vl + 1 + dest_len);
	}
	puts_(b, kind == KIND_CONSUMER ? ",\"kind\":5,\"startTimeUnixNano\":" :
	    ",\"kind\":4,\"startTimeUnixNano\":");
	put_u64_str(b, start);
	puts_(b, ",\"endTimeUnixNano\":");
	put_u64_str(b, end);
}

static void
put_status(struct otlp_buf *b, const char *error)
{
	if (error == NULL) {
		puts_(b, ",\"status\":{}");
		return;
	}
	putf(b, ",\"status\":{\"code\":%d,\"message\":", STATUS_ERROR);
	put_str(b, error, strlen(error));
	puts_(b, "}");
}

static void
process_span(struct otlp_buf *b, const struct span_rec *r)
{
	int first = 1;
	size_t qlen = strlen(r->queue), n;
	const char *t;

	span_head(b, r, r->process_id, r->has_parent ? r->parent_id : NULL, "process", r->queue,
	    qlen, KIND_CONSUMER, r->start_ns, r->end_ns);
	puts_(b, ",\"attributes\":[");
	attr_cstr(b, &first, "messaging.system", "rabbitmq");
	attr_cstr(b, &first, "messaging.operation.type", "process");
	attr_cstr(b, &first, "messaging.operation.name", "process");
	attr_str(b, &first, "messaging.destination.name", r->queue, qlen);
	if ((t = span_text_get(r, SPAN_ROUTING_KEY, &n)) != NULL)
		attr_str(b, &first, "messaging.rabbitmq.destination.routing_key", t, n);
	if ((t = span_text_get(r, SPAN_MESSAGE_ID, &n)) != NULL && n > 0)
		attr_str(b, &first, "messaging.message.id", t, n);
	attr_int(b, &first, "messaging.rabbitmq.message.delivery_tag", (int64_t)r->delivery_tag);
	if ((t = span_text_get(r, SPAN_EVENT_ID, &n)) != NULL && n > 0)
		attr_str(b, &first, "event_relay.event.id", t, n);
	puts_(b, "]");
	if (r->duplicate) {
		puts_(b, ",\"events\":[{\"timeUnixNano\":");
		put_u64_str(b, r->event_ns);
		puts_(b, ",\"name\":\"duplicate\",\"attributes\":[]}]");
	} else if (r->dead_letter != NULL) {
		first = 1;
		puts_(b, ",\"events\":[{\"timeUnixNano\":");
		put_u64_str(b, r->event_ns);
		puts_(b, ",\"name\":\"dead_letter\",\"attributes\":[");
		attr_cstr(b, &first, "event_relay.dead_letter.reason", r->dead_letter);
		if (r->dead_letter_detail != NULL)
			attr_cstr(b, &first, "error.type", r->dead_letter_detail);
		puts_(b, "]}]");
	}
	put_status(b, r->dead_letter);
	puts_(b, "}");
}

static void
send_span(struct otlp_buf *b, const struct span_rec *r)
{
	int first = 1;
	const char *topic = r->topic, *key;
	size_t tlen = 0, klen;

	if (topic != NULL)
		tlen = strlen(topic);
	else if ((topic = span_text_get(r, SPAN_TOPIC, &tlen)) == NULL)
		topic = "";
	span_head(b, r, r->send_id, r->process_id, "send", topic, tlen, KIND_PRODUCER,
	    r->send_start_ns, r->send_end_ns);
	puts_(b, ",\"attributes\":[");
	attr_cstr(b, &first, "messaging.system", "kafka");
	attr_cstr(b, &first, "messaging.operation.type", "send");
	attr_cstr(b, &first, "messaging.operation.name", "send");
	attr_str(b, &first, "messaging.destination.name", topic, tlen);
	if ((key = span_text_get(r, SPAN_KEY, &klen)) != NULL)
		attr_str(b, &first, "messaging.kafka.message.key", key, klen);
	if (r->has_offset) {
		puts_(b, ",{\"key\":\"messaging.destination.partition.id\",\"value\":{\"stringValue\":\"");
		put_i64(b, r->partition);
		puts_(b, "\"}}");
		attr_int(b, &first, "messaging.kafka.offset", r->offset);
	}
	if (r->send_error != NULL)
		attr_cstr(b, &first, "error.type", r->send_error);
	puts_(b, "]");
	put_status(b, r->send_error);
	puts_(b, "}");
}

void
otlp_add(struct otlp_buf *b, const struct span_rec *r)
{
	if (b->len > 0 && b->p[b->len - 1] == '}')
		put(b, ",", 1);
	process_span(b, r);
	if (r->has_send) {
		put(b, ",", 1);
		send_span(b, r);
	}
}

int
otlp_end(struct otlp_buf *b)
{
	puts_(b, "]}]}]}");
	return b->failed ? -1 : 0;
}

void
otlp_buf_free(struct otlp_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}
