/*
 * Unit tests of the backoff: the cap per attempt (growth, clamping,
 * overflow), the jitter range and spread, and the stateful sequence.
 */
#include "autoconf.h"
#include <criterion/criterion.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>

#include "common/backoff.h"

struct cap_case {
	uint64_t initial, max;
	double mult;
	unsigned attempt;
	uint64_t want;
};

static const struct cap_case cap_cases[] = {
	{ 100, 30000, 2.0, 0, 100 },
	{ 100, 30000, 2.0, 1, 200 },
	{ 100, 30000, 2.0, 2, 400 },
	{ 100, 30000, 2.0, 8, 25600 },
	{ 100, 30000, 2.0, 9, 30000 },		/* 51200 clamps */
	{ 100, 30000, 2.0, 10, 30000 },
	{ 100, 30000, 1.5, 3, 337 },		/* 337.5 */
	{ 100, 30000, 1.0, 1000, 100 },		/* no growth */
	{ 100, 30000, 0.5, 3, 100 },		/* shrinking factors count as 1 */
	{ 1, 1, 2.0, 5, 1 },
	{ 0, 30000, 2.0, 0, 1 },		/* floor 1 ms */
	{ 0, 30000, 2.0, 4, 16 },
	{ 0, 0, 2.0, 4, 1 },
	{ 5000, 1000, 2.0, 0, 1000 },		/* initial above max */
	{ 1, 1000000, 10.0, 6, 1000000 },	/* exactly max */
	{ 1, 1000000, 10.0, 5, 100000 },
	/* Overflow: the product would not fit in 64 bits or a double. */
	{ 100, 30000, 2.0, 64, 30000 },
	{ 100, 30000, 2.0, 1000, 30000 },
	{ 100, 30000, 2.0, UINT_MAX, 30000 },
	{ 100, 30000, 1e300, UINT_MAX, 30000 },
	{ 1, UINT64_MAX, 2.0, 63, UINT64_C(1) << 63 },
	{ 1, UINT64_MAX, 2.0, 64, UINT64_MAX },
	{ 1, UINT64_MAX, 2.0, UINT_MAX, UINT64_MAX },
	{ UINT64_MAX, UINT64_MAX, 2.0, UINT_MAX, UINT64_MAX },
	{ 1000, 60000, 1.0000001, UINT_MAX, 60000 },
};

Test(backoff, cap_grows_and_clamps)
{
	for (size_t i = 0; i < sizeof(cap_cases) / sizeof(cap_cases[0]); i++) {
		const struct cap_case *c = &cap_cases[i];
		uint64_t got = backoff_cap(c->initial, c->max, c->mult, c->attempt);

		cr_expect(got == c->want,
		    "cap(initial %" PRIu64 ", max %" PRIu64 ", x%g, attempt %u): got %" PRIu64
		    ", want %" PRIu64, c->initial, c->max, c->mult, c->attempt, got, c->want);
	}
}

Test(backoff, cap_is_monotonic)
{
	uint64_t prev = 0;

	for (unsigned a = 0; a < 200; a++) {
		uint64_t cap = backoff_cap(7, 123456789, 1.7, a);

		cr_expect(cap >= prev, "attempt %u: got %" PRIu64 " after %" PRIu64 ", want no decrease",
		    a, cap, prev);
		cr_expect(cap >= 1 && cap <= 123456789, "attempt %u: got %" PRIu64 ", want 1..123456789",
		    a, cap);
		prev = cap;
	}
	cr_expect(prev == 123456789, "attempt 199: got %" PRIu64 ", want the max", prev);
}

