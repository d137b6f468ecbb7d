/*
 * trace_ids: trace and span ids for the spans a worker starts, from a
 * per-worker generator seeded from getrandom(2). Ids only need to be
 * unique, not secret; the trace id's low 8 bytes also drive the ratio
 * sampler, so they must be uniform.
 */
#ifndef ER_TRACE_IDS_H
#define ER_TRACE_IDS_H

#include <stdint.h>

struct trace_rng {
	uint64_t s[2];		/* xorshift128+ state, never all zero */
};

/* Seeds from getrandom(2) (the clock and pid if it fails). */
void trace_rng_init(struct trace_rng *r);
/* Seeds from `seed` (tests: a reproducible sequence). */
void trace_rng_seed(struct trace_rng *r, uint64_t seed);

/* A new id, never all zero (an all-zero id is invalid in W3C Trace Context). */
void trace_new_trace_id(struct trace_rng *r, uint8_t id[16]);
void trace_new_span_id(struct trace_rng *r, uint8_t id[8]);

#endif
