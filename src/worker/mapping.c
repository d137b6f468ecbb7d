/*
 * mapping: one delivery in, one Kafka record out, as its route says.
 * The seed format goes through event_decode() unchanged; a mapped route
 * takes its id, key, value, headers, topic and timestamp from the JSON
 * body (json_paths: one strict pass, only when a json: source exists),
 * the AMQP properties, the header table, the exchange and routing key.
 * Both carry the W3C trace context (traceparent, tracestate) through.
 *
 * It owns nothing: everything the record needs beyond the body is
 * written into the slot's event_buf, because rabbitmq-c recycles the
 * properties, exchange and routing key once the delivery callback
 * returns. The buffer only grows (to the largest delivery seen; about
 * six times the header frame at worst, plus what the body's strings
 * unescape to), so a steady stream allocates nothing.
 *
 * The one thing to know: while a mapped record is built, the buffer may
 * move (realloc), so what lies in it is held as an offset: a header's
 * name or value offset sits in its pointer field with IN_BUF set in its
 * length, and fix_pointers() turns them into pointers at the very end.
 * Nothing may hold a pointer into the buffer before that.
 *
 * Header values are encoded by header_encode() (header_encode.c). A
 * delivery whose header table breaks its bounds (more than
 * HEADER_MAX_FIELDS fields, nested deeper than HEADER_MAX_DEPTH) is
 * rejected as bad_headers before anything reads it, whatever its route.
 */
#include "autoconf.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/route.h"
#include "worker/header_encode.h"
#include "worker/mapping.h"
#include "worker/trace_context.h"

/* Set in a header's name_len or len while its pointer field is an offset into the buffer. */
#define IN_BUF ((size_t)1 << (sizeof(size_t) * CHAR_BIT - 1))

/* Longest Kafka topic name. */
#define TOPIC_MAX 249

/* An AMQP timestamp at or above this is taken as milliseconds (year 5138 in seconds). */
#define TS_MS_FROM 100000000000ULL

/* ---- the buffer ---- */

/* Appends n bytes; 0, or -1 (ENOMEM). */
static int
buf_add(struct event_buf *b, const void *s, size_t n)
{
	if (event_buf_reserve(b, n) < 0)
		return -1;
	if (n > 0)
		memcpy(b->p + b->len, s, n);
	b->len += n;
	return 0;
}

/* Header n of the record being built (growing the array); NULL: ENOMEM. */
static struct event_header *
buf_header(struct event_buf *b, size_t n)
{
	if (n >= b->hcap) {
		size_t cap = b->hcap != 0 ? 2 * b->hcap : 8;
		struct event_header *h = realloc(b->h, cap * sizeof(*h));

		if (h == NULL) {
			errno = ENOMEM;
			return NULL;
		}
		b->h = h;
		b->hcap = cap;
	}
	return &b->h[n];
}

/* ---- sources ---- */

/* Where a source's text is. */
enum vstate {
	V_ABSENT = 0,	/* no such member, property or header */
	V_NULL,		/* JSON null, AMQP void */
	V_EXT,		/* at p: the body, the route or the event; never moves */
	V_BUF,		/* at the buffer's offset off: fixed up at the end */
};

struct val {
	enum vstate st;
	const char *p;
	size_t off, len;
};

/* One decode's inputs and outputs. */
struct ctx {
	const struct route *r;
	const struct delivery_meta *m;
	const amqp_table_t *hdrs;	/* the delivery's header table, or NULL */
	struct event *ev;
	struct event_buf *b;
};

static const amqp_field_value_t *
header_find(const amqp_table_t *t, const char *name, size_t n)
{
	if (t == NULL)
		return NULL;
	for (int i = 0; i < t->num_entries; i++)
		if (t->entries[i].key.len == n && memcmp(t->entries[i].key.bytes, name, n) == 0)
			return &t->entries[i].value;
	return NULL;
}

