/*
 * fuzz_event: libFuzzer target for event_decode with a seed-format
 * route, for json_paths beside it, and for json_unescape. See README.md
 * for how to build and run.
 *
 * Owns one decoder for the whole run, as a worker does.
 *
 * Besides crashes (ASan, UBSan), it checks what a relayed event
 * promises: the value lies inside the body and is itself valid JSON
 * (decoding it as the payload of a fresh body gives it back), the id
 * is a non-empty NUL-terminated string without NULs, and a body over
 * the route's limit is always too_large.
 *
 * json_paths is checked against the seed decoder (differential): the
 * two share one scanner, so for every body under the limit they must
 * agree on validity and on the reason (json_paths also takes any
 * top-level value, the seed decoder only an object), and the three seed
 * paths must find exactly the spans the decoder took. A detail comes
 * exactly with the reasons of a bound; event_id_too_long only for an id
 * longer than EVENT_ID_MAX unescaped. Every span json_paths records,
 * for a few more paths, must lie in the body and be valid JSON alone.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/event.h"
#include "common/route.h"

#define FUZZ_MAX_BYTES 65536

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct event_decoder dec;
static struct route route = {
	.name = "fuzz", .queue = "q", .topic = "t", .dlq = "q.dlq",
	.max_message_bytes = FUZZ_MAX_BYTES, .format = ROUTE_FMT_SEED_JSON,
};

/* A path of one or more segments, each pointing into a static text. */
#define PATH1(t) { .text = t, .seg = { t }, .seglen = { sizeof(t) - 1 }, .nseg = 1 }

static struct route_path seed_paths[3] = {
	PATH1("event_id"), PATH1("correlation_id"), PATH1("payload"),
};
static struct route_path more_paths[4] = {
	{ .text = "payload.0", .seg = { "payload", "0" }, .seglen = { 7, 1 }, .nseg = 2 },
	{ .text = "payload.a.b", .seg = { "payload", "a", "b" }, .seglen = { 7, 1, 1 }, .nseg = 3 },
	{ .text = "0.0", .seg = { "0", "0" }, .seglen = { 1, 1 }, .nseg = 2 },
	{ .text = "", .nseg = 0 },
};

/* The first byte that is not JSON whitespace. */
static int
first_byte(const uint8_t *d, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (d[i] != ' ' && d[i] != '\t' && d[i] != '\n' && d[i] != '\r')
			return d[i];
	return -1;
}

/*
 * Whether d[0..n) is UTF-8, decoded code point by code point (not the
 * scanner's range checks): the oracle for invalid_utf8. Outside strings
 * JSON is ASCII, so a body json_paths accepts is UTF-8 as a whole, and
 * one it refuses as JSON_ERR_UTF8 is not.
 */
