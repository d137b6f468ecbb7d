/*
 * Unit tests of mapping_decode (a delivery -> a Kafka record for its
 * route), header_encode (every AMQP field kind) and the W3C trace
 * context. The cases are tables over one standard delivery: its
 * properties, header table, exchange and routing key are below.
 */
#include "autoconf.h"
#include <criterion/criterion.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/event.h"
#include "common/route.h"
#include "worker/header_encode.h"
#include "worker/mapping.h"
#include "worker/trace_context.h"

#define MAX_BYTES 65536
#define TP "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

/* Bytes as a printable C-like string, for failure messages. */
static const char *
show(char *buf, size_t cap, const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t o = 0;

	if (p == NULL)
		return "(null)";
	for (size_t i = 0; i < n && o + 8 < cap; i++) {
		if (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\\')
			buf[o++] = (char)s[i];
		else
			o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", s[i]);
	}
	if (o + 8 >= cap && cap > 4)
		o = cap - 4, memcpy(buf + o, "...", 3), o += 3;
	buf[o] = '\0';
	return buf;
}

static int
same(const void *a, size_t alen, const char *b)
{
	return a != NULL && alen == strlen(b) && memcmp(a, b, alen) == 0;
}

/* ---- field values ---- */

#define FV(k, f, x) ((amqp_field_value_t){ .kind = AMQP_FIELD_KIND_##k, .value.f = (x) })

static amqp_field_value_t
fv_str(const char *s)
{
	amqp_field_value_t v = { .kind = AMQP_FIELD_KIND_UTF8 };

	v.value.bytes.bytes = (void *)s;
	v.value.bytes.len = strlen(s);
	return v;
}

static amqp_field_value_t
fv_bytes(const void *s, size_t n)
{
	amqp_field_value_t v = { .kind = AMQP_FIELD_KIND_BYTES };

	v.value.bytes.bytes = (void *)s;
	v.value.bytes.len = n;
	return v;
}

static amqp_field_value_t
fv_dec(uint8_t decimals, uint32_t value)
{
	amqp_field_value_t v = { .kind = AMQP_FIELD_KIND_DECIMAL };

	v.value.decimal.decimals = decimals;
	v.value.decimal.value = value;
	return v;
}

static amqp_field_value_t
fv_table(amqp_table_entry_t *e, int n)
{
	amqp_field_value_t v = { .kind = AMQP_FIELD_KIND_TABLE };

	v.value.table.entries = e;
	v.value.table.num_entries = n;
	return v;
}

static amqp_field_value_t
fv_array(amqp_field_value_t *e, int n)
{
	amqp_field_value_t v = { .kind = AMQP_FIELD_KIND_ARRAY };

	v.value.array.entries = e;
	v.value.array.num_entries = n;
	return v;
}

static amqp_table_entry_t
ent(const char *k, amqp_field_value_t v)
{
	amqp_table_entry_t e;

	e.key.bytes = (void *)k;
	e.key.len = strlen(k);
	e.value = v;
	return e;
}

static amqp_bytes_t
bytes(const char *s)
{
	amqp_bytes_t b = { strlen(s), (void *)s };

	return b;
}

/* ---- routes ---- */

static void
path_init(struct route_path *p, const char *text)
{
	char *s;

	memset(p, 0, sizeof(*p));
	p->text = strdup(text);
	cr_assert(p->text != NULL);
	for (s = p->text;; s++) {
		char *dot = strchr(s, '.');

		p->seg[p->nseg] = s;
		p->seglen[p->nseg++] = dot != NULL ? (size_t)(dot - s) : strlen(s);
		if (dot == NULL)
			break;
		s = dot;
	}
}

/* "json:a.b", "property:message_id", "header:x", "header:x-*", "body", "id", "routing_key", "none" */
static void
src_parse(struct route_src *s, const char *spec)
{
	memset(s, 0, sizeof(*s));
	if (strcmp(spec, "none") == 0) {
		s->kind = RSRC_NONE;
	} else if (strcmp(spec, "id") == 0) {
		s->kind = RSRC_ID;
	} else if (strcmp(spec, "body") == 0) {
		s->kind = RSRC_BODY;
	} else if (strcmp(spec, "routing_key") == 0) {
		s->kind = RSRC_ROUTING_KEY;
	} else if (strncmp(spec, "json:", 5) == 0) {
		s->kind = RSRC_JSON;
		path_init(&s->path, spec + 5);
	} else if (strncmp(spec, "property:", 9) == 0) {
		s->kind = RSRC_PROPERTY;
		s->prop = RPROP_COUNT;
		for (int i = 0; i < RPROP_COUNT; i++)
			if (strcmp(route_prop_names[i], spec + 9) == 0)
				s->prop = (enum route_prop)i;
		cr_assert(s->prop != RPROP_COUNT, "unknown property in %s", spec);
	} else if (strncmp(spec, "header:", 7) == 0) {
		s->kind = RSRC_HEADER;
		s->name = strdup(spec + 7);
		s->name_len = strlen(s->name);
		if (s->name_len > 0 && s->name[s->name_len - 1] == '*') {
			s->prefix = 1;
			s->name[--s->name_len] = '\0';
		}
	} else {
		cr_assert_fail("bad source %s", spec);
	}
}

static void
route_init(struct route *r, enum route_format f, const char *id, const char *key,
    const char *value)
{
	memset(r, 0, sizeof(*r));
	r->name = strdup("test");
	r->queue = strdup("q");
	r->topic = strdup("t");
	r->dlq = strdup("q.dlq");
	r->max_message_bytes = MAX_BYTES;
	r->format = f;
	r->trace_context = 1;
	r->headers = calloc(ROUTE_MAX_HEADERS, sizeof(*r->headers));
	cr_assert(r->name && r->queue && r->topic && r->dlq && r->headers);
	src_parse(&r->id, id);
	src_parse(&r->key, key);
	src_parse(&r->value, value);
}

/* The seed format, as route_implicit writes it out. */
static void
route_seed(struct route *r)
{
	route_init(r, ROUTE_FMT_SEED_JSON, "json:event_id", "id", "json:payload");
	r->headers[0].name = strdup("correlation_id");
	r->headers[0].name_len = strlen("correlation_id");
	src_parse(&r->headers[0].src, "json:correlation_id");
	r->nheaders = 1;
}

/* A Kafka header `name` ("tenant-*" for a prefix) from `spec`. */
static void
route_header(struct route *r, const char *name, const char *spec)
{
	struct route_header *h = &r->headers[r->nheaders++];

	cr_assert(r->nheaders <= ROUTE_MAX_HEADERS);
	h->name = strdup(name);
	h->name_len = strlen(name);
	if (h->name_len > 0 && h->name[h->name_len - 1] == '*') {
		h->prefix = 1;
		h->name[--h->name_len] = '\0';
	}
	src_parse(&h->src, spec);
}

/* "ev.{routing_key}.{header.x}": text, {routing_key}, {queue}, {exchange}, {header.NAME}. */
static void
route_tpl(struct route *r, const char *tpl)
{
	const char *s = tpl;

	r->tpl = calloc(16, sizeof(*r->tpl));
	cr_assert(r->tpl != NULL);
	while (*s != '\0') {
		struct route_tpl_part *p = &r->tpl[r->ntpl++];
		const char *close;

		cr_assert(r->ntpl <= 16);
		if (*s != '{') {
			size_t n = strcspn(s, "{");

			p->kind = RTPL_TEXT;
			p->text = strndup(s, n);
			p->len = n;
			s += n;
			continue;
		}
		close = strchr(s, '}');
		cr_assert(close != NULL);
		if (strncmp(s, "{routing_key}", 13) == 0) {
			p->kind = RTPL_ROUTING_KEY;
		} else if (strncmp(s, "{queue}", 7) == 0) {
			p->kind = RTPL_QUEUE;
		} else if (strncmp(s, "{exchange}", 10) == 0) {
			p->kind = RTPL_EXCHANGE;
		} else {
			cr_assert(strncmp(s, "{header.", 8) == 0);
			p->kind = RTPL_HEADER;
			p->text = strndup(s + 8, (size_t)(close - s - 8));
			p->len = strlen(p->text);
		}
		s = close + 1;
	}
}

/* ---- the standard delivery ---- */

static char long_id[EVENT_ID_MAX + 2];	/* EVENT_ID_MAX + 1 bytes: one too long */

struct delivery {
	amqp_basic_properties_t props;
	amqp_table_entry_t e[40];
	amqp_table_entry_t inner[3];
	amqp_field_value_t arr[3];
	struct delivery_meta m;
};

/* Every property set, and a header table with one entry of each interesting kind. */
static void
delivery_init(struct delivery *d)
{
	amqp_basic_properties_t *p = &d->props;
	int n = 0;

	memset(d, 0, sizeof(*d));
	memset(long_id, 'x', EVENT_ID_MAX + 1);
	p->_flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_CONTENT_ENCODING_FLAG |
	    AMQP_BASIC_HEADERS_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_PRIORITY_FLAG |
	    AMQP_BASIC_CORRELATION_ID_FLAG | AMQP_BASIC_REPLY_TO_FLAG | AMQP_BASIC_EXPIRATION_FLAG |
	    AMQP_BASIC_MESSAGE_ID_FLAG | AMQP_BASIC_TIMESTAMP_FLAG | AMQP_BASIC_TYPE_FLAG |
	    AMQP_BASIC_USER_ID_FLAG | AMQP_BASIC_APP_ID_FLAG;
	p->content_type = bytes("application/json");
	p->content_encoding = bytes("identity");
	p->delivery_mode = 2;
	p->priority = 5;
	p->correlation_id = bytes("c-1");
	p->reply_to = bytes("rq");
	p->expiration = bytes("60000");
	p->message_id = bytes("m-1");
	p->timestamp = 1700000000;
	p->type = bytes("order.created");
	p->user_id = bytes("guest");
	p->app_id = bytes("shop");

	d->inner[0] = ent("n", FV(I32, i32, -7));
	d->inner[1] = ent("s", fv_str("v"));
	d->arr[0] = FV(BOOLEAN, boolean, 1);
	d->arr[1] = FV(VOID, i8, 0);
	d->arr[2] = fv_str("z");

	d->e[n++] = ent("x-str", fv_str("s1"));
	d->e[n++] = ent("x-bytes", fv_bytes("bin", 3));
	d->e[n++] = ent("x-i8", FV(I8, i8, -128));
	d->e[n++] = ent("x-u64", FV(U64, u64, UINT64_MAX));
	d->e[n++] = ent("x-bool", FV(BOOLEAN, boolean, 1));
	d->e[n++] = ent("x-f64", FV(F64, f64, 0.1));
	d->e[n++] = ent("x-void", FV(VOID, i8, 0));
	d->e[n++] = ent("x-table", fv_table(d->inner, 2));
	d->e[n++] = ent("x-array", fv_array(d->arr, 3));
	d->e[n++] = ent("x-empty", fv_str(""));
	d->e[n++] = ent("x-nul", fv_bytes("a\0b", 3));
	d->e[n++] = ent("x-long", fv_str(long_id));
	d->e[n++] = ent("x-ts", FV(TIMESTAMP, u64, 1700000001));
	d->e[n++] = ent("x-dec", fv_dec(2, 12345));
	d->e[n++] = ent("x-tenant-id", fv_str("acme"));
	d->e[n++] = ent("x-tenant-n", FV(U16, u16, 42));
	d->e[n++] = ent("x-tenant-", fv_str("bare"));
	d->e[n++] = ent("x-topic", fv_str("orders"));
	d->e[n++] = ent("x-str", fv_str("second"));	/* a duplicate: the first counts */
	p->headers.entries = d->e;
	p->headers.num_entries = n;

	d->m.props = p;
	d->m.exchange = bytes("ex1");
	d->m.routing_key = bytes("orders.created");
}

/* Adds one more entry to the standard delivery's header table. */
static void
delivery_add(struct delivery *d, const char *k, amqp_field_value_t v)
{
	cr_assert(d->props.headers.num_entries < 40);
	d->e[d->props.headers.num_entries++] = ent(k, v);
}

struct fixture {
	struct event_decoder dec;
	struct event_buf buf;
	struct event ev;
};

static void
fixture_init(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	cr_assert(event_decoder_init(&f->dec, MAX_BYTES) == 0);
}

static void
fixture_free(struct fixture *f)
{
	event_buf_free(&f->buf);
	event_decoder_free(&f->dec);
}

static enum dlq_reason
decode(struct fixture *f, const struct route *r, const char *body, const struct delivery *d)
{
	return mapping_decode(&f->dec, r, body, strlen(body), d != NULL ? &d->m : NULL, &f->ev,
	    &f->buf);
}

/* The record's header `name` (the first one), or NULL. */
static const struct event_header *
header(const struct event *ev, const char *name)
{
	for (size_t i = 0; i < ev->nhdr; i++)
		if (ev->hdr[i].name_len == strlen(name) &&
		    memcmp(ev->hdr[i].name, name, ev->hdr[i].name_len) == 0)
			return &ev->hdr[i];
	return NULL;
}

static size_t
header_count(const struct event *ev, const char *name)
{
	size_t n = 0;

	for (size_t i = 0; i < ev->nhdr; i++)
		n += ev->hdr[i].name_len == strlen(name) &&
		    memcmp(ev->hdr[i].name, name, ev->hdr[i].name_len) == 0;
	return n;
}

static const char body_std[] =
    "{\"event_id\":\"e-1\",\"esc\":\"a\\u00e9\\n\",\"num\":-12.5e3,\"t\":true,\"f\":false,"
    "\"nul\":null,\"obj\":{\"k\":[1, 2]},\"arr\":[\"x\",{\"y\":0}],\"empty\":\"\","
    "\"idnum\":42,\"zero\":\"a\\u0000b\",\"payload\":{\"order\":7}}";

/* ---- id ---- */

Test(mapping, id_sources)
{
	static const struct {
		const char *spec;
		const char *body;	/* NULL: body_std */
		int no_props;
		enum dlq_reason want;
		const char *id;
	} cases[] = {
		{ "json:event_id", NULL, 0, DLQ_NONE, "e-1" },
		{ "json:esc", NULL, 0, DLQ_NONE, "a\xc3\xa9\n" },
		{ "json:idnum", NULL, 0, DLQ_NONE, "42" },
		{ "json:num", NULL, 0, DLQ_NONE, "-12.5e3" },
		{ "json:obj.k.1", NULL, 0, DLQ_NONE, "2" },
		{ "json:arr.0", NULL, 0, DLQ_NONE, "x" },
		{ "json:absent", NULL, 0, DLQ_missing_event_id, NULL },
		{ "json:obj", NULL, 0, DLQ_missing_event_id, NULL },
		{ "json:arr", NULL, 0, DLQ_missing_event_id, NULL },
		{ "json:t", NULL, 0, DLQ_missing_event_id, NULL },
		{ "json:nul", NULL, 0, DLQ_missing_event_id, NULL },
		{ "json:empty", NULL, 0, DLQ_missing_event_id, NULL },
		{ "json:zero", NULL, 0, DLQ_missing_event_id, NULL },
		{ "json:id", "{\"id\":\"\\ud800\"}", 0, DLQ_missing_event_id, NULL },
		{ "property:message_id", NULL, 0, DLQ_NONE, "m-1" },
		{ "property:correlation_id", NULL, 0, DLQ_NONE, "c-1" },
		{ "property:app_id", NULL, 0, DLQ_NONE, "shop" },
		{ "property:message_id", NULL, 1, DLQ_missing_event_id, NULL },
		{ "property:timestamp", NULL, 0, DLQ_missing_event_id, NULL },
		{ "property:priority", NULL, 0, DLQ_missing_event_id, NULL },
		{ "header:x-str", NULL, 0, DLQ_NONE, "s1" },
		{ "header:x-bytes", NULL, 0, DLQ_NONE, "bin" },
		{ "header:x-i8", NULL, 0, DLQ_NONE, "-128" },
		{ "header:x-u64", NULL, 0, DLQ_NONE, "18446744073709551615" },
		{ "header:x-tenant-n", NULL, 0, DLQ_NONE, "42" },
		{ "header:x-bool", NULL, 0, DLQ_missing_event_id, NULL },
		{ "header:x-f64", NULL, 0, DLQ_missing_event_id, NULL },
		{ "header:x-void", NULL, 0, DLQ_missing_event_id, NULL },
		{ "header:x-table", NULL, 0, DLQ_missing_event_id, NULL },
		{ "header:x-ts", NULL, 0, DLQ_missing_event_id, NULL },
		{ "header:x-empty", NULL, 0, DLQ_missing_event_id, NULL },
		{ "header:x-nul", NULL, 0, DLQ_missing_event_id, NULL },
		{ "header:x-long", NULL, 0, DLQ_event_id_too_long, NULL },
		{ "header:x-absent", NULL, 0, DLQ_missing_event_id, NULL },
		{ "header:x-str", NULL, 1, DLQ_missing_event_id, NULL },
	};
	struct fixture f;
	struct delivery d;
	char b1[128];

	fixture_init(&f);
	delivery_init(&d);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct route r;
		const char *body = cases[i].body != NULL ? cases[i].body : body_std;
		enum dlq_reason why;

		route_init(&r, ROUTE_FMT_MAPPED, cases[i].spec, "id", "body");
		why = decode(&f, &r, body, cases[i].no_props ? NULL : &d);
		cr_expect(why == cases[i].want, "id %s: got %s, want %s", cases[i].spec,
		    dlq_reason_name(why), dlq_reason_name(cases[i].want));
		if (why == DLQ_NONE && cases[i].id != NULL)
			cr_expect(same(f.ev.id, f.ev.id_len, cases[i].id) &&
			    f.ev.id[f.ev.id_len] == '\0', "id %s: got \"%s\", want \"%s\"",
			    cases[i].spec, show(b1, sizeof(b1), f.ev.id, f.ev.id_len), cases[i].id);
		if (why != DLQ_NONE)
			cr_expect(f.ev.value == NULL && f.ev.nhdr == 0 && f.ev.key == NULL,
			    "id %s: a rejection left a value, key or headers", cases[i].spec);
		route_free(&r);
	}
	/* Length limits: EVENT_ID_MAX bytes once unescaped. */
	for (size_t n = EVENT_ID_MAX - 1; n <= EVENT_ID_MAX + 1; n++) {
		static char body[EVENT_ID_MAX + 64];
		struct route r;
		enum dlq_reason why, want = n <= EVENT_ID_MAX ? DLQ_NONE : DLQ_event_id_too_long;
		size_t o = (size_t)snprintf(body, sizeof(body), "{\"id\":\"\\u0041");

		memset(body + o, 'x', n - 1);
		o += n - 1;
		snprintf(body + o, sizeof(body) - o, "\"}");
		route_init(&r, ROUTE_FMT_MAPPED, "json:id", "id", "body");
		why = decode(&f, &r, body, &d);
		cr_expect(why == want, "id of %zu bytes: got %s, want %s", n, dlq_reason_name(why),
		    dlq_reason_name(want));
		if (why == DLQ_NONE)
			cr_expect(f.ev.id_len == n && strlen(f.ev.id) == n && f.ev.id[0] == 'A',
			    "id of %zu bytes: got %zu", n, f.ev.id_len);
		route_free(&r);
	}
	fixture_free(&f);
}

