/*
 * Unit tests of the Kafka circuit breaker: every transition of the
 * picture in breaker.h, the failure count reset by a success, and the
 * probe intervals (full jitter within the backoff cap, growing, reset
 * when the breaker closes).
 */
#include "autoconf.h"
#include <criterion/criterion.h>
#include <stdint.h>

#include "worker/breaker.h"

static struct breaker b;

static void
setup(void)
{
	/* threshold 3, probe intervals 100 ms doubling up to 1 s */
	breaker_init(&b, 3, 100, 1000, 2.0, 42);
}

TestSuite(breaker, .init = setup);

Test(breaker, starts_closed)
{
	cr_assert_eq(b.state, BREAKER_CLOSED);
	cr_assert_eq(breaker_next_due(&b), UINT64_MAX);
	cr_assert_eq(breaker_probe(&b, 1000000, 1), 0, "a closed breaker never probes");
}

Test(breaker, opens_after_threshold_consecutive_failures)
{
	cr_assert_eq(breaker_failure(&b, 1000), 0);
	cr_assert_eq(breaker_failure(&b, 1000), 0);
	cr_assert_eq(b.state, BREAKER_CLOSED);
	cr_assert_eq(breaker_failure(&b, 1000), 1);
	cr_assert_eq(b.state, BREAKER_OPEN);
	cr_assert(breaker_next_due(&b) > 1000 && breaker_next_due(&b) <= 1100,
	    "first probe within the first interval, got %llu",
	    (unsigned long long)breaker_next_due(&b));
}

Test(breaker, success_resets_the_failure_count)
{
	breaker_failure(&b, 0);
	breaker_failure(&b, 0);
	cr_assert_eq(breaker_success(&b), 0, "closed stays closed");
	breaker_failure(&b, 0);
	breaker_failure(&b, 0);
	cr_assert_eq(b.state, BREAKER_CLOSED, "the count started again");
	breaker_failure(&b, 0);
	cr_assert_eq(b.state, BREAKER_OPEN);
}

Test(breaker, trip_opens_at_once_and_only_once)
{
	cr_assert_eq(breaker_trip(&b, 500), 1);
	cr_assert_eq(b.state, BREAKER_OPEN);
	cr_assert_eq(breaker_trip(&b, 520), 0, "already open");
	cr_assert_eq(breaker_failure(&b, 530), 0, "failures of held records while open change nothing");
	cr_assert_eq(b.state, BREAKER_OPEN);
}

Test(breaker, probe_waits_for_its_time)
{
	uint64_t due;

	breaker_trip(&b, 0);
	due = breaker_next_due(&b);
	cr_assert_eq(breaker_probe(&b, due - 1, 1), 0);
	cr_assert_eq(b.state, BREAKER_OPEN);
	cr_assert_eq(breaker_probe(&b, due, 1), 1);
	cr_assert_eq(b.state, BREAKER_HALF_OPEN);
	cr_assert_eq(breaker_next_due(&b), UINT64_MAX);
}

Test(breaker, failed_probe_stays_open_with_growing_intervals)
{
	uint64_t now = 0, worst = 0;

	breaker_trip(&b, now);
	for (int i = 0; i < 20; i++) {
		uint64_t due = breaker_next_due(&b);

		cr_assert(due > now, "the next probe is in the future");
		if (due - now > worst)
			worst = due - now;
		now = due;
		cr_assert_eq(breaker_probe(&b, now, 0), 0, "no broker up: no transition");
		cr_assert_eq(b.state, BREAKER_OPEN);
	}
	cr_assert(worst > 100, "intervals grew past the first cap (worst %llu)",
	    (unsigned long long)worst);
	cr_assert(worst <= 1000, "intervals never exceed the maximum (worst %llu)",
	    (unsigned long long)worst);
}

Test(breaker, half_open_success_closes)
{
	breaker_trip(&b, 0);
	breaker_probe(&b, breaker_next_due(&b), 1);
	cr_assert_eq(breaker_success(&b), 1);
	cr_assert_eq(b.state, BREAKER_CLOSED);
	cr_assert_eq(b.failures, 0);
}

Test(breaker, half_open_failure_reopens_at_once)
{
	breaker_trip(&b, 0);
	breaker_probe(&b, breaker_next_due(&b), 1);
	cr_assert_eq(breaker_failure(&b, 5000), 1, "one failure is enough when half-open");
	cr_assert_eq(b.state, BREAKER_OPEN);
	cr_assert(breaker_next_due(&b) > 5000);
}

Test(breaker, half_open_trip_reopens)
{
	breaker_trip(&b, 0);
	breaker_probe(&b, breaker_next_due(&b), 1);
	cr_assert_eq(breaker_trip(&b, 7000), 1);
	cr_assert_eq(b.state, BREAKER_OPEN);
}

Test(breaker, success_while_open_closes)
{
	breaker_trip(&b, 0);
	cr_assert_eq(breaker_success(&b), 1, "a held record got through: Kafka works");
	cr_assert_eq(b.state, BREAKER_CLOSED);
}

Test(breaker, closing_resets_the_intervals)
{
	uint64_t now = 0;

	breaker_trip(&b, now);
	for (int i = 0; i < 10; i++) {
		now = breaker_next_due(&b);
		breaker_probe(&b, now, 0);
	}
	breaker_success(&b);
	breaker_trip(&b, now);
	cr_assert(breaker_next_due(&b) - now <= 100,
	    "after closing, the first interval is the initial one again");
}

Test(breaker, zero_threshold_counts_as_one)
{
	breaker_init(&b, 0, 100, 1000, 2.0, 1);
	cr_assert_eq(breaker_failure(&b, 0), 1);
	cr_assert_eq(b.state, BREAKER_OPEN);
}

Test(breaker, state_names)
{
	cr_assert_str_eq(breaker_state_name(BREAKER_CLOSED), "closed");
	cr_assert_str_eq(breaker_state_name(BREAKER_OPEN), "open");
	cr_assert_str_eq(breaker_state_name(BREAKER_HALF_OPEN), "half-open");
}
