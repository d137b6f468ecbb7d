/*
 * trace_sampler: which messages get spans (tracing.sampler and
 * tracing.sample_ratio, the OpenTelemetry samplers of the same names).
 * The ratio decision reads the trace id's low 8 bytes, so every service
 * that samples by ratio decides the same for one trace.
 */
#ifndef ER_TRACE_SAMPLER_H
#define ER_TRACE_SAMPLER_H

#include <stdint.h>

#include "worker/trace_context.h"

enum trace_root {
	ROOT_OFF,		/* always_off */
	ROOT_ON,		/* always_on */
	ROOT_RATIO,		/* traceidratio */
};

struct trace_sampler {
	int parent_based;	/* a valid incoming traceparent decides */
	enum trace_root root;	/* otherwise (or always) this */
	uint64_t bound;		/* ROOT_RATIO: sampled if low 8 bytes < bound */
};

/* From a sampler name and ratio (0..1); 0, or -1 for an unknown name. */
int trace_sampler_init(struct trace_sampler *s, const char *name, double ratio);

/*
 * Whether a message without a usable parent may be sampled at all: when
 * not, no trace id need be made for it (no work for an unsampled one).
 */
int trace_sampler_roots(const struct trace_sampler *s);

/*
 * The decision for a message: `parent` (NULL: none or invalid) and the
 * trace id its spans would have (the parent's, or a new one).
 */
int trace_sampler_sample(const struct trace_sampler *s, const struct traceparent *parent,
    const uint8_t trace_id[16]);

#endif