/* ---- key ---- */

Test(mapping, key_sources)
{
	static const struct {
		const char *spec;
		const char *rk;		/* routing key; NULL: the delivery's */
		enum dlq_reason want;
		const char *key;	/* NULL: no key */
	} cases[] = {
		{ "id", NULL, DLQ_NONE, "e-1" },
		{ "none", NULL, DLQ_NONE, NULL },
		{ "json:esc", NULL, DLQ_NONE, "a\xc3\xa9\n" },
		{ "json:event_id", NULL, DLQ_NONE, "e-1" },
		{ "json:num", NULL, DLQ_NONE, "-12.5e3" },
		{ "json:t", NULL, DLQ_NONE, "true" },
		{ "json:f", NULL, DLQ_NONE, "false" },
		{ "json:obj", NULL, DLQ_NONE, "{\"k\":[1, 2]}" },
		{ "json:arr", NULL, DLQ_NONE, "[\"x\",{\"y\":0}]" },
		{ "json:empty", NULL, DLQ_NONE, "" },
		{ "json:zero", NULL, DLQ_NONE, "a\0b" },
		{ "json:nul", NULL, DLQ_missing_key, NULL },
		{ "json:absent", NULL, DLQ_missing_key, NULL },
		{ "routing_key", NULL, DLQ_NONE, "orders.created" },
		{ "routing_key", "", DLQ_NONE, "" },
		{ "header:x-str", NULL, DLQ_NONE, "s1" },
		{ "header:x-i8", NULL, DLQ_NONE, "-128" },
		{ "header:x-bool", NULL, DLQ_NONE, "true" },
		{ "header:x-dec", NULL, DLQ_NONE, "123.45" },
		{ "header:x-table", NULL, DLQ_NONE, "{\"n\":-7,\"s\":\"v\"}" },
		{ "header:x-void", NULL, DLQ_missing_key, NULL },
		{ "header:x-absent", NULL, DLQ_missing_key, NULL },
		{ "property:type", NULL, DLQ_NONE, "order.created" },
		{ "property:priority", NULL, DLQ_NONE, "5" },
	};
	struct fixture f;
	struct delivery d;
	char b1[128];

	fixture_init(&f);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct route r;
		enum dlq_reason why;
		size_t want_len = cases[i].key == NULL ? 0 :
		    strcmp(cases[i].spec, "json:zero") == 0 ? 3 : strlen(cases[i].key);

		delivery_init(&d);
		if (cases[i].rk != NULL)
			d.m.routing_key = bytes(cases[i].rk);
		route_init(&r, ROUTE_FMT_MAPPED, "json:event_id", cases[i].spec, "body");
		why = decode(&f, &r, body_std, &d);
		cr_expect(why == cases[i].want, "key %s: got %s, want %s", cases[i].spec,
		    dlq_reason_name(why), dlq_reason_name(cases[i].want));
		if (why == DLQ_NONE && cases[i].key == NULL)
			cr_expect(f.ev.key == NULL && f.ev.key_len == 0, "key %s: got a key, want none",
			    cases[i].spec);
		if (why == DLQ_NONE && cases[i].key != NULL)
			cr_expect(f.ev.key != NULL && f.ev.key_len == want_len &&
			    memcmp(f.ev.key, cases[i].key, want_len) == 0,
			    "key %s: got \"%s\", want \"%s\"", cases[i].spec,
			    show(b1, sizeof(b1), f.ev.key, f.ev.key_len), cases[i].key);
		if (why != DLQ_NONE)
			cr_expect(f.ev.key == NULL && f.ev.value == NULL && f.ev.nhdr == 0,
			    "key %s: a rejection left a key, value or headers", cases[i].spec);
		route_free(&r);
	}
	fixture_free(&f);
}

