/*
 * trace_ids: id generation (trace_ids.h). xorshift128+ seeded through
 * splitmix64: a few nanoseconds an id, no system call per message.
 */
#include "autoconf.h"

#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "worker/trace_ids.h"

static uint64_t
splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

void
trace_rng_seed(struct trace_rng *r, uint64_t seed)
{
	r->s[0] = splitmix64(&seed);
	r->s[1] = splitmix64(&seed);
	if (r->s[0] == 0 && r->s[1] == 0)
		r->s[1] = 1;
}

void
trace_rng_init(struct trace_rng *r)
{
	uint64_t seed;

	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed)) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		seed = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
		seed ^= (uint64_t)getpid() << 32;
	}
	trace_rng_seed(r, seed);
}

static uint64_t
next(struct trace_rng *r)
{
	uint64_t a = r->s[0];
	const uint64_t b = r->s[1];

	r->s[0] = b;
	a ^= a << 23;
	r->s[1] = a ^ b ^ (a >> 17) ^ (b >> 26);
	return r->s[1] + b;
}

static void
put64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

void
trace_new_trace_id(struct trace_rng *r, uint8_t id[16])
{
	uint64_t hi, lo;

	do {
		hi = next(r);
		lo = next(r);
	} while (hi == 0 && lo == 0);
	put64(id, hi);
	put64(id + 8, lo);
}

void
trace_new_span_id(struct trace_rng *r, uint8_t id[8])
{
	uint64_t v;

	while ((v = next(r)) == 0)
		;
	put64(id, v);
}
