/*
 * breaker: the circuit breaker a worker keeps around Kafka.
 *
 *   CLOSED --threshold consecutive failures, or a trip--> OPEN
 *   OPEN --probe interval elapsed, a broker is up--> HALF_OPEN
 *   OPEN --probe interval elapsed, no broker up--> OPEN (longer interval)
 *   HALF_OPEN --a success--> CLOSED;  --a failure or a trip--> OPEN
 *   OPEN --a success (a held record got through)--> CLOSED
 *
 * While open the worker takes no new deliveries; what it holds stays
 * unacked and keeps being produced. The probe interval is exponential
 * backoff with full jitter. Pure state: the caller acts on transitions.
 */
#ifndef ER_BREAKER_H
#define ER_BREAKER_H

#include <stdint.h>

#include "common/backoff.h"

enum breaker_state { BREAKER_CLOSED, BREAKER_OPEN, BREAKER_HALF_OPEN };

struct breaker {
	enum breaker_state state;
	unsigned failures;	/* consecutive, counted while closed */
	unsigned threshold;
	uint64_t probe_ms;	/* open: when to probe */
	struct backoff backoff;	/* probe intervals */
};

void breaker_init(struct breaker *b, unsigned threshold, uint64_t open_ms,
    uint64_t open_max_ms, double multiplier, uint64_t seed);

/* Each returns 1 if the state changed. */
int breaker_success(struct breaker *b);
int breaker_failure(struct breaker *b, uint64_t now_ms);
/* Opens at once (all brokers down, a stalled producer). */
int breaker_trip(struct breaker *b, uint64_t now_ms);
/*
 * Open and the interval elapsed: to HALF_OPEN if `kafka_up`, else
 * another, longer interval. 1 if the state changed.
 */
int breaker_probe(struct breaker *b, uint64_t now_ms, int kafka_up);

/* When breaker_probe() has something to do (UINT64_MAX: never). */
uint64_t breaker_next_due(const struct breaker *b);

const char *breaker_state_name(enum breaker_state s);

#endif