/* Empty is not null, even from a buffer that has never held a byte. */
Test(mapping, empty_values_are_not_null)
{
	struct fixture f;
	struct delivery d;
	struct route r;
	const struct event_header *h;

	fixture_init(&f);
	delivery_init(&d);
	d.m.routing_key = bytes("");
	d.props.headers.num_entries = 0;
	d.props.message_id = bytes("");
	route_init(&r, ROUTE_FMT_MAPPED, "property:app_id", "routing_key", "body");
	route_header(&r, "m", "property:message_id");
	cr_assert(decode(&f, &r, "x", &d) == DLQ_NONE);
	cr_expect(f.buf.cap == 0, "nothing was copied: got a buffer of %zu bytes", f.buf.cap);
	cr_expect(f.ev.key != NULL && f.ev.key_len == 0, "empty routing key: got %s key",
	    f.ev.key == NULL ? "a null" : "a non-empty");
	h = header(&f.ev, "m");
	cr_expect(h != NULL && h->value != NULL && h->len == 0,
	    "empty message_id: got %s header", h == NULL ? "no" : "a null or non-empty");
	route_free(&r);
	fixture_free(&f);
}

/* ---- value ---- */

Test(mapping, value_sources)
{
	static const struct {
		const char *spec;
		enum dlq_reason want;
		const char *value;	/* NULL: the whole body */
	} cases[] = {
		{ "body", DLQ_NONE, NULL },
		{ "json:payload", DLQ_NONE, "{\"order\":7}" },
		{ "json:esc", DLQ_NONE, "\"a\\u00e9\\n\"" },
		{ "json:obj.k", DLQ_NONE, "[1, 2]" },
		{ "json:nul", DLQ_NONE, "null" },
		{ "json:num", DLQ_NONE, "-12.5e3" },
		{ "json:absent", DLQ_missing_value, NULL },
		{ "json:payload.order.x", DLQ_missing_value, NULL },
	};
	struct fixture f;
	struct delivery d;
	char b1[128];

	fixture_init(&f);
	delivery_init(&d);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct route r;
		enum dlq_reason why;
		const char *want = cases[i].value != NULL ? cases[i].value : body_std;

		route_init(&r, ROUTE_FMT_MAPPED, "json:event_id", "id", cases[i].spec);
		why = decode(&f, &r, body_std, &d);
		cr_expect(why == cases[i].want, "value %s: got %s, want %s", cases[i].spec,
		    dlq_reason_name(why), dlq_reason_name(cases[i].want));
		if (why == DLQ_NONE) {
			cr_expect(same(f.ev.value, f.ev.value_len, want), "value %s: got \"%s\"",
			    cases[i].spec, show(b1, sizeof(b1), f.ev.value, f.ev.value_len));
			cr_expect((const char *)f.ev.value >= body_std &&
			    (const char *)f.ev.value + f.ev.value_len <= body_std + strlen(body_std),
			    "value %s: does not point into the body", cases[i].spec);
		} else {
			cr_expect(f.ev.value == NULL && f.ev.nhdr == 0, "value %s: rejection left a value",
			    cases[i].spec);
		}
		route_free(&r);
	}
	fixture_free(&f);
}

Test(mapping, body_checks)
{
	struct fixture f;
	struct route r;
	static const char bin[] = "\x00\xff\x01not json";
	enum dlq_reason why;

	fixture_init(&f);
	/* No json: source: the body is never parsed, binary bodies relay. */
	route_init(&r, ROUTE_FMT_MAPPED, "property:message_id", "routing_key", "body");
	{
		struct delivery d;

		delivery_init(&d);
		why = mapping_decode(&f.dec, &r, bin, sizeof(bin) - 1, &d.m, &f.ev, &f.buf);
		cr_expect(why == DLQ_NONE, "binary body: got %s, want none", dlq_reason_name(why));
		cr_expect(f.ev.value == bin && f.ev.value_len == sizeof(bin) - 1,
		    "binary body: value is not the whole body");
		cr_expect(strcmp(f.ev.id, "m-1") == 0, "binary body: id: got %s, want m-1", f.ev.id);
	}
	/* Too large: before anything else. */
	{
		char *big = malloc(MAX_BYTES + 1);

		cr_assert(big != NULL);
		memset(big, ' ', MAX_BYTES + 1);
		why = mapping_decode(&f.dec, &r, big, MAX_BYTES + 1, NULL, &f.ev, &f.buf);
		cr_expect(why == DLQ_too_large, "65537 bytes: got %s, want too_large",
		    dlq_reason_name(why));
		r.max_message_bytes = 10;
		why = mapping_decode(&f.dec, &r, big, 11, NULL, &f.ev, &f.buf);
		cr_expect(why == DLQ_too_large, "11 bytes, route max 10: got %s, want too_large",
		    dlq_reason_name(why));
		free(big);
	}
	route_free(&r);

	/* A json: source anywhere (here a header) needs a valid JSON body. */
	route_init(&r, ROUTE_FMT_MAPPED, "property:message_id", "none", "body");
	route_header(&r, "h", "json:a");
	{
		static const char *const bad[] = { "", "{", "{\"a\":1,}", "[1 2]", "{\"a\":1} x", "nul" };
		struct delivery d;

		delivery_init(&d);
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			why = decode(&f, &r, bad[i], &d);
			cr_expect(why == DLQ_invalid_json, "\"%s\": got %s, want invalid_json", bad[i],
			    dlq_reason_name(why));
		}
		why = decode(&f, &r, "[1]", &d);
		cr_expect(why == DLQ_NONE, "[1] (no member a): got %s, want none",
		    dlq_reason_name(why));
		cr_expect(f.ev.nhdr == 0, "[1]: got %zu headers, want 0", f.ev.nhdr);
	}
	route_free(&r);
	fixture_free(&f);
}

/* ---- headers ---- */

struct want_header {
	const char *name;
	const char *value;	/* NULL: a null-valued header */
	size_t len;		/* 0: strlen(value) */
};

static void
expect_headers(const char *what, const struct event *ev, const struct want_header *w, size_t n)
{
	char b1[256], b2[256];

	cr_expect(ev->nhdr == n, "%s: got %zu headers, want %zu", what, ev->nhdr, n);
	for (size_t i = 0; i < n && i < ev->nhdr; i++) {
		const struct event_header *h = &ev->hdr[i];
		size_t len = w[i].value == NULL ? 0 : w[i].len != 0 ? w[i].len : strlen(w[i].value);

		cr_expect(h->name_len == strlen(w[i].name) && memcmp(h->name, w[i].name, h->name_len) == 0,
		    "%s: header %zu: got name \"%s\", want \"%s\"", what, i,
		    show(b1, sizeof(b1), h->name, h->name_len), w[i].name);
		if (w[i].value == NULL)
			cr_expect(h->value == NULL && h->len == 0, "%s: header %s: got \"%s\", want null",
			    what, w[i].name, show(b1, sizeof(b1), h->value, h->len));
		else
			cr_expect(h->value != NULL && h->len == len && memcmp(h->value, w[i].value, len) == 0,
			    "%s: header %s: got \"%s\", want \"%s\"", what, w[i].name,
			    show(b1, sizeof(b1), h->value, h->len), show(b2, sizeof(b2), w[i].value, len));
	}
}