/* A string property, or NULL when it is unset or not a string. */
static const amqp_bytes_t *
prop_string(const amqp_basic_properties_t *p, enum route_prop which)
{
	amqp_flags_t flag;
	const amqp_bytes_t *v;

	if (p == NULL)
		return NULL;
	switch (which) {
	case RPROP_MESSAGE_ID: flag = AMQP_BASIC_MESSAGE_ID_FLAG; v = &p->message_id; break;
	case RPROP_CORRELATION_ID: flag = AMQP_BASIC_CORRELATION_ID_FLAG; v = &p->correlation_id; break;
	case RPROP_TYPE: flag = AMQP_BASIC_TYPE_FLAG; v = &p->type; break;
	case RPROP_APP_ID: flag = AMQP_BASIC_APP_ID_FLAG; v = &p->app_id; break;
	case RPROP_CONTENT_TYPE: flag = AMQP_BASIC_CONTENT_TYPE_FLAG; v = &p->content_type; break;
	case RPROP_CONTENT_ENCODING:
		flag = AMQP_BASIC_CONTENT_ENCODING_FLAG;
		v = &p->content_encoding;
		break;
	case RPROP_USER_ID: flag = AMQP_BASIC_USER_ID_FLAG; v = &p->user_id; break;
	case RPROP_REPLY_TO: flag = AMQP_BASIC_REPLY_TO_FLAG; v = &p->reply_to; break;
	case RPROP_EXPIRATION: flag = AMQP_BASIC_EXPIRATION_FLAG; v = &p->expiration; break;
	default: return NULL;
	}
	return (p->_flags & flag) != 0 ? v : NULL;
}

/* A property as text into the buffer (strings raw, numbers decimal); 0 or -1 (ENOMEM). */
static int
prop_val(struct ctx *c, enum route_prop which, struct val *v)
{
	const amqp_basic_properties_t *p = c->m != NULL ? c->m->props : NULL;
	const amqp_bytes_t *s = prop_string(p, which);
	char t[24];
	size_t n;

	v->st = V_ABSENT;
	if (s != NULL) {
		v->st = V_BUF;
		v->off = c->b->len;
		v->len = s->len;
		return buf_add(c->b, s->bytes, s->len);
	}
	if (p == NULL)
		return 0;
	if (which == RPROP_TIMESTAMP && (p->_flags & AMQP_BASIC_TIMESTAMP_FLAG))
		n = (size_t)snprintf(t, sizeof(t), "%" PRIu64, p->timestamp);
	else if (which == RPROP_PRIORITY && (p->_flags & AMQP_BASIC_PRIORITY_FLAG))
		n = (size_t)snprintf(t, sizeof(t), "%u", (unsigned)p->priority);
	else if (which == RPROP_DELIVERY_MODE && (p->_flags & AMQP_BASIC_DELIVERY_MODE_FLAG))
		n = (size_t)snprintf(t, sizeof(t), "%u", (unsigned)p->delivery_mode);
	else
		return 0;
	v->st = V_BUF;
	v->off = c->b->len;
	v->len = n;
	return buf_add(c->b, t, n);
}

/*
 * An AMQP field value as a header's text. One that cannot be encoded
 * (too deep) is absent. 0, or -1 (ENOMEM).
 */
static int
field_val(struct ctx *c, const amqp_field_value_t *f, struct val *v)
{
	int rc;

	v->st = V_ABSENT;
	if (f == NULL)
		return 0;
	rc = header_encode(f, c->b, &v->off, &v->len);
	if (rc < 0)
		return errno == ENOMEM ? -1 : 0;
	v->st = rc == 0 ? V_NULL : V_BUF;
	return 0;
}

/*
 * A JSON value as a key's or header's text: a string unescaped, any
 * other value its JSON text from the body. A string that does not
 * unescape (a lone surrogate) is absent. 0, or -1 (ENOMEM).
 */
static int
json_val(struct ctx *c, const struct json_span *sp, struct val *v)
{
	long u;

	v->st = V_ABSENT;
	switch (sp->kind) {
	case JSON_ABSENT:
		return 0;
	case JSON_NULL:
		v->st = V_NULL;
		return 0;
	case JSON_STRING:
		if (!sp->escaped) {
			v->st = V_EXT;
			v->p = sp->start + 1;
			v->len = sp->len - 2;
			return 0;
		}
		/* Unescaping never lengthens a string. */
		if (event_buf_reserve(c->b, sp->len - 2) < 0)
			return -1;
		u = json_unescape(sp->start + 1, sp->len - 2, c->b->p + c->b->len, sp->len - 2);
		if (u < 0)
			return 0;
		v->st = V_BUF;
		v->off = c->b->len;
		v->len = (size_t)u;
		c->b->len += (size_t)u;
		return 0;
	default:
		v->st = V_EXT;
		v->p = sp->start;
		v->len = sp->len;
		return 0;
	}
}

