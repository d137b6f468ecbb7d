/*
 * breaker: see breaker.h.
 */
#include "autoconf.h"

#include "worker/breaker.h"

void
breaker_init(struct breaker *b, unsigned threshold, uint64_t open_ms, uint64_t open_max_ms,
    double multiplier, uint64_t seed)
{
	b->state = BREAKER_CLOSED;
	b->failures = 0;
	b->threshold = threshold > 0 ? threshold : 1;
	b->probe_ms = 0;
	backoff_init(&b->backoff, open_ms, open_max_ms, multiplier, seed);
}

static int
open_now(struct breaker *b, uint64_t now_ms)
{
	int changed = b->state != BREAKER_OPEN;

	b->state = BREAKER_OPEN;
	b->failures = 0;
	b->probe_ms = now_ms + backoff_next(&b->backoff);
	return changed;
}

int
breaker_success(struct breaker *b)
{
	b->failures = 0;
	if (b->state == BREAKER_CLOSED)
		return 0;
	b->state = BREAKER_CLOSED;
	backoff_reset(&b->backoff);
	return 1;
}

int
breaker_failure(struct breaker *b, uint64_t now_ms)
{
	switch (b->state) {
	case BREAKER_CLOSED:
		if (++b->failures < b->threshold)
			return 0;
		return open_now(b, now_ms);
	case BREAKER_HALF_OPEN:
		return open_now(b, now_ms);
	case BREAKER_OPEN:
		break;	/* held records failing again: already counted */
	}
	return 0;
}

int
breaker_trip(struct breaker *b, uint64_t now_ms)
{
	if (b->state == BREAKER_OPEN)
		return 0;
	return open_now(b, now_ms);
}

int
breaker_probe(struct breaker *b, uint64_t now_ms, int kafka_up)
{
	if (b->state != BREAKER_OPEN || now_ms < b->probe_ms)
		return 0;
	if (!kafka_up) {
		b->probe_ms = now_ms + backoff_next(&b->backoff);
		return 0;
	}
	b->state = BREAKER_HALF_OPEN;
	return 1;
}

uint64_t
breaker_next_due(const struct breaker *b)
{
	return b->state == BREAKER_OPEN ? b->probe_ms : UINT64_MAX;
}

const char *
breaker_state_name(enum breaker_state s)
{
	switch (s) {
	case BREAKER_CLOSED:
		return "closed";
	case BREAKER_OPEN:
		return "open";
	case BREAKER_HALF_OPEN:
		return "half-open";
	}
	return "?";
}