Test(mapping, header_sources)
{
	static const struct {
		const char *name, *spec;
	} route_headers[] = {
		{ "message_id", "property:message_id" },
		{ "correlation_id", "property:correlation_id" },
		{ "type", "property:type" },
		{ "app_id", "property:app_id" },
		{ "content_type", "property:content_type" },
		{ "content_encoding", "property:content_encoding" },
		{ "user_id", "property:user_id" },
		{ "reply_to", "property:reply_to" },
		{ "expiration", "property:expiration" },
		{ "timestamp", "property:timestamp" },
		{ "priority", "property:priority" },
		{ "delivery_mode", "property:delivery_mode" },
		{ "s", "header:x-str" },
		{ "i", "header:x-i8" },
		{ "v", "header:x-void" },
		{ "tbl", "header:x-table" },
		{ "arr", "header:x-array" },
		{ "none", "header:x-absent" },
		{ "tenant-*", "header:x-tenant-*" },
		{ "all-*", "header:x-nomatch-*" },
		{ "j-esc", "json:esc" },
		{ "j-num", "json:num" },
		{ "j-obj", "json:obj" },
		{ "j-null", "json:nul" },
		{ "j-absent", "json:absent" },
		{ "j-t", "json:t" },
		{ "j-arr1", "json:arr.1" },
		{ "s", "header:x-bytes" },		/* the same Kafka name twice: both */
		{ "e", "header:x-empty" },
	};
	static const struct want_header want[] = {
		{ "message_id", "m-1", 0 }, { "correlation_id", "c-1", 0 },
		{ "type", "order.created", 0 }, { "app_id", "shop", 0 },
		{ "content_type", "application/json", 0 }, { "content_encoding", "identity", 0 },
		{ "user_id", "guest", 0 }, { "reply_to", "rq", 0 }, { "expiration", "60000", 0 },
		{ "timestamp", "1700000000", 0 }, { "priority", "5", 0 }, { "delivery_mode", "2", 0 },
		{ "s", "s1", 0 }, { "i", "-128", 0 }, { "v", NULL, 0 },
		{ "tbl", "{\"n\":-7,\"s\":\"v\"}", 0 }, { "arr", "[true,null,\"z\"]", 0 },
		{ "tenant-id", "acme", 0 }, { "tenant-n", "42", 0 }, { "tenant-", "bare", 0 },
		{ "j-esc", "a\xc3\xa9\n", 0 }, { "j-num", "-12.5e3", 0 },
		{ "j-obj", "{\"k\":[1, 2]}", 0 }, { "j-null", NULL, 0 }, { "j-t", "true", 0 },
		{ "j-arr1", "{\"y\":0}", 0 }, { "s", "bin", 0 }, { "e", "", 0 },
	};
	struct fixture f;
	struct delivery d;
	struct route r;
	enum dlq_reason why;

	fixture_init(&f);
	delivery_init(&d);
	route_init(&r, ROUTE_FMT_MAPPED, "json:event_id", "id", "body");
	for (size_t i = 0; i < sizeof(route_headers) / sizeof(route_headers[0]); i++)
		route_header(&r, route_headers[i].name, route_headers[i].spec);
	why = decode(&f, &r, body_std, &d);
	cr_assert(why == DLQ_NONE, "got %s, want none", dlq_reason_name(why));
	expect_headers("all sources", &f.ev, want, sizeof(want) / sizeof(want[0]));

	/* No properties at all: only the body's headers are left. */
	why = mapping_decode(&f.dec, &r, body_std, strlen(body_std), NULL, &f.ev, &f.buf);
	cr_assert(why == DLQ_NONE, "no properties: got %s, want none", dlq_reason_name(why));
	expect_headers("no properties", &f.ev, want + 20, 6);

	/* Properties without headers or with unset fields. */
	d.props._flags = AMQP_BASIC_MESSAGE_ID_FLAG;
	why = decode(&f, &r, body_std, &d);
	cr_assert(why == DLQ_NONE, "message_id only: got %s, want none", dlq_reason_name(why));
	cr_expect(f.ev.nhdr == 1 + 6, "message_id only: got %zu headers, want 7", f.ev.nhdr);
	route_free(&r);
	fixture_free(&f);
}

/* ---- header_encode ---- */

struct enc_case {
	const char *name;
	amqp_field_value_t v;
	int rc;			/* 1, 0 (null), -1 */
	const char *want;
	size_t len;		/* 0: strlen(want) */
};

static void
run_enc_cases(const struct enc_case *c, size_t n)
{
	struct event_buf b = {0};
	char b1[512], b2[512];

	for (size_t i = 0; i < n; i++) {
		size_t off = 99, len = 99, before;
		int rc;

		/* Something before: offsets are relative to the buffer. */
		b.len = 0;
		cr_assert(event_buf_reserve(&b, 3) == 0);
		memcpy(b.p, "abc", 3);
		b.len = 3;
		before = b.len;
		errno = 0;
		rc = header_encode(&c[i].v, &b, &off, &len);
		cr_expect(rc == c[i].rc, "%s: got %d, want %d", c[i].name, rc, c[i].rc);
		if (rc == 1 && c[i].want != NULL) {
			size_t wl = c[i].len != 0 ? c[i].len : strlen(c[i].want);

			cr_expect(off == 3 && len == wl && memcmp(b.p + off, c[i].want, wl) == 0,
			    "%s: got \"%s\", want \"%s\"", c[i].name, show(b1, sizeof(b1), b.p + off, len),
			    show(b2, sizeof(b2), c[i].want, wl));
			cr_expect(b.len == off + len, "%s: buffer length %zu, want %zu", c[i].name,
			    b.len, off + len);
			if (c[i].v.kind == AMQP_FIELD_KIND_TABLE || c[i].v.kind == AMQP_FIELD_KIND_ARRAY)
				cr_expect(json_paths(b.p + off, len, NULL, 0, NULL) == 0,
				    "%s: not valid JSON: %s", c[i].name, show(b1, sizeof(b1), b.p + off, len));
		} else {
			cr_expect(b.len == before, "%s: rc %d wrote %zu bytes", c[i].name, rc,
			    b.len - before);
		}
		if (rc < 0)
			cr_expect(errno == EINVAL, "%s: errno: got %d, want EINVAL", c[i].name, errno);
	}
	event_buf_free(&b);
}