/*
 * Copies an id of n bytes; DLQ_NONE, event_id_too_long, or
 * missing_event_id when empty or holding a NUL.
 */
static enum dlq_reason
id_set(struct event *ev, const void *s, size_t n)
{
	if (n > EVENT_ID_MAX)
		return event_id_too_long(ev, n);
	if (n == 0 || memchr(s, '\0', n) != NULL)
		return DLQ_missing_event_id;
	memmove(ev->id, s, n);		/* s may be ev->id itself */
	ev->id[n] = '\0';
	ev->id_len = n;
	return DLQ_NONE;
}

static enum dlq_reason
decode_id(struct ctx *c, const struct json_span *sp)
{
	const struct route_src *src = &c->r->id;
	const amqp_field_value_t *f;
	const amqp_bytes_t *s;
	enum dlq_reason why;
	size_t off, n;
	long u;

	switch (src->kind) {
	case RSRC_JSON:
		if (sp->kind == JSON_NUMBER)
			return id_set(c->ev, sp->start, sp->len);
		if (sp->kind != JSON_STRING)
			return DLQ_missing_event_id;
		if (!sp->escaped)
			return id_set(c->ev, sp->start + 1, sp->len - 2);
		u = json_unescape(sp->start + 1, sp->len - 2, c->ev->id, EVENT_ID_MAX);
		if (u == JSON_ERR_TOO_LONG)
			return event_id_too_long(c->ev, sp->len - 2);
		if (u < 0)
			return DLQ_missing_event_id;
		return id_set(c->ev, c->ev->id, (size_t)u);
	case RSRC_PROPERTY:
		s = prop_string(c->m != NULL ? c->m->props : NULL, src->prop);
		return s != NULL ? id_set(c->ev, s->bytes, s->len) : DLQ_missing_event_id;
	case RSRC_HEADER:
		f = header_find(c->hdrs, src->name, src->name_len);
		if (f == NULL)
			return DLQ_missing_event_id;
		switch (f->kind) {
		case AMQP_FIELD_KIND_UTF8:
		case AMQP_FIELD_KIND_BYTES:
			return id_set(c->ev, f->value.bytes.bytes, f->value.bytes.len);
		case AMQP_FIELD_KIND_I8: case AMQP_FIELD_KIND_U8:
		case AMQP_FIELD_KIND_I16: case AMQP_FIELD_KIND_U16:
		case AMQP_FIELD_KIND_I32: case AMQP_FIELD_KIND_U32:
		case AMQP_FIELD_KIND_I64: case AMQP_FIELD_KIND_U64:
			/* Decimal, through the buffer: nothing else is in it yet. */
			if (header_encode(f, c->b, &off, &n) < 0)
				return DLQ_missing_event_id;
			why = id_set(c->ev, c->b->p + off, n);
			c->b->len = off;
			return why;
		default:
			return DLQ_missing_event_id;
		}
	default:
		assert(!"id source");
		return DLQ_missing_event_id;
	}
}

/* ---- trace context ---- */

/* The name of header h of a record being built. */
static int
header_named(const struct event_buf *b, const struct event_header *h, const char *name,
    size_t n)
{
	const char *s = h->name;

	if ((h->name_len & ~IN_BUF) != n)
		return 0;
	if (h->name_len & IN_BUF)
		s = b->p + (uintptr_t)h->name;
	return memcmp(s, name, n) == 0;
}

/*
 * A header the route does not produce itself: the record's own header
 * of that name wins over the one carried through.
 */
static int
has_header(const struct event *ev, const struct event_buf *b, const char *name, size_t n)
{
	for (size_t i = 0; i < ev->nhdr; i++)
		if (header_named(b, &ev->hdr[i], name, n))
			return 1;
	return 0;
}

/* ---- building a mapped record ---- */

