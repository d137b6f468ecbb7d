/*
 * Unit tests of the ack tracker: contiguous prefixes, holes, single acks
 * for completions that waited too long behind a hole, the multiple-ack tag rule, stale generations and
 * ring growth. Acks are recorded by fake callbacks.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "worker/ack_tracker.h"

struct rec {
	uint64_t tag[4096];
	int multiple[4096];
	size_t nack;
	uint32_t settled[4096];
	size_t nsettled;
	uint32_t dropped[4096];
	int dropped_state[4096];
	size_t ndropped;
};

static void
rec_ack(void *arg, uint64_t tag, int multiple)
{
	struct rec *r = arg;

	r->tag[r->nack] = tag;
	r->multiple[r->nack++] = multiple;
}

static void
rec_settled(void *arg, uint32_t slot)
{
	struct rec *r = arg;

	r->settled[r->nsettled++] = slot;
}

static void
rec_drop(void *arg, uint32_t slot, enum ack_entry_state st)
{
	struct rec *r = arg;

	r->dropped[r->ndropped] = slot;
	r->dropped_state[r->ndropped++] = (int)st;
}

static const struct ack_ops ops = { rec_ack, rec_settled };

static struct ack_tracker t;
static struct rec r;

static void
setup(void)
{
	memset(&r, 0, sizeof(r));
	cr_assert_eq(ack_tracker_init(&t, 8, 100), 0);
	ack_tracker_reset(&t, 1, NULL, NULL);
}

static void
teardown(void)
{
	ack_tracker_free(&t);
}

static void
add_range(uint64_t from, uint64_t to)
{
	for (uint64_t tag = from; tag <= to; tag++)
		cr_assert_eq(ack_tracker_add(&t, tag, (uint32_t)(tag * 10)), 0, "add %lu", (unsigned long)tag);
}

TestSuite(ack_tracker, .init = setup, .fini = teardown);

Test(ack_tracker, contiguous_prefix_is_one_multiple_ack)
{
	add_range(1, 5);
	for (uint64_t tag = 1; tag <= 5; tag++)
		cr_assert_eq(ack_tracker_complete(&t, 1, tag, 0), 0);
	cr_assert_eq(ack_tracker_flush(&t, 0, &ops, &r), 1);
	cr_assert_eq(r.nack, 1, "got %zu acks, want 1", r.nack);
	cr_assert_eq(r.tag[0], 5, "got tag %lu, want 5", (unsigned long)r.tag[0]);
	cr_assert_eq(r.multiple[0], 1);
	cr_assert_eq(r.nsettled, 5);
	cr_assert_eq(ack_tracker_outstanding(&t), 0);
}

Test(ack_tracker, hole_holds_back_the_prefix)
{
	add_range(1, 5);
	ack_tracker_complete(&t, 1, 1, 1000);
	ack_tracker_complete(&t, 1, 2, 1000);
	ack_tracker_complete(&t, 1, 4, 1000);
	ack_tracker_complete(&t, 1, 5, 1000);
	ack_tracker_flush(&t, 1000, &ops, &r);
	cr_assert_eq(r.nack, 1);
	cr_assert_eq(r.tag[0], 2, "got tag %lu, want 2 (3 is a hole)", (unsigned long)r.tag[0]);
	cr_assert_eq(r.nsettled, 2);
	/* The hole fills: one ack covers 3..5. */
	ack_tracker_complete(&t, 1, 3, 1001);
	ack_tracker_flush(&t, 1001, &ops, &r);
	cr_assert_eq(r.nack, 2);
	cr_assert_eq(r.tag[1], 5);
	cr_assert_eq(r.multiple[1], 1);
	cr_assert_eq(r.nsettled, 5);
}