Test(header_encode, scalars)
{
	const struct enc_case cases[] = {
		{ "true", FV(BOOLEAN, boolean, 1), 1, "true", 0 },
		{ "false", FV(BOOLEAN, boolean, 0), 1, "false", 0 },
		{ "i8 min", FV(I8, i8, INT8_MIN), 1, "-128", 0 },
		{ "i8 max", FV(I8, i8, INT8_MAX), 1, "127", 0 },
		{ "i8 0", FV(I8, i8, 0), 1, "0", 0 },
		{ "u8 max", FV(U8, u8, UINT8_MAX), 1, "255", 0 },
		{ "u8 0", FV(U8, u8, 0), 1, "0", 0 },
		{ "i16 min", FV(I16, i16, INT16_MIN), 1, "-32768", 0 },
		{ "i16 max", FV(I16, i16, INT16_MAX), 1, "32767", 0 },
		{ "u16 max", FV(U16, u16, UINT16_MAX), 1, "65535", 0 },
		{ "i32 min", FV(I32, i32, INT32_MIN), 1, "-2147483648", 0 },
		{ "i32 max", FV(I32, i32, INT32_MAX), 1, "2147483647", 0 },
		{ "i32 -1", FV(I32, i32, -1), 1, "-1", 0 },
		{ "u32 max", FV(U32, u32, UINT32_MAX), 1, "4294967295", 0 },
		{ "i64 min", FV(I64, i64, INT64_MIN), 1, "-9223372036854775808", 0 },
		{ "i64 max", FV(I64, i64, INT64_MAX), 1, "9223372036854775807", 0 },
		{ "u64 max", FV(U64, u64, UINT64_MAX), 1, "18446744073709551615", 0 },
		{ "u64 0", FV(U64, u64, 0), 1, "0", 0 },
		{ "f32 1.5", FV(F32, f32, 1.5f), 1, "1.5", 0 },
		{ "f32 0.1", FV(F32, f32, 0.1f), 1, "0.1", 0 },
		{ "f32 max", FV(F32, f32, FLT_MAX), 1, "3.4028235e+38", 0 },
		{ "f32 denormal min", FV(F32, f32, 1e-45f), 1, "1e-45", 0 },
		{ "f32 -0", FV(F32, f32, -0.0f), 1, "-0", 0 },
		{ "f32 NaN", FV(F32, f32, NAN), 1, "NaN", 0 },
		{ "f32 inf", FV(F32, f32, INFINITY), 1, "Infinity", 0 },
		{ "f32 -inf", FV(F32, f32, -INFINITY), 1, "-Infinity", 0 },
		{ "f64 0.1", FV(F64, f64, 0.1), 1, "0.1", 0 },
		{ "f64 1/3", FV(F64, f64, 1.0 / 3), 1, "0.3333333333333333", 0 },
		{ "f64 123", FV(F64, f64, 123.0), 1, "123", 0 },
		{ "f64 1e300", FV(F64, f64, 1e300), 1, "1e+300", 0 },
		{ "f64 max", FV(F64, f64, DBL_MAX), 1, "1.7976931348623157e+308", 0 },
		{ "f64 denormal min", FV(F64, f64, 5e-324), 1, "5e-324", 0 },
		{ "f64 0.1 + 0.2", FV(F64, f64, 0.1 + 0.2), 1, "0.30000000000000004", 0 },
		{ "f64 -2.5e-7", FV(F64, f64, -2.5e-7), 1, "-2.5e-07", 0 },
		{ "f64 -0", FV(F64, f64, -0.0), 1, "-0", 0 },
		{ "f64 NaN", FV(F64, f64, NAN), 1, "NaN", 0 },
		{ "f64 inf", FV(F64, f64, INFINITY), 1, "Infinity", 0 },
		{ "f64 -inf", FV(F64, f64, -INFINITY), 1, "-Infinity", 0 },
		{ "decimal 123.45", fv_dec(2, 12345), 1, "123.45", 0 },
		{ "decimal 0.005", fv_dec(3, 5), 1, "0.005", 0 },
		{ "decimal no decimals", fv_dec(0, 12345), 1, "12345", 0 },
		{ "decimal 0.00", fv_dec(2, 0), 1, "0.00", 0 },
		{ "decimal 1.50", fv_dec(2, 150), 1, "1.50", 0 },
		{ "decimal all fraction", fv_dec(5, 12345), 1, "0.12345", 0 },
		{ "decimal max", fv_dec(1, INT32_MAX), 1, "214748364.7", 0 },
		{ "decimal negative", fv_dec(1, (uint32_t)-15), 1, "-1.5", 0 },
		{ "decimal negative fraction", fv_dec(3, (uint32_t)-5), 1, "-0.005", 0 },
		{ "decimal min", fv_dec(2, 0x80000000u), 1, "-21474836.48", 0 },
		{ "decimal max, 10 decimals", fv_dec(10, INT32_MAX), 1, "0.2147483647", 0 },
		{ "timestamp", FV(TIMESTAMP, u64, 1700000000), 1, "1700000000", 0 },
		{ "timestamp max", FV(TIMESTAMP, u64, UINT64_MAX), 1, "18446744073709551615", 0 },
		{ "utf8", fv_str("h\xc3\xa9llo \"x\"\n"), 1, "h\xc3\xa9llo \"x\"\n", 0 },
		{ "utf8 not UTF-8, raw", fv_str("\xff\xc3("), 1, "\xff\xc3(", 0 },
		{ "utf8 empty", fv_str(""), 1, "", 0 },
		{ "bytes raw", fv_bytes("\0\xff\x01", 3), 1, "\0\xff\x01", 3 },
		{ "void", FV(VOID, i8, 0), 0, NULL, 0 },
		{ "unknown kind", { .kind = 'Z' }, -1, NULL, 0 },
	};

	run_enc_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* A decimal with 255 decimals: "0." and 254 zeros, then 1. */
Test(header_encode, decimal_255_places)
{
	struct event_buf b = {0};
	amqp_field_value_t v = fv_dec(255, 1);
	size_t off, len;

	cr_assert(header_encode(&v, &b, &off, &len) == 1);
	cr_expect(len == 257, "length: got %zu, want 257", len);
	cr_expect(memcmp(b.p, "0.000", 5) == 0 && b.p[256] == '1' &&
	    strspn(b.p + 2, "0") == 254, "got %.*s", (int)len, b.p);
	event_buf_free(&b);
}

Test(header_encode, tables_and_arrays)
{
	static amqp_table_entry_t every[24];
	static amqp_field_value_t arr[6], nested_arr[2], empty_arr[1];
	static amqp_table_entry_t nested[2], keys[3];
	int n = 0;

	nested[0] = ent("deep", fv_array(nested_arr, 2));
	nested[1] = ent("e", fv_table(NULL, 0));
	nested_arr[0] = FV(I8, i8, 1);
	nested_arr[1] = fv_array(empty_arr, 0);
	every[n++] = ent("t", FV(BOOLEAN, boolean, 1));
	every[n++] = ent("f", FV(BOOLEAN, boolean, 0));
	every[n++] = ent("i8", FV(I8, i8, INT8_MIN));
	every[n++] = ent("u8", FV(U8, u8, UINT8_MAX));
	every[n++] = ent("i16", FV(I16, i16, INT16_MIN));
	every[n++] = ent("u16", FV(U16, u16, UINT16_MAX));
	every[n++] = ent("i32", FV(I32, i32, INT32_MIN));
	every[n++] = ent("u32", FV(U32, u32, UINT32_MAX));
	every[n++] = ent("i64", FV(I64, i64, INT64_MIN));
	every[n++] = ent("u64", FV(U64, u64, UINT64_MAX));
	every[n++] = ent("f32", FV(F32, f32, 0.25f));
	every[n++] = ent("f64", FV(F64, f64, 1e-7));
	every[n++] = ent("nan", FV(F64, f64, NAN));
	every[n++] = ent("inf", FV(F32, f32, INFINITY));
	every[n++] = ent("ninf", FV(F64, f64, -INFINITY));
	every[n++] = ent("dec", fv_dec(3, 5));
	every[n++] = ent("ts", FV(TIMESTAMP, u64, 1700000000));
	every[n++] = ent("void", FV(VOID, i8, 0));
	every[n++] = ent("s", fv_str("a\"b\\c\n\x01\x7f\xc3\xa9"));
	every[n++] = ent("bytes", fv_bytes("foobar", 6));
	every[n++] = ent("tbl", fv_table(nested, 2));
	every[n++] = ent("arr", fv_array(arr, 3));
	arr[0] = fv_bytes("f", 1);
	arr[1] = fv_str("");
	arr[2] = fv_table(keys, 3);
	keys[0] = ent("k\"q", FV(I8, i8, -1));
	keys[1] = ent("\xff", FV(VOID, i8, 0));
	keys[2] = ent("", fv_dec(0, 0));

	{
		const struct enc_case cases[] = {
			{ "empty table", fv_table(NULL, 0), 1, "{}", 0 },
			{ "empty array", fv_array(NULL, 0), 1, "[]", 0 },
			{ "every kind", fv_table(every, n), 1,
			  "{\"t\":true,\"f\":false,\"i8\":-128,\"u8\":255,\"i16\":-32768,\"u16\":65535,"
			  "\"i32\":-2147483648,\"u32\":4294967295,\"i64\":-9223372036854775808,"
			  "\"u64\":18446744073709551615,\"f32\":0.25,\"f64\":1e-07,\"nan\":\"NaN\","
			  "\"inf\":\"Infinity\",\"ninf\":\"-Infinity\",\"dec\":0.005,\"ts\":1700000000,"
			  "\"void\":null,\"s\":\"a\\\"b\\\\c\\u000a\\u0001\x7f\xc3\xa9\",\"bytes\":\"Zm9vYmFy\","
			  "\"tbl\":{\"deep\":[1,[]],\"e\":{}},"
			  "\"arr\":[\"Zg==\",\"\",{\"k\\\"q\":-1,\"\\u00ff\":null,\"\":0}]}", 0 },
			{ "array of scalars", fv_array(nested_arr, 2), 1, "[1,[]]", 0 },
		};

		run_enc_cases(cases, sizeof(cases) / sizeof(cases[0]));
	}
}

Test(header_encode, strings_in_json)
{
	static amqp_field_value_t one[1];
	static const struct {
		const char *name;
		const char *in;
		size_t len;
		const char *want;
	} cases[] = {
		{ "ascii", "abc", 3, "[\"abc\"]" },
		{ "controls", "\x00\x1f\t", 3, "[\"\\u0000\\u001f\\u0009\"]" },
		{ "quote and backslash", "\"\\", 2, "[\"\\\"\\\\\"]" },
		{ "DEL stays", "\x7f", 1, "[\"\x7f\"]" },
		{ "two bytes", "\xc3\xa9", 2, "[\"\xc3\xa9\"]" },
		{ "three bytes", "\xe2\x82\xac", 3, "[\"\xe2\x82\xac\"]" },
		{ "four bytes", "\xf0\x9f\x98\x80", 4, "[\"\xf0\x9f\x98\x80\"]" },
		{ "U+10FFFF", "\xf4\x8f\xbf\xbf", 4, "[\"\xf4\x8f\xbf\xbf\"]" },
		{ "above U+10FFFF", "\xf4\x90\x80\x80", 4, "[\"\\u00f4\\u0090\\u0080\\u0080\"]" },
		{ "lone continuation", "\x80", 1, "[\"\\u0080\"]" },
		{ "0xff", "a\xff" "b", 3, "[\"a\\u00ffb\"]" },
		{ "overlong 2", "\xc0\x80", 2, "[\"\\u00c0\\u0080\"]" },
		{ "overlong 2 (c1)", "\xc1\xbf", 2, "[\"\\u00c1\\u00bf\"]" },
		{ "overlong 3", "\xe0\x80\x80", 3, "[\"\\u00e0\\u0080\\u0080\"]" },
		{ "overlong 4", "\xf0\x80\x80\x80", 4, "[\"\\u00f0\\u0080\\u0080\\u0080\"]" },
		{ "surrogate", "\xed\xa0\x80", 3, "[\"\\u00ed\\u00a0\\u0080\"]" },
		{ "truncated 3", "\xe2\x82", 2, "[\"\\u00e2\\u0082\"]" },
		{ "truncated then ascii", "\xe2\x82z", 3, "[\"\\u00e2\\u0082z\"]" },
		{ "truncated 4", "\xf0\x9f\x98", 3, "[\"\\u00f0\\u009f\\u0098\"]" },
		{ "bad lead f5", "\xf5\x80\x80\x80", 4, "[\"\\u00f5\\u0080\\u0080\\u0080\"]" },
		{ "valid after invalid", "\xff\xc3\xa9", 3, "[\"\\u00ff\xc3\xa9\"]" },
	};
	struct event_buf b = {0};
	char b1[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		amqp_field_value_t v = fv_array(one, 1);
		size_t off, len;

		one[0] = fv_bytes(cases[i].in, cases[i].len);
		one[0].kind = AMQP_FIELD_KIND_UTF8;
		b.len = 0;
		cr_assert(header_encode(&v, &b, &off, &len) == 1);
		cr_expect(same(b.p + off, len, cases[i].want), "%s: got %s, want %s", cases[i].name,
		    show(b1, sizeof(b1), b.p + off, len), cases[i].want);
		cr_expect(json_paths(b.p + off, len, NULL, 0, NULL) == 0, "%s: not valid JSON",
		    cases[i].name);
	}
	event_buf_free(&b);
}

Test(header_encode, base64)
{
	static amqp_field_value_t one[1];
	static const struct {
		const char *in;
		size_t len;
		const char *want;
	} cases[] = {
		{ "", 0, "[\"\"]" }, { "f", 1, "[\"Zg==\"]" }, { "fo", 2, "[\"Zm8=\"]" },
		{ "foo", 3, "[\"Zm9v\"]" }, { "foob", 4, "[\"Zm9vYg==\"]" },
		{ "fooba", 5, "[\"Zm9vYmE=\"]" }, { "foobar", 6, "[\"Zm9vYmFy\"]" },
		{ "\xff\xfe\xfd", 3, "[\"//79\"]" }, { "\0", 1, "[\"AA==\"]" },
		{ "\xfb\xff", 2, "[\"+/8=\"]" },
	};
	struct event_buf b = {0};
	char b1[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		amqp_field_value_t v = fv_array(one, 1);
		size_t off, len;

		one[0] = fv_bytes(cases[i].in, cases[i].len);
		b.len = 0;
		cr_assert(header_encode(&v, &b, &off, &len) == 1);
		cr_expect(same(b.p + off, len, cases[i].want), "%zu bytes: got %s, want %s",
		    cases[i].len, show(b1, sizeof(b1), b.p + off, len), cases[i].want);
	}
	event_buf_free(&b);
}

/* HEADER_MAX_DEPTH nested tables and arrays encode; one more does not, whatever is around it. */
Test(header_encode, nesting_bound)
{
	enum { N = HEADER_MAX_DEPTH + 2 };
	static amqp_table_entry_t t[N];
	static amqp_field_value_t a[N];
	struct event_buf b = {0};
	size_t off, len;
	int rc;

	for (int depth = HEADER_MAX_DEPTH - 1; depth <= HEADER_MAX_DEPTH + 1; depth++) {
		/* depth levels: a table holding an array holding a table ... innermost: 1 */
		amqp_field_value_t inner = FV(I8, i8, 1), top;

		for (int i = depth - 1; i >= 0; i--) {
			if (i % 2 == 0) {
				t[i] = ent("k", inner);
				inner = fv_table(&t[i], 1);
			} else {
				a[i] = inner;
				inner = fv_array(&a[i], 1);
			}
		}
		top = inner;
		b.len = 0;
		errno = 0;
		rc = header_encode(&top, &b, &off, &len);
		if (depth <= HEADER_MAX_DEPTH) {
			cr_expect(rc == 1, "depth %d: got %d, want 1", depth, rc);
			if (rc == 1)
				cr_expect(json_paths(b.p + off, len, NULL, 0, NULL) == 0,
				    "depth %d: not valid JSON", depth);
		} else {
			cr_expect(rc == -1 && errno == EINVAL && b.len == 0,
			    "depth %d: got %d (errno %d, %zu bytes), want -1 EINVAL, nothing", depth, rc,
			    errno, b.len);
		}
	}
	event_buf_free(&b);
}

/*
 * A header table past its bounds is bad_headers for every route format,
 * before anything reads it: HEADER_MAX_FIELDS fields in all (entries
 * and array elements at every depth) pass and one more does not; tables
 * or arrays HEADER_MAX_DEPTH deep in a header's value pass, one more
 * does not. The detail names the bound.
 */
Test(mapping, header_table_bounds)
{
	enum { N = HEADER_MAX_FIELDS + 1 };
	static amqp_table_entry_t top[N], nest[HEADER_MAX_DEPTH + 2];
	static amqp_field_value_t arr[N];
	static char names[N][8];
	struct route seed, mapped;
	struct fixture f;
	amqp_basic_properties_t p;
	struct delivery_meta m = { &p, { 2, "ex" }, { 2, "rk" } };
	const char *body = "{\"event_id\":\"e\",\"payload\":1}";
	const struct {
		const char *what;
		int entries, arrlen, depth;
		enum dlq_reason want;
		const char *detail;
	} cases[] = {
		{ "1024 entries", HEADER_MAX_FIELDS, 0, 0, DLQ_NONE, NULL },
		{ "1025 entries", HEADER_MAX_FIELDS + 1, 0, 0, DLQ_bad_headers, "more than 1024 fields" },
		{ "1 entry holding 1023 elements", 1, HEADER_MAX_FIELDS - 1, 0, DLQ_NONE, NULL },
		{ "1 entry holding 1024 elements", 1, HEADER_MAX_FIELDS, 0, DLQ_bad_headers,
		  "more than 1024 fields" },
		{ "tables 64 deep", 1, 0, HEADER_MAX_DEPTH, DLQ_NONE, NULL },
		{ "tables 65 deep", 1, 0, HEADER_MAX_DEPTH + 1, DLQ_bad_headers,
		  "more than 64 deep" },
	};

	route_seed(&seed);
	route_init(&mapped, ROUTE_FMT_MAPPED, "header:x-id", "id", "body");
	for (int i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "h%d", i);
		top[i] = ent(names[i], fv_str("v"));
		arr[i] = FV(I8, i8, 1);
	}
	top[0] = ent("x-id", fv_str("id-1"));
	fixture_init(&f);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		amqp_table_entry_t saved = top[0];

		if (cases[i].arrlen > 0)
			top[0] = ent("x-id", fv_array(arr, cases[i].arrlen));
		if (cases[i].depth > 0) {
			/* depth tables, one inside the other, the innermost holding x-id */
			amqp_field_value_t inner = fv_str("id-1");

			for (int k = cases[i].depth - 1; k >= 0; k--) {
				nest[k] = ent("k", inner);
				inner = fv_table(&nest[k], 1);
			}
			top[0] = ent("x-deep", inner);
		}
		memset(&p, 0, sizeof(p));
		p._flags = AMQP_BASIC_HEADERS_FLAG;
		p.headers.entries = top;
		p.headers.num_entries = cases[i].entries;
		for (int r = 0; r < 2; r++) {
			enum dlq_reason why = mapping_decode(&f.dec, r ? &mapped : &seed, body,
			    strlen(body), &m, &f.ev, &f.buf);
			enum dlq_reason want = cases[i].want;

			/* Within the bounds the mapped route finds x-id only where it is a string. */
			if (want == DLQ_NONE && r && (cases[i].arrlen > 0 || cases[i].depth > 0))
				want = DLQ_missing_event_id;
			cr_expect(why == want, "%s, %s route: got %s, want %s", cases[i].what,
			    r ? "mapped" : "seed", dlq_reason_name(why), dlq_reason_name(want));
			if (cases[i].detail != NULL)
				cr_expect(strstr(f.ev.detail, cases[i].detail) != NULL &&
				    f.ev.nhdr == 0 && f.ev.value == NULL,
				    "%s: detail \"%s\" (want \"%s\"), %zu headers, value %p",
				    cases[i].what, f.ev.detail, cases[i].detail, f.ev.nhdr, f.ev.value);
			else
				cr_expect(f.ev.detail[0] == '\0', "%s: detail \"%s\", want none",
				    cases[i].what, f.ev.detail);
		}
		top[0] = saved;
	}
	fixture_free(&f);
	route_free(&seed);
	route_free(&mapped);
}

