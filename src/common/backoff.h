/*
 * backoff: exponential backoff with full jitter, for reconnects and
 * per-message retries. The delay for attempt n is uniform in
 * [1, min(max, initial * multiplier^n)] milliseconds, so retries spread
 * out and never spin.
 */
#ifndef ER_BACKOFF_H
#define ER_BACKOFF_H

#include <stdint.h>

struct backoff {
	uint64_t initial_ms;
	uint64_t max_ms;
	double multiplier;
	unsigned attempt;
	uint64_t rng;		/* xorshift state, never 0 */
};

void backoff_init(struct backoff *b, uint64_t initial_ms, uint64_t max_ms,
    double multiplier, uint64_t seed);
/* The next delay in ms; advances the attempt count. */
uint64_t backoff_next(struct backoff *b);
void backoff_reset(struct backoff *b);
/* Stateless form for per-message retries: the cap for `attempt`. */
uint64_t backoff_cap(uint64_t initial_ms, uint64_t max_ms, double multiplier, unsigned attempt);
/* Uniform in [1, cap] using the xorshift state *rng. */
uint64_t backoff_jitter(uint64_t cap, uint64_t *rng);

#endif
