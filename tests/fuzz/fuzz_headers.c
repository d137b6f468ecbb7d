/*
 * fuzz_headers: libFuzzer target for header_encode and mapping_decode.
 * See README.md for how to build and run.
 *
 * The input is read as a tree: a small reader builds AMQP basic
 * properties and a header table (nested tables and arrays, every field
 * kind) from the first bytes, the rest is the body. It then runs
 * header_encode on the whole table and on each entry, and
 * mapping_decode for one of four routes (header, prefix, json: sources,
 * topic templates, trace context; one of them the seed format).
 *
 * Besides crashes (ASan, UBSan) it checks the promises: a table or array
 * encodes to valid JSON in UTF-8 (json_paths accepts it, and a second
 * UTF-8 decoder does) or fails with EINVAL
 * only when nested too deep, leaving the buffer as it was; a decoded
 * event points only into the body, its buffer, itself or the route,
 * never into the properties (they are freed before the event is read,
 * as rabbitmq-c recycles them); its topic is a legal Kafka name; its
 * traceparent is valid; bad_headers comes exactly from the header
 * table's bounds; a rejection leaves nothing behind; decoding
 * the same delivery again gives the same record without growing the
 * buffer.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/event.h"
#include "common/route.h"
#include "worker/header_encode.h"
#include "worker/mapping.h"
#include "worker/trace_context.h"

#define FUZZ_MAX_BYTES 65536
#define MAX_NODES 4096
#define MAX_ENTRIES 4096
#define MAX_BUILD_DEPTH 80	/* past HEADER_MAX_DEPTH, to reach the bound */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- the tree reader ---- */

struct reader {
	const uint8_t *p, *end;
	size_t nodes, entries;
};

static amqp_field_value_t nodes[MAX_NODES];
static amqp_table_entry_t entries[MAX_ENTRIES];

static const char *const words[] = {
	"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future",
	"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
	"rojo=00f067aa0ba902b7,congo=t61rcWkgMzE", "orders", "orders.created", "a.b", "..",
	"", "x-id", "x-key", "x-t-", "x-t-a", "x-t-b", "x-topic", "x-val", "traceparent",
	"tracestate",
};
#define NWORDS (sizeof(words) / sizeof(words[0]))

static uint8_t
rd_u8(struct reader *r)
{
	return r->p < r->end ? *r->p++ : 0;
}

static void
rd_raw(struct reader *r, void *out, size_t n)
{
	size_t k = (size_t)(r->end - r->p) < n ? (size_t)(r->end - r->p) : n;

	memset(out, 0, n);
	memcpy(out, r->p, k);
	r->p += k;
}

/* A string: one of the words, or up to 63 raw bytes of the input. */
static amqp_bytes_t
rd_bytes(struct reader *r)
{
	uint8_t sel = rd_u8(r);
	amqp_bytes_t b;

	if (sel < 96) {
		b.bytes = (void *)words[sel % NWORDS];
		b.len = strlen(words[sel % NWORDS]);
		return b;
	}
	b.len = sel & 63;
	if (b.len > (size_t)(r->end - r->p))
		b.len = (size_t)(r->end - r->p);
	b.bytes = (void *)r->p;
	r->p += b.len;
	return b;
}

static const uint8_t kinds[] = {
	AMQP_FIELD_KIND_BOOLEAN, AMQP_FIELD_KIND_I8, AMQP_FIELD_KIND_U8, AMQP_FIELD_KIND_I16,
	AMQP_FIELD_KIND_U16, AMQP_FIELD_KIND_I32, AMQP_FIELD_KIND_U32, AMQP_FIELD_KIND_I64,
	AMQP_FIELD_KIND_U64, AMQP_FIELD_KIND_F32, AMQP_FIELD_KIND_F64, AMQP_FIELD_KIND_DECIMAL,
	AMQP_FIELD_KIND_UTF8, AMQP_FIELD_KIND_ARRAY, AMQP_FIELD_KIND_TIMESTAMP,
	AMQP_FIELD_KIND_TABLE, AMQP_FIELD_KIND_VOID, AMQP_FIELD_KIND_BYTES,
};

static void rd_value(struct reader *r, amqp_field_value_t *v, unsigned depth);