/* Appends a header; name: the route's (stable) or at the buffer's name_off. 0 or -1. */
static int
add_header(struct ctx *c, const char *name, size_t name_off, size_t name_len,
    const struct val *v)
{
	struct event_header *h;

	if (v->st == V_ABSENT)
		return 0;
	h = buf_header(c->b, c->ev->nhdr);
	if (h == NULL)
		return -1;
	c->ev->hdr = c->b->h;
	if (name != NULL) {
		h->name = name;
		h->name_len = name_len;
	} else {
		h->name = (const char *)(uintptr_t)name_off;
		h->name_len = name_len | IN_BUF;
	}
	switch (v->st) {
	case V_NULL:
		h->value = NULL;
		h->len = 0;
		break;
	case V_EXT:
		h->value = v->p;
		h->len = v->len;
		break;
	default:
		h->value = (const void *)(uintptr_t)v->off;
		h->len = v->len | IN_BUF;
		break;
	}
	c->ev->nhdr++;
	return 0;
}

/* Every header-table entry whose name starts with the source's prefix. 0 or -1. */
static int
prefix_headers(struct ctx *c, const struct route_header *rh)
{
	const amqp_table_t *t = c->hdrs;
	const struct route_src *src = &rh->src;

	if (t == NULL)
		return 0;
	for (int i = 0; i < t->num_entries; i++) {
		const amqp_table_entry_t *e = &t->entries[i];
		size_t name_off = c->b->len, rest;
		struct val v;

		if (e->key.len < src->name_len || memcmp(e->key.bytes, src->name, src->name_len) != 0)
			continue;
		rest = e->key.len - src->name_len;
		if (buf_add(c->b, rh->name, rh->name_len) < 0 ||
		    buf_add(c->b, (const char *)e->key.bytes + src->name_len, rest) < 0 ||
		    field_val(c, &e->value, &v) < 0 ||
		    add_header(c, NULL, name_off, rh->name_len + rest, &v) < 0)
			return -1;
	}
	return 0;
}

static int
map_headers(struct ctx *c, const struct json_span *const *sp)
{
	const struct route *r = c->r;

	for (size_t i = 0; i < r->nheaders && i < ROUTE_MAX_HEADERS; i++) {
		const struct route_header *rh = &r->headers[i];
		struct val v;
		int rc = 0;

		switch (rh->src.kind) {
		case RSRC_PROPERTY:
			rc = prop_val(c, rh->src.prop, &v);
			break;
		case RSRC_HEADER:
			if (rh->src.prefix) {
				if (prefix_headers(c, rh) < 0)
					return -1;
				continue;
			}
			rc = field_val(c, header_find(c->hdrs, rh->src.name, rh->src.name_len), &v);
			break;
		case RSRC_JSON:
			rc = json_val(c, sp[i], &v);
			break;
		default:
			assert(!"header source");
			continue;
		}
		if (rc < 0 || add_header(c, rh->name, 0, rh->name_len, &v) < 0)
			return -1;
	}
	return 0;
}

/* The key's text; DLQ_NONE or missing_key, -1 on ENOMEM in *err. */
static enum dlq_reason
map_key(struct ctx *c, const struct json_span *sp, struct val *v, int *err)
{
	const struct route_src *src = &c->r->key;
	int rc = 0;

	v->st = V_ABSENT;
	switch (src->kind) {
	case RSRC_NONE:
		v->st = V_NULL;
		return DLQ_NONE;
	case RSRC_ID:
		v->st = V_EXT;
		v->p = c->ev->id;
		v->len = c->ev->id_len;
		return DLQ_NONE;
	case RSRC_JSON:
		rc = json_val(c, sp, v);
		break;
	case RSRC_ROUTING_KEY:
		v->st = V_BUF;
		v->off = c->b->len;
		v->len = c->m != NULL ? c->m->routing_key.len : 0;
		if (v->len > 0)
			rc = buf_add(c->b, c->m->routing_key.bytes, v->len);
		break;
	case RSRC_HEADER:
		rc = field_val(c, header_find(c->hdrs, src->name, src->name_len), v);
		break;
	case RSRC_PROPERTY:
		rc = prop_val(c, src->prop, v);
		break;
	default:
		assert(!"key source");
		break;
	}
	if (rc < 0) {
		*err = 1;
		return DLQ_NONE;
	}
	/* No key from a null either: `key: none` is how a route asks for none. */
	return v->st == V_ABSENT || v->st == V_NULL ? DLQ_missing_key : DLQ_NONE;
}

