/*
 * fuzz_event: libFuzzer target for event_decode with a seed-format
 * route, and for json_unescape. See README.md for how to build and run.
 *
 * Owns one decoder for the whole run, as a worker does.
 *
 * Besides crashes (ASan, UBSan), it checks what a relayed event
 * promises: the value lies inside the body and is itself valid JSON
 * (decoding it as the payload of a fresh body gives it back), the id
 * is a non-empty NUL-terminated string without NULs, and a body over
 * the route's limit is always too_large.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/event.h"

#define FUZZ_MAX_BYTES 65536

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct event_decoder dec;
static struct route route = {
	.name = "fuzz", .queue = "q", .topic = "t", .dlq = "q.dlq",
	.max_message_bytes = FUZZ_MAX_BYTES, .format = ROUTE_FMT_SEED_JSON,
};

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

	/* json_unescape on the raw bytes, with a small output. */
	u = json_unescape((const char *)data, size, out, sizeof(out));
	if (u < -1 || u > (long)sizeof(out))
		abort();
	return 0;
}