static int
utf8_oracle(const uint8_t *d, size_t n)
{
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t k;

		if (d[i] < 0x80) {
			i++;
			continue;
		}
		if ((d[i] & 0xe0) == 0xc0) {
			k = 2;
			cp = d[i] & 0x1f;
		} else if ((d[i] & 0xf0) == 0xe0) {
			k = 3;
			cp = d[i] & 0x0f;
		} else if ((d[i] & 0xf8) == 0xf0) {
			k = 4;
			cp = d[i] & 0x07;
		} else {
			return 0;
		}
		if (n - i < k)
			return 0;
		for (size_t j = 1; j < k; j++) {
			if ((d[i + j] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (d[i + j] & 0x3f);
		}
		if ((k == 2 && cp < 0x80) || (k == 3 && cp < 0x800) || (k == 4 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return 0;
		i += k;
	}
	return 1;
}

/* json_paths beside the decoder's verdict `why` on the same body. */
static void
check_paths(const uint8_t *data, size_t size, enum dlq_reason why, const struct event *ev)
{
	const struct route_path *pp[3] = { &seed_paths[0], &seed_paths[1], &seed_paths[2] };
	const struct route_path *mp[4] = { &more_paths[0], &more_paths[1], &more_paths[2],
	    &more_paths[3] };
	struct json_span sp[4];
	char u[EVENT_ID_MAX];
	int rc;

	if (why == DLQ_too_large)
		return;
	rc = json_paths(data, size, pp, 3, sp);
	/*
	 * The decoder rejects as JSON (invalid_json, invalid_utf8,
	 * json_too_deep) exactly what is not a JSON object, and for an
	 * object for the very reason json_paths gives.
	 */
	if ((why != DLQ_invalid_json && why != DLQ_invalid_utf8 && why != DLQ_json_too_deep) !=
	    (rc == 0 && first_byte(data, size) == '{'))
		abort();
	if (rc < 0 && first_byte(data, size) == '{' && why != json_err_reason(rc, NULL))
		abort();
	if ((rc == 0 || rc == JSON_ERR_UTF8) && utf8_oracle(data, size) != (rc == 0))
		abort();	/* the scanner and the oracle disagree on UTF-8 */
	/* A detail says which bound, for those reasons only. */
	if ((ev->detail[0] != '\0') != (why == DLQ_invalid_utf8 || why == DLQ_json_too_deep ||
	    why == DLQ_event_id_too_long))
		abort();
	/* Too long: the id member is a string longer than EVENT_ID_MAX once unescaped. */
	if (why == DLQ_event_id_too_long && (sp[0].kind != JSON_STRING ||
	    json_unescape(sp[0].start + 1, sp[0].len - 2, u, sizeof(u)) != JSON_ERR_TOO_LONG))
		abort();
	if (rc < 0) {
		for (int i = 0; i < 3; i++)
			if (sp[i].kind != JSON_ABSENT || sp[i].start != NULL)
				abort();
		return;
	}
	if (why == DLQ_NONE) {
		long n;

		if (sp[2].start != ev->value || sp[2].len != ev->value_len)
			abort();
		if (sp[0].kind != JSON_STRING)
			abort();
		n = json_unescape(sp[0].start + 1, sp[0].len - 2, u, sizeof(u));
		if (n != (long)ev->id_len || memcmp(u, ev->id, ev->id_len) != 0)
			abort();
		if ((ev->nhdr == 1) != (sp[1].kind == JSON_STRING))
			abort();
	}
	if (why == DLQ_missing_payload && sp[2].kind != JSON_ABSENT)
		abort();

	/* Any recorded span lies in the body and is a JSON value by itself. */
	if (json_paths(data, size, mp, 4, sp) != 0)
		abort();
	for (int i = 0; i < 4; i++) {
		if (sp[i].kind == JSON_ABSENT)
			continue;
		if ((const uint8_t *)sp[i].start < data || sp[i].len == 0 ||
		    (const uint8_t *)sp[i].start + sp[i].len > data + size ||
		    json_paths(sp[i].start, sp[i].len, NULL, 0, NULL) != 0)
			abort();
	}
	if (more_paths[3].nseg == 0 && sp[3].kind == JSON_ABSENT)
		abort();	/* the whole value is always there */
}

/* The accepted value, re-wrapped as a payload, must decode to itself. */
static void
check_value(const struct event *ev)
{
	static const char head[] = "{\"event_id\":\"x\",\"payload\":";
	size_t n = sizeof(head) - 1 + ev->value_len + 1;
	char *b = malloc(n);
	struct event ev2;

	if (b == NULL)
		abort();
	memcpy(b, head, sizeof(head) - 1);
	memcpy(b + sizeof(head) - 1, ev->value, ev->value_len);
	b[n - 1] = '}';
	if (n <= FUZZ_MAX_BYTES) {
		if (event_decode(&dec, &route, b, n, &ev2) != DLQ_NONE ||
		    ev2.value_len != ev->value_len ||
		    memcmp(ev2.value, ev->value, ev->value_len) != 0)
			abort();
	}
	free(b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct event ev;
	enum dlq_reason why;
	char out[64];
	long u;

	if (dec.max_bytes == 0 && event_decoder_init(&dec, FUZZ_MAX_BYTES) < 0)
		abort();

	why = event_decode(&dec, &route, data, size, &ev);
	if (size > FUZZ_MAX_BYTES && why != DLQ_too_large)
		abort();
	if (why == DLQ_NONE) {
		const uint8_t *v = ev.value;

		if (v < data || v + ev.value_len > data + size || ev.value_len == 0)
			abort();
		if (ev.id_len == 0 || ev.id_len > EVENT_ID_MAX || ev.id[ev.id_len] != '\0' ||
		    strlen(ev.id) != ev.id_len)
			abort();
		if (ev.key != ev.id || ev.key_len != ev.id_len || ev.nhdr > 1)
			abort();
		if (ev.nhdr == 1 && ev.hdr[0].len > EVENT_CORRELATION_MAX)
			abort();
		check_value(&ev);
	} else if (ev.nhdr != 0 || ev.value != NULL) {
		abort();
	}
	check_paths(data, size, why, &ev);

	/* json_unescape on the raw bytes, with a small output. */
	u = json_unescape((const char *)data, size, out, sizeof(out));
	if ((u < 0 && u != -1 && u != JSON_ERR_TOO_LONG) || u > (long)sizeof(out))
		abort();
	return 0;
}