static int
topic_char(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	    ch == '.' || ch == '_' || ch == '-';
}

/* Fills the topic template into the buffer at *off (NUL-terminated); DLQ_NONE or bad_topic. */
static enum dlq_reason
map_topic(struct ctx *c, size_t *off, int *err)
{
	const struct route *r = c->r;
	const struct delivery_meta *m = c->m;
	size_t start = c->b->len, n, hoff, hlen;
	const char *t;
	int rc = 0;

	for (size_t i = 0; i < r->ntpl && rc == 0; i++) {
		const struct route_tpl_part *part = &r->tpl[i];

		switch (part->kind) {
		case RTPL_TEXT:
			rc = buf_add(c->b, part->text, part->len);
			break;
		case RTPL_ROUTING_KEY:
			if (m != NULL)
				rc = buf_add(c->b, m->routing_key.bytes, m->routing_key.len);
			break;
		case RTPL_QUEUE:
			rc = buf_add(c->b, r->queue, strlen(r->queue));
			break;
		case RTPL_EXCHANGE:
			if (m != NULL)
				rc = buf_add(c->b, m->exchange.bytes, m->exchange.len);
			break;
		case RTPL_HEADER: {
			const amqp_field_value_t *f = header_find(c->hdrs, part->text, part->len);

			if (f == NULL)
				return DLQ_bad_topic;
			/* Appends in place: the topic stays one run of bytes. */
			rc = header_encode(f, c->b, &hoff, &hlen);
			if (rc < 0 && errno == ENOMEM)
				break;
			if (rc <= 0)
				return DLQ_bad_topic;
			rc = 0;
			break;
		}
		}
	}
	if (rc < 0 || buf_add(c->b, "", 1) < 0) {
		*err = 1;
		return DLQ_NONE;
	}
	t = c->b->p + start;
	n = c->b->len - start - 1;
	if (n == 0 || n > TOPIC_MAX || (n == 1 && t[0] == '.') ||
	    (n == 2 && t[0] == '.' && t[1] == '.'))
		return DLQ_bad_topic;
	for (size_t i = 0; i < n; i++)
		if (!topic_char((unsigned char)t[i]))
			return DLQ_bad_topic;
	*off = start;
	return DLQ_NONE;
}

/* Kafka CreateTime from the AMQP timestamp; 0: the relay's time. */
static int64_t
map_timestamp(const struct route *r, const amqp_basic_properties_t *p)
{
	uint64_t ts;

	if (r->timestamp != RTS_AMQP || p == NULL || !(p->_flags & AMQP_BASIC_TIMESTAMP_FLAG))
		return 0;
	ts = p->timestamp;
	if (ts < TS_MS_FROM)
		return (int64_t)ts * 1000;	/* < 10^14: no overflow */
	/* Already milliseconds (some clients write them); beyond int64: now. */
	return ts <= INT64_MAX ? (int64_t)ts : 0;
}

/* Carries a valid traceparent (and tracestate) into a mapped record. 0 or -1. */
static int
map_trace(struct ctx *c)
{
	const amqp_bytes_t *tp, *ts;
	struct trace_context tc;
	struct val v;

	trace_context_find(c->hdrs, &tc);
	c->ev->bad_traceparent = (unsigned)tc.invalid;
	tp = tc.traceparent;
	ts = tc.tracestate;
	if (tp == NULL)
		return 0;
	if (!has_header(c->ev, c->b, "traceparent", 11)) {
		v.st = V_BUF;
		v.off = c->b->len;
		v.len = tp->len;
		if (buf_add(c->b, tp->bytes, tp->len) < 0 ||
		    add_header(c, "traceparent", 0, 11, &v) < 0)
			return -1;
	}
	if (ts != NULL && !has_header(c->ev, c->b, "tracestate", 10)) {
		v.st = V_BUF;
		v.off = c->b->len;
		v.len = ts->len;
		if (buf_add(c->b, ts->bytes, ts->len) < 0 ||
		    add_header(c, "tracestate", 0, 10, &v) < 0)
			return -1;
	}
	return 0;
}