static void
rd_table(struct reader *r, amqp_table_t *t, unsigned depth, unsigned max)
{
	unsigned n = rd_u8(r) % (max + 1);

	if (r->entries + n > MAX_ENTRIES)
		n = 0;
	t->num_entries = (int)n;
	t->entries = n != 0 ? &entries[r->entries] : NULL;
	r->entries += n;
	for (unsigned i = 0; i < n; i++) {
		t->entries[i].key = rd_bytes(r);
		rd_value(r, &t->entries[i].value, depth + 1);
	}
}

static void
rd_value(struct reader *r, amqp_field_value_t *v, unsigned depth)
{
	uint8_t k = kinds[rd_u8(r) % sizeof(kinds)];

	memset(v, 0, sizeof(*v));
	v->kind = k;
	if (depth >= MAX_BUILD_DEPTH && (k == AMQP_FIELD_KIND_TABLE || k == AMQP_FIELD_KIND_ARRAY))
		v->kind = k = AMQP_FIELD_KIND_VOID;
	switch (k) {
	case AMQP_FIELD_KIND_BOOLEAN: v->value.boolean = rd_u8(r) & 1; break;
	case AMQP_FIELD_KIND_I8: case AMQP_FIELD_KIND_U8: rd_raw(r, &v->value.u8, 1); break;
	case AMQP_FIELD_KIND_I16: case AMQP_FIELD_KIND_U16: rd_raw(r, &v->value.u16, 2); break;
	case AMQP_FIELD_KIND_I32: case AMQP_FIELD_KIND_U32: rd_raw(r, &v->value.u32, 4); break;
	case AMQP_FIELD_KIND_F32: rd_raw(r, &v->value.f32, 4); break;
	case AMQP_FIELD_KIND_F64: rd_raw(r, &v->value.f64, 8); break;
	case AMQP_FIELD_KIND_I64: case AMQP_FIELD_KIND_U64: case AMQP_FIELD_KIND_TIMESTAMP:
		rd_raw(r, &v->value.u64, 8);
		break;
	case AMQP_FIELD_KIND_DECIMAL:
		v->value.decimal.decimals = rd_u8(r);
		rd_raw(r, &v->value.decimal.value, 4);
		break;
	case AMQP_FIELD_KIND_UTF8: case AMQP_FIELD_KIND_BYTES:
		v->value.bytes = rd_bytes(r);
		break;
	case AMQP_FIELD_KIND_TABLE:
		rd_table(r, &v->value.table, depth, 4);
		break;
	case AMQP_FIELD_KIND_ARRAY: {
		unsigned n = rd_u8(r) % 5;

		if (r->nodes + n > MAX_NODES)
			n = 0;
		v->value.array.num_entries = (int)n;
		v->value.array.entries = n != 0 ? &nodes[r->nodes] : NULL;
		r->nodes += n;
		for (unsigned i = 0; i < n; i++)
			rd_value(r, &v->value.array.entries[i], depth + 1);
		break;
	}
	default:
		break;
	}
}

static void
rd_props(struct reader *r, amqp_basic_properties_t *p)
{
	uint16_t flags;

	memset(p, 0, sizeof(*p));
	rd_raw(r, &flags, 2);
	p->_flags = flags & (amqp_flags_t)~3;
	p->content_type = rd_bytes(r);
	p->message_id = rd_bytes(r);
	p->correlation_id = rd_bytes(r);
	p->type = rd_bytes(r);
	p->priority = rd_u8(r);
	p->delivery_mode = rd_u8(r);
	rd_raw(r, &p->timestamp, 8);
	rd_table(r, &p->headers, 0, 16);
}

/* ---- routes ---- */

static struct route routes[4];

static void
path(struct route_path *p, const char *text)
{
	char *s;

	p->text = strdup(text);
	p->nseg = 0;
	for (s = p->text;; s++) {
		char *dot = strchr(s, '.');

		p->seg[p->nseg] = s;
		p->seglen[p->nseg++] = dot != NULL ? (size_t)(dot - s) : strlen(s);
		if (dot == NULL)
			break;
		s = dot;
	}
}

