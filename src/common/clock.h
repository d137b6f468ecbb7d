/*
 * clock: CLOCK_MONOTONIC, the one clock of every timer, deadline and
 * latency in the daemon.
 */
#ifndef ER_CLOCK_H
#define ER_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static inline uint64_t
mono_ms(void)
{
	return mono_us() / 1000;
}

#endif