/* ---- topic ---- */

Test(mapping, topic_templates)
{
	static const char long249[] =
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaa";
	static const struct {
		const char *tpl;	/* NULL: a fixed topic */
		const char *rk;		/* NULL: the delivery's */
		enum dlq_reason want;
		const char *topic;
	} cases[] = {
		{ NULL, NULL, DLQ_NONE, NULL },
		{ "ev.{routing_key}", NULL, DLQ_NONE, "ev.orders.created" },
		{ "{exchange}-{queue}", NULL, DLQ_NONE, "ex1-q" },
		{ "{header.x-tenant-id}.events", NULL, DLQ_NONE, "acme.events" },
		{ "t{header.x-tenant-n}", NULL, DLQ_NONE, "t42" },
		{ "{header.x-dec}", NULL, DLQ_NONE, "123.45" },
		{ "{header.x-i8}", NULL, DLQ_NONE, "-128" },
		{ "{header.x-topic}_{header.x-str}", NULL, DLQ_NONE, "orders_s1" },
		{ "{header.x-absent}.events", NULL, DLQ_bad_topic, NULL },
		{ "{header.x-void}.events", NULL, DLQ_bad_topic, NULL },
		{ "{header.x-table}", NULL, DLQ_bad_topic, NULL },
		{ "{header.x-empty}", NULL, DLQ_bad_topic, NULL },
		{ "{routing_key}", "a/b", DLQ_bad_topic, NULL },
		{ "{routing_key}", "a b", DLQ_bad_topic, NULL },
		{ "{routing_key}", "caf\xc3\xa9", DLQ_bad_topic, NULL },
		{ "{routing_key}", "", DLQ_bad_topic, NULL },
		{ "{routing_key}", ".", DLQ_bad_topic, NULL },
		{ "{routing_key}", "..", DLQ_bad_topic, NULL },
		{ "{routing_key}", "...", DLQ_NONE, "..." },
		{ "{routing_key}", "A-Z_a.z-0_9", DLQ_NONE, "A-Z_a.z-0_9" },
		{ "{routing_key}", long249, DLQ_NONE, long249 },
		{ "x{routing_key}", long249, DLQ_bad_topic, NULL },
	};
	struct fixture f;
	struct delivery d;

	fixture_init(&f);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct route r;
		enum dlq_reason why;

		delivery_init(&d);
		if (cases[i].rk != NULL)
			d.m.routing_key = bytes(cases[i].rk);
		route_init(&r, ROUTE_FMT_MAPPED, "json:event_id", "id", "body");
		if (cases[i].tpl != NULL)
			route_tpl(&r, cases[i].tpl);
		why = decode(&f, &r, body_std, &d);
		cr_expect(why == cases[i].want, "topic %s (%s): got %s, want %s",
		    cases[i].tpl ? cases[i].tpl : "fixed", cases[i].rk ? cases[i].rk : "-",
		    dlq_reason_name(why), dlq_reason_name(cases[i].want));
		if (why == DLQ_NONE && cases[i].topic == NULL)
			cr_expect(f.ev.topic == NULL, "fixed topic: got %s, want NULL", f.ev.topic);
		if (why == DLQ_NONE && cases[i].topic != NULL)
			cr_expect(f.ev.topic != NULL && strcmp(f.ev.topic, cases[i].topic) == 0,
			    "topic %s: got %s, want %s", cases[i].tpl, f.ev.topic, cases[i].topic);
		if (why != DLQ_NONE)
			cr_expect(f.ev.topic == NULL && f.ev.value == NULL,
			    "topic %s: a rejection left a topic or value", cases[i].tpl);
		route_free(&r);
	}
	fixture_free(&f);
}

/* ---- timestamp ---- */