static void
src(struct route_src *s, enum route_src_kind kind, const char *arg, int prefix)
{
	memset(s, 0, sizeof(*s));
	s->kind = kind;
	if (kind == RSRC_JSON)
		path(&s->path, arg);
	if (kind == RSRC_HEADER) {
		s->name = strdup(arg);
		s->name_len = strlen(arg);
		s->prefix = prefix;
	}
}

static void
hdr(struct route *r, const char *name, enum route_src_kind kind, const char *arg, int prefix)
{
	struct route_header *h = &r->headers[r->nheaders++];

	h->name = strdup(name);
	h->name_len = strlen(name);
	h->prefix = prefix;
	src(&h->src, kind, arg, prefix);
}

static void
tpl(struct route *r, const struct route_tpl_part *parts, size_t n)
{
	r->tpl = calloc(n, sizeof(*r->tpl));
	for (size_t i = 0; i < n; i++) {
		r->tpl[i] = parts[i];
		if (parts[i].text != NULL)
			r->tpl[i].text = strdup(parts[i].text);
	}
	r->ntpl = n;
}

static void
routes_init(void)
{
	static const struct route_tpl_part t0[] = {
		{ RTPL_TEXT, "t.", 2 }, { RTPL_HEADER, "x-topic", 7 }, { RTPL_TEXT, ".", 1 },
		{ RTPL_ROUTING_KEY, NULL, 0 },
	};
	static const struct route_tpl_part t3[] = {
		{ RTPL_EXCHANGE, NULL, 0 }, { RTPL_TEXT, "-", 1 }, { RTPL_HEADER, "x-t-a", 5 },
		{ RTPL_QUEUE, NULL, 0 },
	};

	for (int i = 0; i < 4; i++) {
		struct route *r = &routes[i];

		r->name = strdup("fuzz");
		r->queue = strdup("q");
		r->topic = strdup("t");
		r->dlq = strdup("q.dlq");
		r->max_message_bytes = FUZZ_MAX_BYTES;
		r->format = ROUTE_FMT_MAPPED;
		r->trace_context = 1;
		r->headers = calloc(ROUTE_MAX_HEADERS, sizeof(*r->headers));
	}
	/* Headers: exact, prefix, properties; a topic template over a header. */
	src(&routes[0].id, RSRC_HEADER, "x-id", 0);
	src(&routes[0].key, RSRC_HEADER, "x-key", 0);
	src(&routes[0].value, RSRC_BODY, NULL, 0);
	hdr(&routes[0], "h-", RSRC_HEADER, "x-t-", 1);
	hdr(&routes[0], "hv", RSRC_HEADER, "x-val", 0);
	hdr(&routes[0], "ts", RSRC_PROPERTY, NULL, 0);
	routes[0].headers[2].src.prop = RPROP_TIMESTAMP;
	hdr(&routes[0], "mid", RSRC_PROPERTY, NULL, 0);
	routes[0].headers[3].src.prop = RPROP_MESSAGE_ID;
	tpl(&routes[0], t0, sizeof(t0) / sizeof(t0[0]));
	routes[0].timestamp = RTS_AMQP;
	/* The body's JSON, and every header under its own name. */
	src(&routes[1].id, RSRC_JSON, "id", 0);
	src(&routes[1].key, RSRC_JSON, "k.0", 0);
	src(&routes[1].value, RSRC_JSON, "v", 0);
	hdr(&routes[1], "j", RSRC_JSON, "h", 0);
	hdr(&routes[1], "jab", RSRC_JSON, "a.b.1", 0);
	hdr(&routes[1], "", RSRC_HEADER, "", 1);
	/* The seed format. */
	routes[2].format = ROUTE_FMT_SEED_JSON;
	/* Properties and routing key; the route maps traceparent itself. */
	src(&routes[3].id, RSRC_PROPERTY, NULL, 0);
	routes[3].id.prop = RPROP_MESSAGE_ID;
	src(&routes[3].key, RSRC_ROUTING_KEY, NULL, 0);
	src(&routes[3].value, RSRC_BODY, NULL, 0);
	hdr(&routes[3], "traceparent", RSRC_HEADER, "traceparent", 0);
	tpl(&routes[3], t3, sizeof(t3) / sizeof(t3[0]));
}