Test(backoff, jitter_within_range_and_spread)
{
	static const uint64_t caps[] = { 1, 2, 3, 10, 1000, UINT64_C(1) << 40, UINT64_MAX };
	uint64_t rng = 12345;

	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		uint64_t lo = UINT64_MAX, hi = 0;

		for (int k = 0; k < 10000; k++) {
			uint64_t j = backoff_jitter(caps[i], &rng);

			if (j < 1 || j > caps[i]) {
				cr_expect(0, "cap %" PRIu64 ": got %" PRIu64 ", want 1..%" PRIu64,
				    caps[i], j, caps[i]);
				break;
			}
			lo = j < lo ? j : lo;
			hi = j > hi ? j : hi;
		}
		if (caps[i] <= 1000) {
			cr_expect(lo == 1 && hi == caps[i],
			    "cap %" PRIu64 ": got range %" PRIu64 "..%" PRIu64 " over 10000 draws, want 1..%" PRIu64,
			    caps[i], lo, hi, caps[i]);
		} else {
			cr_expect(lo < caps[i] / 100 && hi > caps[i] / 100 * 99,
			    "cap %" PRIu64 ": got range %" PRIu64 "..%" PRIu64 ", want it spread over the range",
			    caps[i], lo, hi);
		}
	}
	cr_expect(rng != 0, "rng state: got 0, want never 0");
}

Test(backoff, jitter_is_roughly_uniform)
{
	unsigned hist[10] = { 0 };
	uint64_t rng = 42;
	const int n = 100000;

	for (int k = 0; k < n; k++)
		hist[(backoff_jitter(1000, &rng) - 1) / 100]++;
	for (int b = 0; b < 10; b++)
		cr_expect(hist[b] > n / 10 * 9 / 10 && hist[b] < n / 10 * 11 / 10,
		    "decile %d: got %u of %d draws, want about %d", b, hist[b], n, n / 10);
}

Test(backoff, zero_rng_state_recovers)
{
	uint64_t rng = 0;
	uint64_t a = backoff_jitter(1000000, &rng), b = backoff_jitter(1000000, &rng);

	cr_expect(rng != 0, "rng after a zero state: got 0, want non-zero");
	cr_expect(a != b, "two draws from a zero state: got %" PRIu64 " twice, want different", a);
}

Test(backoff, next_follows_the_caps_and_reset)
{
	struct backoff b;
	uint64_t seen_first = 0;

	backoff_init(&b, 100, 3000, 2.0, 7);
	cr_expect(b.attempt == 0 && b.rng != 0, "after init: got attempt %u rng %" PRIu64
	    ", want 0 and non-zero", b.attempt, b.rng);
	for (unsigned a = 0; a < 20; a++) {
		uint64_t cap = backoff_cap(100, 3000, 2.0, a);
		uint64_t d = backoff_next(&b);

		cr_expect(d >= 1 && d <= cap, "attempt %u: got %" PRIu64 ", want 1..%" PRIu64, a, d, cap);
		cr_expect(b.attempt == a + 1, "attempt count: got %u, want %u", b.attempt, a + 1);
	}
	backoff_reset(&b);
	cr_expect(b.attempt == 0, "after reset: got attempt %u, want 0", b.attempt);
	for (int k = 0; k < 1000; k++) {
		uint64_t d;

		backoff_reset(&b);
		d = backoff_next(&b);
		cr_expect(d >= 1 && d <= 100, "first delay after reset: got %" PRIu64 ", want 1..100", d);
		seen_first |= d > 50;
	}
	cr_expect(seen_first, "first delays: got none above 50 in 1000 resets, want a spread");
}

Test(backoff, distribution_not_constant_and_seeds_differ)
{
	struct backoff a, b;
	int same = 0, distinct_a = 0;
	uint64_t prev = 0;

	backoff_init(&a, 1000, 1000, 2.0, 1);
	backoff_init(&b, 1000, 1000, 2.0, 2);	/* neighbouring seeds (pids) */
	for (int k = 0; k < 1000; k++) {
		uint64_t x = backoff_next(&a), y = backoff_next(&b);

		same += x == y;
		distinct_a += x != prev;
		prev = x;
	}
	cr_expect(same < 20, "seeds 1 and 2: got %d equal delays of 1000, want them to differ", same);
	cr_expect(distinct_a > 900, "seed 1: got %d changes in 1000 delays, want a spread", distinct_a);
}

Test(backoff, attempt_saturates)
{
	struct backoff b;
	uint64_t d;

	backoff_init(&b, 10, 500, 3.0, 99);
	b.attempt = UINT_MAX;
	d = backoff_next(&b);
	cr_expect(b.attempt == UINT_MAX, "attempt after UINT_MAX: got %u, want UINT_MAX", b.attempt);
	cr_expect(d >= 1 && d <= 500, "delay at UINT_MAX: got %" PRIu64 ", want 1..500", d);
}
