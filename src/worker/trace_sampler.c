/*
 * trace_sampler: the sampling decision (trace_sampler.h).
 *
 * The one thing to know: ratio 1 must sample every trace id, ratio 0
 * none; the bound is exact at both ends, whatever the rounding between.
 */
#include "autoconf.h"

#include <string.h>

#include "worker/trace_sampler.h"

int
trace_sampler_init(struct trace_sampler *s, const char *name, double ratio)
{
	static const struct {
		const char *name;
		int parent_based;
		enum trace_root root;
	} names[] = {
		{ "parentbased_traceidratio", 1, ROOT_RATIO },
		{ "parentbased_always_on", 1, ROOT_ON },
		{ "parentbased_always_off", 1, ROOT_OFF },
		{ "traceidratio", 0, ROOT_RATIO },
		{ "always_on", 0, ROOT_ON },
		{ "always_off", 0, ROOT_OFF },
	};

	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(name, names[i].name) != 0)
			continue;
		s->parent_based = names[i].parent_based;
		s->root = names[i].root;
		if (s->root == ROOT_RATIO) {
			if (!(ratio > 0.0))
				s->root = ROOT_OFF;
			else if (ratio >= 1.0)
				s->root = ROOT_ON;
			else	/* < 2^64: ratio < 1 */
				s->bound = (uint64_t)(ratio * 18446744073709551616.0);
		}
		return 0;
	}
	return -1;
}

int
trace_sampler_roots(const struct trace_sampler *s)
{
	return s->root != ROOT_OFF;
}

static uint64_t
low64(const uint8_t id[16])
{
	uint64_t v = 0;

	for (int i = 8; i < 16; i++)
		v = v << 8 | id[i];
	return v;
}

int
trace_sampler_sample(const struct trace_sampler *s, const struct traceparent *parent,
    const uint8_t trace_id[16])
{
	if (s->parent_based && parent != NULL)
		return parent->flags & 1;
	switch (s->root) {
	case ROOT_ON:
		return 1;
	case ROOT_RATIO:
		return low64(trace_id) < s->bound;
	default:
		return 0;
	}
}