/* ---- promises ---- */

static int
inside(const void *p, size_t n, const void *base, size_t len)
{
	const char *s = p, *b = base;

	return s >= b && n <= len && s - b <= (ptrdiff_t)(len - n);
}

static int
legal_topic(const char *t)
{
	size_t n = strlen(t);

	if (n == 0 || n > 249 || strcmp(t, ".") == 0 || strcmp(t, "..") == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((t[i] >= 'a' && t[i] <= 'z') || (t[i] >= 'A' && t[i] <= 'Z') ||
		    (t[i] >= '0' && t[i] <= '9') || t[i] == '.' || t[i] == '_' || t[i] == '-'))
			return 0;
	return 1;
}

/* A header name may also be the route's own or a constant. */
static int
route_name(const struct route *r, const char *name)
{
	for (size_t i = 0; i < r->nheaders; i++)
		if (name == r->headers[i].name)
			return 1;
	return strcmp(name, "correlation_id") == 0 || strcmp(name, "traceparent") == 0 ||
	    strcmp(name, "tracestate") == 0;
}

/* Reads every byte of what the event refers to (ASan sees freed properties). */
static unsigned
touch(const void *p, size_t n)
{
	const unsigned char *s = p;
	unsigned sum = 0;

	for (size_t i = 0; i < n; i++)
		sum += s[i];
	return sum;
}

static void
check_event(const struct route *r, const struct event *ev, const struct event_buf *b,
    const uint8_t *body, size_t len)
{
	volatile unsigned sum = 0;

	if (b->len > b->cap)
		abort();
	if (ev->id_len == 0 || ev->id_len > EVENT_ID_MAX || strlen(ev->id) != ev->id_len)
		abort();
	if (ev->value == NULL || !inside(ev->value, ev->value_len, body, len))
		abort();
	sum += touch(ev->value, ev->value_len);
	if (ev->key != NULL) {
		if (!inside(ev->key, ev->key_len, body, len) && !inside(ev->key, ev->key_len, b->p, b->len) &&
		    ev->key != (const void *)ev->id && ev->key_len != 0)
			abort();
		sum += touch(ev->key, ev->key_len);
	}
	if (ev->topic != NULL) {
		if (!inside(ev->topic, strlen(ev->topic) + 1, b->p, b->len) || !legal_topic(ev->topic))
			abort();
	}
	for (size_t i = 0; i < ev->nhdr; i++) {
		const struct event_header *h = &ev->hdr[i];

		if (!inside(h->name, h->name_len, b->p, b->len) && !route_name(r, h->name))
			abort();
		sum += touch(h->name, h->name_len);
		if (h->value == NULL) {
			if (h->len != 0)
				abort();
			continue;
		}
		if (!inside(h->value, h->len, b->p, b->len) && !inside(h->value, h->len, body, len) &&
		    !inside(h->value, h->len, ev->correlation, sizeof(ev->correlation)) && h->len != 0)
			abort();
		sum += touch(h->value, h->len);
		/* Routes 1 and 3 map traceparent themselves, as it comes. */
		if (h->name_len == 11 && memcmp(h->name, "traceparent", 11) == 0 &&
		    (r == &routes[0] || r == &routes[2]) && !traceparent_valid(h->value, h->len))
			abort();
	}
	(void)sum;
}

/*
 * Whether s[0..n) is UTF-8 (RFC 3629), decoded code point by code point:
 * a second opinion on header_encode's table-driven check.
 */
static int
utf8_valid(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		uint32_t cp, min;
		size_t k;

		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if ((s[i] & 0xe0) == 0xc0)
			k = 2, cp = s[i] & 0x1f, min = 0x80;
		else if ((s[i] & 0xf0) == 0xe0)
			k = 3, cp = s[i] & 0x0f, min = 0x800;
		else if ((s[i] & 0xf8) == 0xf0)
			k = 4, cp = s[i] & 0x07, min = 0x10000;
		else
			return 0;
		if (n - i < k)
			return 0;
		for (size_t j = 1; j < k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + j] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += k;
	}
	return 1;
}