Test(mapping, timestamps)
{
	static const struct {
		enum route_timestamp mode;
		int set;
		uint64_t ts;
		int64_t want;
	} cases[] = {
		{ RTS_AMQP, 1, 1700000000, 1700000000000LL },
		{ RTS_AMQP, 1, 1700000000123ULL, 1700000000123LL },	/* already ms */
		{ RTS_AMQP, 1, 99999999999ULL, 99999999999000LL },	/* the last seconds */
		{ RTS_AMQP, 1, 100000000000ULL, 100000000000LL },	/* the first ms */
		{ RTS_AMQP, 1, 1, 1000 },
		{ RTS_AMQP, 1, 0, 0 },
		{ RTS_AMQP, 1, (uint64_t)INT64_MAX, INT64_MAX },
		{ RTS_AMQP, 1, (uint64_t)INT64_MAX + 1, 0 },
		{ RTS_AMQP, 1, UINT64_MAX, 0 },
		{ RTS_AMQP, 0, 1700000000, 0 },
		{ RTS_NOW, 1, 1700000000, 0 },
	};
	struct fixture f;
	struct delivery d;

	fixture_init(&f);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct route r;
		enum dlq_reason why;

		delivery_init(&d);
		d.props.timestamp = cases[i].ts;
		if (!cases[i].set)
			d.props._flags &= ~AMQP_BASIC_TIMESTAMP_FLAG;
		route_init(&r, ROUTE_FMT_MAPPED, "json:event_id", "id", "body");
		r.timestamp = cases[i].mode;
		why = decode(&f, &r, body_std, &d);
		cr_assert(why == DLQ_NONE);
		cr_expect(f.ev.timestamp_ms == cases[i].want,
		    "mode %d, set %d, timestamp %llu: got %lld, want %lld", (int)cases[i].mode,
		    cases[i].set, (unsigned long long)cases[i].ts, (long long)f.ev.timestamp_ms,
		    (long long)cases[i].want);
		route_free(&r);
	}
	/* No properties at all. */
	{
		struct route r;

		route_init(&r, ROUTE_FMT_MAPPED, "json:event_id", "id", "body");
		r.timestamp = RTS_AMQP;
		cr_assert(decode(&f, &r, body_std, NULL) == DLQ_NONE);
		cr_expect(f.ev.timestamp_ms == 0, "no properties: got %lld, want 0",
		    (long long)f.ev.timestamp_ms);
		route_free(&r);
	}
	fixture_free(&f);
}

/* ---- trace context ---- */

