/*
 * decode-bench: decodes a fixed set of seed-format bodies, of the shapes
 * the benchmark and real producers publish (about 200 bytes each), N
 * times with one decoder, as a worker does. It is meant to run under
 * callgrind, which counts instructions, not time:
 *
 *   valgrind --tool=callgrind --toggle-collect=event_decode \
 *       bench/decode-bench -n 100000
 *
 * then the total Ir divided by N is the cost of one event_decode.
 *
 * The one thing to know: every body must decode (it aborts otherwise),
 * so a decoder that got faster by rejecting the bench's bodies cannot
 * look good here. Built only on request: make bench/decode-bench.
 */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/event.h"
#include "common/route.h"

#define NBODIES 64
#define BODY_CAP 512
#define MAX_BYTES 1048576	/* event.max_message_bytes' default */

static char bodies[NBODIES][BODY_CAP];
static size_t lens[NBODIES];

/* er-publish's body, padded to 200 bytes (tests/tools/er_publish.c). */
static size_t
publish_body(char *b, long seq)
{
	size_t n, pad;

	n = (size_t)snprintf(b, BODY_CAP,
	    "{\"event_id\":\"ev-%08ld\",\"correlation_id\":\"corr-%ld\","
	    "\"payload\":{\"seq\":%ld,\"pad\":\"", seq, seq, seq);
	pad = 200 - 3 - n;
	memset(b + n, 'x', pad);
	memcpy(b + n + pad, "\"}}", 4);
	return n + pad + 3;
}

/* A producer's event with more top-level members and a nested payload. */
static size_t
order_body(char *b, long seq)
{
	return (size_t)snprintf(b, BODY_CAP,
	    "{\"event_id\":\"bench-%06ld\",\"event_type\":\"order.created\","
	    "\"occurred_at\":\"2026-11-25T06:%02ld:00.123Z\",\"correlation_id\":\"c-%ld\","
	    "\"payload\":{\"order_id\":%ld,\"amount\":%ld.5,\"currency\":\"EUR\","
	    "\"items\":[{\"sku\":\"A-%ld\",\"qty\":%ld}],\"note\":\"x\"}}",
	    seq, seq % 60, seq, seq, seq % 1000, seq % 97, seq % 5 + 1);
}

static void
usage(void)
{
	fprintf(stderr, "usage: decode-bench [-n COUNT] [-k publish|order|mix]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct route r = {
		.name = "bench", .queue = "q", .topic = "t", .dlq = "q.dlq",
		.max_message_bytes = MAX_BYTES, .format = ROUTE_FMT_SEED_JSON,
	};
	struct event_decoder d;
	struct event ev;
	const char *kind = "mix";
	long count = 100000;
	size_t sum = 0;
	int c;

	while ((c = getopt(argc, argv, "n:k:")) != -1) {
		switch (c) {
		case 'n':
			count = atol(optarg);
			break;
		case 'k':
			kind = optarg;
			break;
		default:
			usage();
		}
	}
	if (count <= 0 || optind != argc)
		usage();
	for (long i = 0; i < NBODIES; i++) {
		int order = strcmp(kind, "order") == 0 || (strcmp(kind, "mix") == 0 && i % 2);

		if (strcmp(kind, "publish") && strcmp(kind, "order") && strcmp(kind, "mix"))
			usage();
		lens[i] = order ? order_body(bodies[i], 1000 + i) : publish_body(bodies[i], 1000 + i);
	}
	if (event_decoder_init(&d, MAX_BYTES) < 0)
		return 1;
	for (long i = 0; i < count; i++) {
		const char *b = bodies[i % NBODIES];
		enum dlq_reason why = event_decode(&d, &r, b, lens[i % NBODIES], &ev);

		if (why != DLQ_NONE) {
			fprintf(stderr, "decode-bench: body %ld: %s: %.*s\n", i % NBODIES,
			    dlq_reason_name(why), (int)lens[i % NBODIES], b);
			abort();
		}
		sum += ev.value_len + ev.id_len + ev.nhdr;
	}
	event_decoder_free(&d);
	printf("decode_bench kind=%s decodes=%ld bodies=%d checksum=%zu\n",
	    kind, count, NBODIES, sum);
	return 0;
}
