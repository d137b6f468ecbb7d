/*
 * backoff: exponential backoff with full jitter. Attempt n waits a
 * uniform random time in [1, min(max, initial * multiplier^n)] ms.
 *
 * Owns nothing but the small state in struct backoff; the random
 * numbers come from a per-instance xorshift64 generator, so workers
 * seeded differently spread their retries apart and tests can seed it.
 *
 * The one thing to know: the cap is computed without ever forming
 * initial * multiplier^n when that would exceed max, so any attempt
 * count (even UINT_MAX) and any multiplier give a cap in [1, max].
 */
#include "autoconf.h"

#include <stdint.h>

#include "common/backoff.h"

/* Any non-zero constant will do; xorshift must not start at 0. */
#define BACKOFF_RNG_DEFAULT 0x9e3779b97f4a7c15ull

static uint64_t
xorshift64(uint64_t *s)
{
	uint64_t x = *s != 0 ? *s : BACKOFF_RNG_DEFAULT;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

void
backoff_init(struct backoff *b, uint64_t initial_ms, uint64_t max_ms,
    double multiplier, uint64_t seed)
{
	/* splitmix64 finaliser, so that nearby seeds (pids) diverge at once. */
	seed += 0x9e3779b97f4a7c15ull;
	seed = (seed ^ (seed >> 30)) * 0xbf58476d1ce4e5b9ull;
	seed = (seed ^ (seed >> 27)) * 0x94d049bb133111ebull;
	seed ^= seed >> 31;

	b->initial_ms = initial_ms;
	b->max_ms = max_ms;
	b->multiplier = multiplier;
	b->attempt = 0;
	b->rng = seed != 0 ? seed : BACKOFF_RNG_DEFAULT;
}

uint64_t
backoff_cap(uint64_t initial_ms, uint64_t max_ms, double multiplier, unsigned attempt)
{
	double limit, f = 1.0, base = multiplier;

	if (max_ms < 1)
		max_ms = 1;
	if (initial_ms < 1)
		initial_ms = 1;
	if (initial_ms >= max_ms)
		return max_ms;
	/* NaN and factors below 1 would shrink the delay: no growth. */
	if (!(base >= 1.0))
		base = 1.0;
	/* The growth factor at which the cap reaches max (> 1 here). */
	limit = (double)max_ms / (double)initial_ms;
	/* base^attempt by squaring; f and base stay >= 1, so stop early. */
	while (attempt != 0) {
		if (attempt & 1u) {
			f *= base;
			if (!(f < limit))
				return max_ms;
		}
		attempt >>= 1;
		if (attempt != 0) {
			base *= base;
			if (!(base < limit))
				return max_ms;
		}
	}
	f *= (double)initial_ms;
	if (!(f < (double)max_ms))
		return max_ms;
	return f < 1.0 ? 1 : (uint64_t)f;
}

uint64_t
backoff_jitter(uint64_t cap, uint64_t *rng)
{
	uint64_t r = xorshift64(rng);

	if (cap <= 1)
		return 1;
	/* Multiply-high maps r onto [0, cap) without a modulo. */
	return 1 + (uint64_t)(((unsigned __int128)r * cap) >> 64);
}

uint64_t
backoff_next(struct backoff *b)
{
	uint64_t cap = backoff_cap(b->initial_ms, b->max_ms, b->multiplier, b->attempt);

	if (b->attempt + 1 != 0)	/* saturate; the cap is max long before */
		b->attempt++;
	return backoff_jitter(cap, &b->rng);
}

void
backoff_reset(struct backoff *b)
{
	b->attempt = 0;
}