/* The buffer will not move again: offsets become pointers. */
static void
fix_pointers(struct event *ev, struct event_buf *b)
{
	for (size_t i = 0; i < ev->nhdr; i++) {
		struct event_header *h = &b->h[i];

		if (h->name_len & IN_BUF) {
			h->name = b->p + (uintptr_t)h->name;
			h->name_len &= ~IN_BUF;
		}
		if (h->len & IN_BUF) {
			h->len &= ~IN_BUF;
			/* Empty is not null, and the buffer may have no storage yet. */
			h->value = h->len != 0 ? b->p + (uintptr_t)h->value : "";
		}
	}
}

/* Every json: source of the route, in the order id, key, value, headers. */
struct json_sources {
	const struct route_path *paths[3 + ROUTE_MAX_HEADERS];
	struct json_span spans[3 + ROUTE_MAX_HEADERS];
	const struct json_span *id, *key, *value, *hdr[ROUTE_MAX_HEADERS];
	size_t n;
};

static const struct json_span *
json_source(struct json_sources *js, const struct route_src *src)
{
	if (src->kind != RSRC_JSON)
		return NULL;
	js->paths[js->n] = &src->path;
	return &js->spans[js->n++];
}

/* Reads the route's json: paths from the body (64 at a time); 0, or a JSON_ERR_* code. */
static int
json_sources(struct json_sources *js, const struct route *r, const void *body, size_t len)
{
	int rc;

	js->n = 0;
	js->id = json_source(js, &r->id);
	js->key = json_source(js, &r->key);
	js->value = json_source(js, &r->value);
	for (size_t i = 0; i < r->nheaders && i < ROUTE_MAX_HEADERS; i++)
		js->hdr[i] = json_source(js, &r->headers[i].src);
	if (js->n == 0)
		return 0;	/* a body that is never parsed: binary ones relay */
	for (size_t i = 0; i < js->n; i += 64) {
		size_t k = js->n - i < 64 ? js->n - i : 64;

		if ((rc = json_paths(body, len, js->paths + i, k, js->spans + i)) < 0)
			return rc;
	}
	return 0;
}

static enum dlq_reason
decode_mapped(struct ctx *c, const void *body, size_t len)
{
	const struct route *r = c->r;
	struct event *ev = c->ev;
	struct json_sources js;
	struct val key;
	size_t topic_off = 0;
	enum dlq_reason why;
	int err = 0, rc;

	assert(r->nheaders <= ROUTE_MAX_HEADERS);
	if ((rc = json_sources(&js, r, body, len)) < 0)
		return json_err_reason(rc, ev->detail);
	if ((why = decode_id(c, js.id)) != DLQ_NONE)
		return why;
	if ((why = map_key(c, js.key, &key, &err)) != DLQ_NONE || err)
		goto out;
	if (r->value.kind == RSRC_JSON) {
		if (js.value->kind == JSON_ABSENT)
			return DLQ_missing_value;
		ev->value = js.value->start;
		ev->value_len = js.value->len;
	} else {
		assert(r->value.kind == RSRC_BODY);
		ev->value = body;
		ev->value_len = len;
	}
	if (map_headers(c, js.hdr) < 0) {
		err = 1;
		goto out;
	}
	if (r->tpl != NULL && ((why = map_topic(c, &topic_off, &err)) != DLQ_NONE || err))
		goto out;
	ev->timestamp_ms = map_timestamp(r, c->m != NULL ? c->m->props : NULL);
	if (r->trace_context && c->hdrs != NULL && map_trace(c) < 0) {
		err = 1;
		goto out;
	}

	/* Nothing grows the buffer from here on. */
	fix_pointers(ev, c->b);
	ev->hdr = c->b->h;
	if (r->tpl != NULL)
		ev->topic = c->b->p + topic_off;
	switch (key.st) {
	case V_EXT:
		ev->key = key.p;
		ev->key_len = key.len;
		break;
	case V_BUF:
		ev->key = key.len != 0 ? c->b->p + key.off : "";
		ev->key_len = key.len;
		break;
	default:
		ev->key = NULL;
		ev->key_len = 0;
		break;
	}
out:
	if (err) {
		log_error("mapping: route %s: no memory for a record's key, topic or headers "
		    "(%zu bytes held)", r->name, c->b->cap);
		return DLQ_too_large;
	}
	return why;
}