Test(ack_tracker, old_hole_gets_single_acks_behind_it)
{
	add_range(1, 4);
	ack_tracker_complete(&t, 1, 2, 1000);
	ack_tracker_complete(&t, 1, 4, 1000);
	ack_tracker_flush(&t, 1000, &ops, &r);
	cr_assert_eq(r.nack, 0, "a young hole must not trigger single acks");
	ack_tracker_flush(&t, 1099, &ops, &r);
	cr_assert_eq(r.nack, 0);
	ack_tracker_flush(&t, 1100, &ops, &r);
	cr_assert_eq(r.nack, 2, "got %zu acks, want 2 single acks", r.nack);
	cr_assert_eq(r.tag[0], 2);
	cr_assert_eq(r.multiple[0], 0);
	cr_assert_eq(r.tag[1], 4);
	cr_assert_eq(r.multiple[1], 0);
	cr_assert_eq(r.nsettled, 2);
	/* 1 and 3 complete: the multiple ack must name 3, not the acked 4. */
	ack_tracker_complete(&t, 1, 1, 1200);
	ack_tracker_complete(&t, 1, 3, 1200);
	ack_tracker_flush(&t, 1200, &ops, &r);
	cr_assert_eq(r.nack, 3);
	cr_assert_eq(r.tag[2], 3, "got tag %lu, want 3", (unsigned long)r.tag[2]);
	cr_assert_eq(r.multiple[2], 1);
	cr_assert_eq(ack_tracker_outstanding(&t), 0);
}

Test(ack_tracker, steady_stream_goes_in_cumulative_acks)
{
	/*
	 * A steady stream: there is always a completion behind the oldest
	 * pending delivery, but each hole fills within 10 ms, before any
	 * completion has waited the 100 ms: cumulative acks only.
	 */
	add_range(1, 2);
	ack_tracker_complete(&t, 1, 2, 1000);
	ack_tracker_flush(&t, 1000, &ops, &r);	/* 2 waits behind 1 */
	for (uint64_t k = 1; k < 30; k++) {
		uint64_t now = 1000 + k * 10;

		add_range(2 * k + 1, 2 * k + 2);
		ack_tracker_complete(&t, 1, 2 * k - 1, now);	/* the hole fills... */
		ack_tracker_complete(&t, 1, 2 * k + 2, now);	/* ...a new one opens */
		ack_tracker_flush(&t, now, &ops, &r);
		cr_assert_eq(r.nack, k, "at %lu ms: got %zu acks, want %lu", (unsigned long)now,
		    r.nack, (unsigned long)k);
		cr_assert_eq(r.tag[k - 1], 2 * k);
		cr_assert_eq(r.multiple[k - 1], 1);
		cr_assert_leq(ack_tracker_next_due(&t), now + 100);
	}
	cr_assert_eq(t.frames_multiple, 29);
	cr_assert_eq(t.frames_single, 0);
	/* The hole at 59 stays put: 100 ms after it completed, 60 is acked singly. */
	ack_tracker_flush(&t, 1290 + 99, &ops, &r);
	cr_assert_eq(r.nack, 29);
	cr_assert_eq(ack_tracker_next_due(&t), 1290 + 100, "the early flush finds the oldest wait");
	ack_tracker_flush(&t, 1290 + 100, &ops, &r);
	cr_assert_eq(r.nack, 30);
	cr_assert_eq(r.tag[29], 60);
	cr_assert_eq(r.multiple[29], 0);
	cr_assert_eq(t.frames_single, 1);
	cr_assert_eq(ack_tracker_next_due(&t), UINT64_MAX);
}

Test(ack_tracker, moving_hole_still_bounds_each_wait)
{
	/*
	 * 3 completes behind 1 and 2. 1 completes 50 ms later: the prefix
	 * moves, but 3 still waits behind 2, and is acked singly 100 ms
	 * after it completed, not 100 ms after the hole moved.
	 */
	add_range(1, 4);
	ack_tracker_complete(&t, 1, 3, 1000);
	ack_tracker_flush(&t, 1000, &ops, &r);
	cr_assert_eq(r.nack, 0);
	ack_tracker_complete(&t, 1, 1, 1050);
	ack_tracker_flush(&t, 1050, &ops, &r);
	cr_assert_eq(r.nack, 1);
	cr_assert_eq(r.tag[0], 1);
	cr_assert_eq(r.multiple[0], 1);
	ack_tracker_flush(&t, 1099, &ops, &r);
	cr_assert_eq(r.nack, 1, "3 has waited 99 ms");
	ack_tracker_flush(&t, 1100, &ops, &r);
	cr_assert_eq(r.nack, 2, "got %zu acks, want 3 acked singly at 100 ms", r.nack);
	cr_assert_eq(r.tag[1], 3);
	cr_assert_eq(r.multiple[1], 0);
	cr_assert_eq(r.nsettled, 2);
	cr_assert_eq(ack_tracker_outstanding(&t), 2);
}