Test(trace_context, traceparent_valid)
{
	static const struct {
		const char *name, *tp;
		int want;
	} cases[] = {
		{ "version 00", TP, 1 },
		{ "sampled 00 flags", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", 1 },
		{ "one short", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0", 0 },
		{ "one long", TP "0", 0 },
		{ "00 with more fields", TP "-abc", 0 },
		{ "uppercase trace-id", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", 0 },
		{ "uppercase parent-id", "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01", 0 },
		{ "uppercase flags", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A", 0 },
		{ "uppercase version", "0A-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", 0 },
		{ "zero trace-id", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", 0 },
		{ "zero parent-id", "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", 0 },
		{ "version ff", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", 0 },
		{ "version not hex", "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", 0 },
		{ "underscore separator", "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", 0 },
		{ "separator moved", "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01", 0 },
		{ "non-hex in trace-id", "00-4bf92f3577b34da6a3ce929d0e0e473z-00f067aa0ba902b7-01", 0 },
		{ "future version, 55", "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", 1 },
		{ "future version, longer with -",
		  "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds", 1 },
		{ "future version, longer without -",
		  "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01.what", 0 },
		{ "future version, bad fields", "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x", 0 },
		{ "empty", "", 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int got = traceparent_valid(cases[i].tp, strlen(cases[i].tp));

		cr_expect(got == cases[i].want, "%s: got %d, want %d", cases[i].name, got,
		    cases[i].want);
	}
}

Test(mapping, trace_context)
{
	const struct {
		const char *name;
		amqp_field_value_t tp;	/* kind 0: no traceparent */
		const char *ts;		/* NULL: no tracestate */
		int bad;
		int copied;
	} cases[] = {
		{ "valid", { .kind = AMQP_FIELD_KIND_UTF8 }, NULL, 0, 1 },
		{ "valid with tracestate", { .kind = AMQP_FIELD_KIND_UTF8 }, "rojo=00f067aa0ba902b7", 0, 1 },
		{ "valid as bytes", { .kind = AMQP_FIELD_KIND_BYTES }, "k=v", 0, 1 },
		{ "tracestate only", { .kind = 0 }, "k=v", 0, 0 },
		{ "neither", { .kind = 0 }, NULL, 0, 0 },
		{ "integer traceparent", FV(I32, i32, 5), "k=v", 1, 0 },
	};
	struct fixture f;
	struct delivery d;
	struct route seed, mapped;
	char b1[128];

	fixture_init(&f);
	route_seed(&seed);
	route_init(&mapped, ROUTE_FMT_MAPPED, "json:event_id", "id", "body");
	for (int k = 0; k < 2; k++) {
		const struct route *r = k == 0 ? &seed : &mapped;
		const char *rn = k == 0 ? "seed" : "mapped";

		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			enum dlq_reason why;
			const struct event_header *h;

			delivery_init(&d);
			if (cases[i].tp.kind != 0) {
				amqp_field_value_t v = cases[i].tp;

				if (v.kind == AMQP_FIELD_KIND_UTF8 || v.kind == AMQP_FIELD_KIND_BYTES)
					v.value.bytes = bytes(TP);
				delivery_add(&d, "traceparent", v);
			}
			if (cases[i].ts != NULL)
				delivery_add(&d, "tracestate", fv_str(cases[i].ts));
			why = decode(&f, r, "{\"event_id\":\"e\",\"payload\":1}", &d);
			cr_assert(why == DLQ_NONE, "%s %s: got %s", rn, cases[i].name, dlq_reason_name(why));
			cr_expect(f.ev.bad_traceparent == (unsigned)cases[i].bad,
			    "%s %s: bad_traceparent: got %u, want %d", rn, cases[i].name,
			    f.ev.bad_traceparent, cases[i].bad);
			h = header(&f.ev, "traceparent");
			cr_expect((h != NULL) == cases[i].copied, "%s %s: traceparent: got %s, want %s", rn,
			    cases[i].name, h ? "one" : "none", cases[i].copied ? "one" : "none");
			if (h != NULL)
				cr_expect(same(h->value, h->len, TP), "%s %s: traceparent: got %s", rn,
				    cases[i].name, show(b1, sizeof(b1), h->value, h->len));
			h = header(&f.ev, "tracestate");
			if (cases[i].copied && cases[i].ts != NULL)
				cr_expect(h != NULL && same(h->value, h->len, cases[i].ts),
				    "%s %s: tracestate: got %s, want %s", rn, cases[i].name,
				    h ? show(b1, sizeof(b1), h->value, h->len) : "none", cases[i].ts);
			else
				cr_expect(h == NULL, "%s %s: got a tracestate, want none", rn, cases[i].name);
		}
	}

	/* Invalid ones of every shape: neither header, bad_traceparent set. */
	{
		static const char *const bad[] = {
			"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",
			"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
			"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
			"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
			TP "-x",
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			delivery_init(&d);
			delivery_add(&d, "traceparent", fv_str(bad[i]));
			delivery_add(&d, "tracestate", fv_str("k=v"));
			cr_assert(decode(&f, &seed, "{\"event_id\":\"e\",\"payload\":1}", &d) == DLQ_NONE);
			cr_expect(f.ev.bad_traceparent == 1 && f.ev.nhdr == 0,
			    "%s: got bad %u and %zu headers, want 1 and 0", bad[i], f.ev.bad_traceparent,
			    f.ev.nhdr);
		}
	}

	/* trace_context: false carries nothing and checks nothing. */
	seed.trace_context = 0;
	delivery_init(&d);
	delivery_add(&d, "traceparent", fv_str("junk"));
	cr_assert(decode(&f, &seed, "{\"event_id\":\"e\",\"payload\":1}", &d) == DLQ_NONE);
	cr_expect(f.ev.nhdr == 0 && f.ev.bad_traceparent == 0,
	    "trace_context off: got %zu headers, bad %u", f.ev.nhdr, f.ev.bad_traceparent);

	/* The first traceparent counts. */
	delivery_init(&d);
	delivery_add(&d, "traceparent", fv_str(TP));
	delivery_add(&d, "traceparent", fv_str("junk"));
	cr_assert(decode(&f, &mapped, "{\"event_id\":\"e\"}", &d) == DLQ_NONE);
	cr_expect(f.ev.bad_traceparent == 0 && header_count(&f.ev, "traceparent") == 1,
	    "two traceparents: got bad %u, %zu headers", f.ev.bad_traceparent,
	    header_count(&f.ev, "traceparent"));

	route_free(&seed);
	route_free(&mapped);
	fixture_free(&f);
}

/* A route that maps traceparent or tracestate itself keeps its own: never two of a name. */
Test(mapping, route_headers_win_over_trace_context)
{
	struct fixture f;
	struct delivery d;
	struct route r;
	const struct event_header *h;

	fixture_init(&f);
	delivery_init(&d);
	delivery_add(&d, "traceparent", fv_str(TP));
	delivery_add(&d, "tracestate", fv_str("k=v"));
	route_init(&r, ROUTE_FMT_MAPPED, "json:event_id", "id", "body");
	route_header(&r, "tracestate", "json:ts");
	cr_assert(decode(&f, &r, "{\"event_id\":\"e\",\"ts\":\"mine\"}", &d) == DLQ_NONE);
	cr_expect(header_count(&f.ev, "traceparent") == 1 && header_count(&f.ev, "tracestate") == 1,
	    "got %zu traceparent, %zu tracestate, want 1 and 1",
	    header_count(&f.ev, "traceparent"), header_count(&f.ev, "tracestate"));
	h = header(&f.ev, "tracestate");
	cr_expect(h != NULL && same(h->value, h->len, "mine"), "tracestate: want the route's own");
	route_free(&r);

	/* A prefix pattern that takes traceparent along. */
	route_init(&r, ROUTE_FMT_MAPPED, "json:event_id", "id", "body");
	route_header(&r, "trace*", "header:trace*");
	cr_assert(decode(&f, &r, "{\"event_id\":\"e\"}", &d) == DLQ_NONE);
	cr_expect(header_count(&f.ev, "traceparent") == 1 && header_count(&f.ev, "tracestate") == 1,
	    "prefix: got %zu traceparent, %zu tracestate, want 1 and 1",
	    header_count(&f.ev, "traceparent"), header_count(&f.ev, "tracestate"));
	route_free(&r);
	fixture_free(&f);
}

/* ---- the seed format through mapping_decode ---- */

Test(mapping, seed_route_equals_event_decode)
{
	static const char *const bodies[] = {
		"{\"event_id\":\"e1\",\"correlation_id\":\"c1\",\"payload\":{\"a\":1}}",
		"{\"event_id\":\"a\\\"b\",\"payload\":\"s\"}",
		"{\"payload\":[1,2],\"event_id\":\"e\",\"correlation_id\":null}",
		"{\"event_id\":\"e\"}",
		"{\"payload\":1}",
		"{\"event_id\":\"e\",\"correlation_id\":5,\"payload\":1}",
		"[1]",
		"",
	};
	struct fixture f;
	struct event_decoder d2;
	struct event ev2;
	struct delivery d;
	struct route r;
	char b1[128];

	fixture_init(&f);
	cr_assert(event_decoder_init(&d2, MAX_BYTES) == 0);
	route_seed(&r);
	for (int with_trace = 0; with_trace < 2; with_trace++) {
		delivery_init(&d);
		if (with_trace) {
			delivery_add(&d, "traceparent", fv_str(TP));
			delivery_add(&d, "tracestate", fv_str("a=1,b=2"));
		}
		for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
			const char *b = bodies[i];
			enum dlq_reason want = event_decode(&d2, &r, b, strlen(b), &ev2);
			enum dlq_reason why = decode(&f, &r, b, &d);
			size_t extra = why == DLQ_NONE && with_trace ? 2 : 0;

			cr_expect(why == want, "%s: got %s, want %s", b, dlq_reason_name(why),
			    dlq_reason_name(want));
			cr_expect(strcmp(f.ev.id, ev2.id) == 0, "%s: id: got %s, want %s", b, f.ev.id,
			    ev2.id);
			cr_expect(f.ev.value == ev2.value && f.ev.value_len == ev2.value_len,
			    "%s: value differs", b);
			cr_expect(f.ev.key_len == ev2.key_len &&
			    (f.ev.key == NULL) == (ev2.key == NULL) &&
			    (f.ev.key == NULL || memcmp(f.ev.key, ev2.key, ev2.key_len) == 0),
			    "%s: key differs", b);
			cr_expect(f.ev.hdr == f.ev.seed_hdr && f.ev.topic == NULL,
			    "%s: seed events use seed_hdr and the fixed topic", b);
			cr_expect(f.ev.nhdr == ev2.nhdr + extra, "%s: got %zu headers, want %zu", b,
			    f.ev.nhdr, ev2.nhdr + extra);
			for (size_t k = 0; k < ev2.nhdr && k < f.ev.nhdr; k++)
				cr_expect(strcmp(f.ev.hdr[k].name, ev2.hdr[k].name) == 0 &&
				    f.ev.hdr[k].len == ev2.hdr[k].len &&
				    memcmp(f.ev.hdr[k].value, ev2.hdr[k].value, ev2.hdr[k].len) == 0,
				    "%s: header %zu differs", b, k);
			if (extra) {
				const struct event_header *tp = &f.ev.hdr[ev2.nhdr];
				const struct event_header *ts = &f.ev.hdr[ev2.nhdr + 1];

				cr_expect(strcmp(tp->name, "traceparent") == 0 && same(tp->value, tp->len, TP),
				    "%s: traceparent: got %s", b, show(b1, sizeof(b1), tp->value, tp->len));
				cr_expect(strcmp(ts->name, "tracestate") == 0 &&
				    same(ts->value, ts->len, "a=1,b=2"), "%s: tracestate: got %s", b,
				    show(b1, sizeof(b1), ts->value, ts->len));
				/* Copied: rabbitmq-c recycles the table after the callback. */
				cr_expect((const char *)tp->value >= f.buf.p &&
				    (const char *)tp->value < f.buf.p + f.buf.len,
				    "%s: traceparent is not in the event's buffer", b);
			}
		}
	}
	route_free(&r);
	event_decoder_free(&d2);
	fixture_free(&f);
}

/* ---- the buffer ---- */

Test(mapping, buffer_reuse_and_growth)
{
	static amqp_table_entry_t many[200];
	static char names[200][16], values[200][40];
	struct fixture f;
	struct delivery d;
	struct route r;
	char *p = NULL;
	size_t cap = 0, hcap = 0;
	struct event_header *h = NULL;

	fixture_init(&f);
	delivery_init(&d);
	/* Enough headers to grow the buffer and the header array several times in one decode. */
	for (int i = 0; i < 200; i++) {
		snprintf(names[i], sizeof(names[i]), "x-many-%03d", i);
		snprintf(values[i], sizeof(values[i]), "value-%03d-%s", i, "padding-padding-pad");
		many[i] = ent(names[i], fv_str(values[i]));
	}
	d.props.headers.entries = many;
	d.props.headers.num_entries = 200;
	route_init(&r, ROUTE_FMT_MAPPED, "json:event_id", "header:x-many-199", "body");
	route_header(&r, "m-*", "header:x-many-*");
	route_header(&r, "esc", "json:esc");
	route_tpl(&r, "t.{header.x-many-007}");

	for (int round = 0; round < 3; round++) {
		enum dlq_reason why = decode(&f, &r, body_std, &d);

		cr_assert(why == DLQ_NONE, "round %d: got %s", round, dlq_reason_name(why));
		cr_assert(f.ev.nhdr == 201, "round %d: got %zu headers, want 201", round, f.ev.nhdr);
		for (int i = 0; i < 200; i++) {
			char want[32];

			snprintf(want, sizeof(want), "m-%03d", i);
			cr_expect(same(f.ev.hdr[i].name, f.ev.hdr[i].name_len, want) &&
			    same(f.ev.hdr[i].value, f.ev.hdr[i].len, values[i]),
			    "round %d: header %d wrong", round, i);
		}
		cr_expect(same(f.ev.hdr[200].value, f.ev.hdr[200].len, "a\xc3\xa9\n"),
		    "round %d: esc header wrong", round);
		cr_expect(same(f.ev.key, f.ev.key_len, values[199]), "round %d: key wrong", round);
		cr_expect(f.ev.topic != NULL && strcmp(f.ev.topic, "t.value-007-padding-padding-pad") == 0,
		    "round %d: topic: got %s", round, f.ev.topic);
		if (round == 0) {
			p = f.buf.p;
			cap = f.buf.cap;
			h = f.buf.h;
			hcap = f.buf.hcap;
			cr_expect(cap > 256 && hcap > 8, "the first decode grew the buffer");
		} else {
			cr_expect(f.buf.p == p && f.buf.cap == cap && f.buf.h == h && f.buf.hcap == hcap,
			    "round %d: the buffer moved or grew on the same delivery", round);
		}
	}
	/* A smaller delivery, then the big one: no growth either. */
	{
		struct delivery small;

		delivery_init(&small);
		cr_assert(decode(&f, &r, body_std, &small) == DLQ_missing_key);
		cr_assert(decode(&f, &r, body_std, &d) == DLQ_NONE);
		cr_expect(f.buf.p == p && f.buf.cap == cap && f.buf.h == h,
		    "small then big: the buffer grew");
	}
	route_free(&r);
	fixture_free(&f);
	cr_expect(f.buf.p == NULL && f.buf.cap == 0 && f.buf.h == NULL && f.buf.hcap == 0,
	    "event_buf_free: got a non-empty buffer");
}

/* ---- allocation failures ---- */

/*
 * test_mapping links with -Wl,--wrap=realloc: every realloc of the
 * code under test comes here, and the one numbered fail_at fails.
 */
void *__real_realloc(void *p, size_t n);
void *__wrap_realloc(void *p, size_t n);

static long realloc_calls, fail_at = -1;

void *
__wrap_realloc(void *p, size_t n)
{
	if (realloc_calls++ == fail_at)
		return NULL;
	return __real_realloc(p, n);
}

Test(mapping, allocation_failures)
{
	static amqp_table_entry_t many[100];
	static char names[100][16];
	struct delivery d;
	struct route mapped, seed;
	long total;

	delivery_init(&d);
	for (int i = 0; i < 100; i++) {
		snprintf(names[i], sizeof(names[i]), "x-many-%03d", i);
		many[i] = ent(names[i], fv_str(long_id));
	}
	many[98] = ent("traceparent", fv_str(TP));
	many[99] = ent("tracestate", fv_str(long_id));
	d.props.headers.entries = many;
	d.props.headers.num_entries = 100;
	route_init(&mapped, ROUTE_FMT_MAPPED, "json:event_id", "routing_key", "body");
	route_header(&mapped, "m-*", "header:x-many-*");
	route_header(&mapped, "esc", "json:esc");
	route_tpl(&mapped, "t.{routing_key}");
	route_seed(&seed);

	for (int k = 0; k < 2; k++) {
		const struct route *r = k == 0 ? &mapped : &seed;
		const char *body = k == 0 ? body_std : "{\"event_id\":\"e\",\"payload\":1}";

		/* How many reallocs one decode into an empty buffer makes. */
		{
			struct fixture f;

			fixture_init(&f);
			realloc_calls = 0;
			fail_at = -1;
			cr_assert(decode(&f, r, body, &d) == DLQ_NONE);
			total = realloc_calls;
			fixture_free(&f);
		}
		cr_assert(total >= 1, "route %d: no realloc at all", k);
		for (long n = 0; n < total; n++) {
			struct fixture f;
			enum dlq_reason why;

			fixture_init(&f);
			realloc_calls = 0;
			fail_at = n;
			why = decode(&f, r, body, &d);
			fail_at = -1;
			cr_expect(why == DLQ_too_large, "route %d, realloc %ld fails: got %s, want too_large",
			    k, n, dlq_reason_name(why));
			cr_expect(f.ev.nhdr == 0 && f.ev.value == NULL && f.ev.key == NULL &&
			    f.ev.topic == NULL, "route %d, realloc %ld fails: a record was left behind", k, n);
			/* The buffer kept what it had; the next decode works. */
			why = decode(&f, r, body, &d);
			cr_expect(why == DLQ_NONE, "route %d, after failure %ld: got %s, want none", k, n,
			    dlq_reason_name(why));
			fixture_free(&f);
		}
	}
	route_free(&mapped);
	route_free(&seed);
}