/* Carries a valid traceparent (and tracestate) into a seed-format event. 0 or -1. */
static int
seed_trace(struct ctx *c)
{
	struct event *ev = c->ev;
	const amqp_bytes_t *tp, *ts;
	struct trace_context tc;
	size_t need, o;
	int want_tp, want_ts;

	trace_context_find(c->hdrs, &tc);
	ev->bad_traceparent = (unsigned)tc.invalid;
	tp = tc.traceparent;
	ts = tc.tracestate;
	if (tp == NULL)
		return 0;
	want_tp = !has_header(ev, c->b, "traceparent", 11);
	want_ts = ts != NULL && !has_header(ev, c->b, "tracestate", 10);
	need = (want_tp ? tp->len : 0) + (want_ts ? ts->len : 0);
	/* One reservation, then pointers: the buffer does not move in between. */
	if (event_buf_reserve(c->b, need) < 0)
		return -1;
	assert(ev->nhdr + 2 <= EVENT_SEED_HEADERS);
	if (want_tp) {
		o = c->b->len;
		buf_add(c->b, tp->bytes, tp->len);
		ev->hdr[ev->nhdr++] = (struct event_header){ "traceparent", 11, c->b->p + o, tp->len };
	}
	if (want_ts) {
		o = c->b->len;
		buf_add(c->b, ts->bytes, ts->len);
		ev->hdr[ev->nhdr++] = (struct event_header){ "tracestate", 10, c->b->p + o, ts->len };
	}
	return 0;
}

enum dlq_reason
mapping_decode(struct event_decoder *d, const struct route *r, const void *body, size_t len,
    const struct delivery_meta *m, struct event *ev, struct event_buf *buf)
{
	const amqp_basic_properties_t *p = m != NULL ? m->props : NULL;
	struct ctx c = { r, m, NULL, ev, buf };
	enum dlq_reason why;

	buf->len = 0;
	if (p != NULL && (p->_flags & AMQP_BASIC_HEADERS_FLAG) && p->headers.num_entries > 0)
		c.hdrs = &p->headers;
	if (c.hdrs != NULL && header_table_check(c.hdrs, ev->detail, sizeof(ev->detail)) < 0) {
		why = DLQ_bad_headers;
		ev->id[0] = '\0';
		ev->id_len = 0;
		ev->hdr = ev->seed_hdr;
		goto reject;
	}

	if (r->format == ROUTE_FMT_SEED_JSON) {
		why = event_decode(d, r, body, len, ev);
		if (why != DLQ_NONE || !r->trace_context || c.hdrs == NULL)
			return why;
		if (seed_trace(&c) < 0) {
			log_error("mapping: route %s: no memory for the trace context", r->name);
			why = DLQ_too_large;
			goto reject;
		}
		return DLQ_NONE;
	}

	assert(d->max_bytes != 0);
	ev->id[0] = '\0';
	ev->id_len = 0;
	ev->key = ev->value = NULL;
	ev->key_len = ev->value_len = 0;
	ev->hdr = buf->h;
	ev->nhdr = 0;
	ev->topic = NULL;
	ev->timestamp_ms = 0;
	ev->bad_traceparent = 0;
	ev->correlation_len = 0;
	ev->detail[0] = '\0';
	if (len > r->max_message_bytes || len > d->max_bytes)
		return DLQ_too_large;
	why = decode_mapped(&c, body, len);
	if (why == DLQ_NONE)
		return DLQ_NONE;
reject:
	/* As event_decode: no value, key, topic or header behind a rejection; the id stays. */
	ev->nhdr = 0;
	ev->correlation_len = 0;
	ev->key = ev->value = NULL;
	ev->key_len = ev->value_len = 0;
	ev->topic = NULL;
	ev->timestamp_ms = 0;
	ev->bad_traceparent = 0;
	return why;
}