Test(ack_tracker, prefix_of_only_single_acked_entries_sends_nothing)
{
	add_range(1, 3);
	ack_tracker_complete(&t, 1, 2, 0);
	ack_tracker_complete(&t, 1, 3, 0);
	ack_tracker_flush(&t, 0, &ops, &r);
	ack_tracker_flush(&t, 500, &ops, &r);	/* singles for 2 and 3 */
	cr_assert_eq(r.nack, 2);
	ack_tracker_complete(&t, 1, 1, 600);
	ack_tracker_flush(&t, 600, &ops, &r);
	cr_assert_eq(r.nack, 3);
	cr_assert_eq(r.tag[2], 1, "got %lu, want 1: 2 and 3 are acked already", (unsigned long)r.tag[2]);
	cr_assert_eq(t.base, 3);
}

Test(ack_tracker, many_stuck_completions_ack_without_waiting)
{
	/* hole_max is 7/8 of the capacity, 7 */
	add_range(1, 9);
	for (uint64_t tag = 2; tag <= 7; tag++)
		ack_tracker_complete(&t, 1, tag, 0);
	ack_tracker_flush(&t, 0, &ops, &r);
	cr_assert_eq(r.nack, 0, "got %zu acks for 6 stuck completions, want 0", r.nack);
	ack_tracker_complete(&t, 1, 8, 1);
	ack_tracker_flush(&t, 1, &ops, &r);
	cr_assert_eq(r.nack, 7, "got %zu, want 7 single acks", r.nack);
}

Test(ack_tracker, stale_generation_is_refused)
{
	add_range(1, 3);
	cr_assert_eq(ack_tracker_complete(&t, 1, 1, 0), 0);
	ack_tracker_reset(&t, 2, rec_drop, &r);
	cr_assert_eq(r.ndropped, 3);
	cr_assert_eq(r.dropped_state[0], ACK_DONE);
	cr_assert_eq(r.dropped_state[1], ACK_PENDING);
	cr_assert_eq(ack_tracker_complete(&t, 1, 2, 0), -1, "an old generation's tag must never be acked");
	cr_assert_eq(ack_tracker_flush(&t, 0, &ops, &r), 0);
	/* The new generation starts again at tag 1. */
	cr_assert_eq(ack_tracker_add(&t, 1, 7), 0);
	cr_assert_eq(ack_tracker_complete(&t, 2, 1, 0), 0);
	ack_tracker_flush(&t, 0, &ops, &r);
	cr_assert_eq(r.nack, 1);
	cr_assert_eq(r.settled[0], 7);
}

Test(ack_tracker, bad_input_is_refused)
{
	add_range(1, 2);
	cr_assert_eq(ack_tracker_add(&t, 2, 0), -1, "duplicate tag");
	cr_assert_eq(ack_tracker_complete(&t, 1, 9, 0), -1, "unknown tag");
	cr_assert_eq(ack_tracker_complete(&t, 1, 1, 0), 0);
	cr_assert_eq(ack_tracker_complete(&t, 1, 1, 0), -1, "completed twice");
	ack_tracker_flush(&t, 0, &ops, &r);
	cr_assert_eq(ack_tracker_add(&t, 1, 0), -1, "tag at or below base");
}

Test(ack_tracker, ring_grows_past_its_capacity)
{
	/* A hole at 1 while 1000 deliveries arrive behind it. */
	add_range(1, 1000);
	for (uint64_t tag = 2; tag <= 1000; tag++)
		ack_tracker_complete(&t, 1, tag, 0);
	ack_tracker_complete(&t, 1, 1, 0);
	ack_tracker_flush(&t, 0, &ops, &r);
	cr_assert_eq(t.base, 1000);
	cr_assert_eq(r.nsettled, 1000);
	cr_assert_eq(r.tag[r.nack - 1], 1000);
	for (size_t i = 0; i < r.nsettled; i++)
		cr_assert_eq(r.settled[i], (uint32_t)((i + 1) * 10), "slot of tag %zu", i + 1);
}