/* Every table and array encodes to valid JSON in UTF-8, or fails for depth alone. */
static void
check_encode(const amqp_field_value_t *v, struct event_buf *b)
{
	size_t before = b->len, off, len;
	int rc;

	errno = 0;
	rc = header_encode(v, b, &off, &len);
	if (rc < 0) {
		if (errno != EINVAL || b->len != before)
			abort();
		if (v->kind != AMQP_FIELD_KIND_TABLE && v->kind != AMQP_FIELD_KIND_ARRAY)
			abort();
		return;
	}
	if (rc == 0) {
		if (v->kind != AMQP_FIELD_KIND_VOID || b->len != before)
			abort();
		return;
	}
	if (off != before || b->len != off + len || b->len > b->cap)
		abort();
	if ((v->kind == AMQP_FIELD_KIND_TABLE || v->kind == AMQP_FIELD_KIND_ARRAY) &&
	    (json_paths(b->p + off, len, NULL, 0, NULL) != 0 ||
	    !utf8_valid((const unsigned char *)b->p + off, len)))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct event_decoder dec;
	static struct event_buf buf, ebuf;
	struct reader rd;
	amqp_basic_properties_t props;
	struct delivery_meta m;
	amqp_field_value_t whole;
	const struct route *r;
	struct event ev, ev2;
	enum dlq_reason why, why2;
	uint8_t *copy, *body;
	size_t len, cap;
	char detail[EVENT_DETAIL_MAX];
	int bad;

	if (dec.max_bytes == 0) {
		if (event_decoder_init(&dec, FUZZ_MAX_BYTES) < 0)
			abort();
		routes_init();
	}
	/* The properties' strings live in `copy`, freed before the event is checked. */
	copy = malloc(size + 1);
	if (copy == NULL)
		abort();
	memcpy(copy, data, size);
	rd.p = copy;
	rd.end = copy + size;
	rd.nodes = rd.entries = 0;
	r = &routes[rd_u8(&rd) % 4];
	rd_props(&rd, &props);
	m.props = (rd_u8(&rd) & 7) != 0 ? &props : NULL;
	m.exchange = rd_bytes(&rd);
	m.routing_key = rd_bytes(&rd);
	len = (size_t)(rd.end - rd.p);
	body = malloc(len + 1);
	if (body == NULL)
		abort();
	memcpy(body, rd.p, len);

	/* header_encode: the whole table as one value, then each entry. */
	whole.kind = AMQP_FIELD_KIND_TABLE;
	whole.value.table = props.headers;
	ebuf.len = 0;
	check_encode(&whole, &ebuf);
	for (int i = 0; i < props.headers.num_entries; i++)
		check_encode(&props.headers.entries[i].value, &ebuf);

	/* mapping_decode, twice: the same record, and no growth the second time. */
	bad = m.props != NULL && (props._flags & AMQP_BASIC_HEADERS_FLAG) &&
	    props.headers.num_entries > 0 &&
	    header_table_check(&props.headers, detail, sizeof(detail)) < 0;
	why = mapping_decode(&dec, r, body, len, &m, &ev, &buf);
	cap = buf.cap;
	why2 = mapping_decode(&dec, r, body, len, &m, &ev2, &buf);
	if (why != why2 || buf.cap != cap || ev.nhdr != ev2.nhdr || ev.key_len != ev2.key_len ||
	    ev.value != ev2.value || ev.timestamp_ms != ev2.timestamp_ms ||
	    ev.bad_traceparent != ev2.bad_traceparent || strcmp(ev.id, ev2.id) != 0)
		abort();
	free(copy);	/* as rabbitmq-c recycles the properties */
	if (why == DLQ_NONE) {
		check_event(r, &ev2, &buf, body, len);
	} else if (ev2.nhdr != 0 || ev2.value != NULL || ev2.key != NULL || ev2.topic != NULL) {
		abort();
	}
	if (len > FUZZ_MAX_BYTES && why != DLQ_too_large && why != DLQ_bad_headers)
		abort();
	/* bad_headers exactly when the table breaks its bounds, whatever the route. */
	if ((why == DLQ_bad_headers) != bad)
		abort();
	free(body);
	return 0;
}
