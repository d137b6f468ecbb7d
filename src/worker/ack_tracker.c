/*
 * ack_tracker: the settled prefix and a ring of per-tag states.
 *
 * The ring covers tags base+1 .. base+size. It only grows when single
 * acks behind a long-lived hole let the broker send more than the ring
 * holds, which needs a delivery pending for longer than the window takes
 * to pass it by; steady state never allocates. Invariant: ndone +
 * npending = entries in DONE or PENDING.
 */
#include "autoconf.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "worker/ack_tracker.h"

#define ENTRY(t, tag) (&(t)->ring[(tag) & (t)->mask])

static size_t
round_pow2(size_t n)
{
	size_t p = 16;

	while (p < n)
		p <<= 1;
	return p;
}

int
ack_tracker_init(struct ack_tracker *t, size_t capacity, uint64_t hole_delay_ms)
{
	size_t size = round_pow2(capacity * 2);

	memset(t, 0, sizeof(*t));
	t->ring = calloc(size, sizeof(*t->ring));
	if (t->ring == NULL)
		return -1;
	t->mask = size - 1;
	t->hole_delay_ms = hole_delay_ms;
	/*
	 * Single acks cost a frame each, so they wait hole_delay_ms for a
	 * prefix to take them; only a window nearly full of stuck
	 * completions (the broker is about to stop delivering) makes them
	 * go at once.
	 */
	t->hole_max = capacity - capacity / 8 > 0 ? capacity - capacity / 8 : 1;
	return 0;
}

void
ack_tracker_free(struct ack_tracker *t)
{
	free(t->ring);
	t->ring = NULL;
}

void
ack_tracker_reset(struct ack_tracker *t, uint64_t generation,
    void (*drop)(void *arg, uint32_t slot, enum ack_entry_state state), void *arg)
{
	for (uint64_t tag = t->base + 1; tag <= t->newest; tag++) {
		struct ack_entry *e = ENTRY(t, tag);

		if ((e->state == ACK_PENDING || e->state == ACK_DONE) && drop != NULL)
			drop(arg, e->slot, (enum ack_entry_state)e->state);
		e->state = ACK_EMPTY;
	}
	t->base = 0;
	t->newest = 0;
	t->ndone = 0;
	t->npending = 0;
	t->generation = generation;
}

/* Doubles the ring, keeping every live tag at its new index. */
static int
grow(struct ack_tracker *t, uint64_t need)
{
	size_t size = (size_t)t->mask + 1;
	struct ack_entry *ring;
	uint64_t newmask;

	while (size < need)
		size <<= 1;
	ring = calloc(size, sizeof(*ring));
	if (ring == NULL)
		return -1;
	newmask = size - 1;
	for (uint64_t tag = t->base + 1; tag <= t->newest; tag++)
		ring[tag & newmask] = *ENTRY(t, tag);
	free(t->ring);
	t->ring = ring;
	t->mask = newmask;
	return 0;
}

int
ack_tracker_add(struct ack_tracker *t, uint64_t tag, uint32_t slot)
{
	struct ack_entry *e;

	if (tag <= t->base || (tag <= t->newest && ENTRY(t, tag)->state != ACK_EMPTY))
		return -1;
	if (tag - t->base > t->mask + 1 && grow(t, tag - t->base) < 0)
		return -1;
	e = ENTRY(t, tag);
	e->state = ACK_PENDING;
	e->slot = slot;
	t->npending++;
	if (tag > t->newest)
		t->newest = tag;
	return 0;
}

int
ack_tracker_complete(struct ack_tracker *t, uint64_t generation, uint64_t tag, uint64_t now_ms)
{
	struct ack_entry *e;

	if (generation != t->generation || tag <= t->base || tag > t->newest)
		return -1;
	e = ENTRY(t, tag);
	if (e->state != ACK_PENDING)
		return -1;
	e->state = ACK_DONE;
	e->done_ms = now_ms;
	t->npending--;
	if (t->ndone++ == 0)
		t->oldest_done_ms = now_ms;
	return 0;
}

/*
 * Single-acks the completions behind the hole that have waited
 * hole_delay_ms (all of them with `all`), and finds when the oldest of
 * the rest completed.
 */
static size_t
ack_stuck(struct ack_tracker *t, uint64_t now_ms, int all, const struct ack_ops *ops, void *arg)
{
	uint64_t oldest_wait = 0;
	size_t sent = 0, left = t->ndone;

	for (uint64_t tag = t->base + 1; tag <= t->newest && left > 0; tag++) {
		struct ack_entry *e = ENTRY(t, tag);
		uint64_t waited;

		if (e->state != ACK_DONE)
			continue;
		left--;
		waited = now_ms > e->done_ms ? now_ms - e->done_ms : 0;
		if (!all && waited < t->hole_delay_ms) {
			if (waited > oldest_wait)
				oldest_wait = waited;
			continue;
		}
		ops->ack(arg, tag, 0);
		t->frames_single++;
		sent++;
		e->state = ACK_ACKED;
		t->ndone--;
		ops->settled(arg, e->slot);
	}
	t->oldest_done_ms = now_ms - oldest_wait;
	return sent;
}

size_t
ack_tracker_flush(struct ack_tracker *t, uint64_t now_ms, const struct ack_ops *ops, void *arg)
{
	uint64_t tag, last_done = 0;
	size_t sent = 0;

	/* The contiguous settled prefix: one multiple=true ack. */
	for (tag = t->base + 1; tag <= t->newest; tag++) {
		struct ack_entry *e = ENTRY(t, tag);

		if (e->state == ACK_DONE)
			last_done = tag;
		else if (e->state != ACK_ACKED)
			break;
	}
	if (tag - 1 > t->base) {
		uint64_t end = tag - 1;

		if (last_done != 0) {
			ops->ack(arg, last_done, 1);
			t->frames_multiple++;
			sent++;
		}
		for (tag = t->base + 1; tag <= end; tag++) {
			struct ack_entry *e = ENTRY(t, tag);

			if (e->state == ACK_DONE) {
				t->ndone--;
				ops->settled(arg, e->slot);
			}
			e->state = ACK_EMPTY;
		}
		t->base = end;
	}

	/*
	 * Completions behind a hole: each is acked singly once it has
	 * waited hole_delay_ms, the same bound whether the hole stays put
	 * or moves on with the stream (a frame each, so most go with a
	 * prefix first); all at once when they fill most of the window.
	 */
	if (t->ndone >= t->hole_max)
		sent += ack_stuck(t, now_ms, 1, ops, arg);
	else if (t->ndone > 0 && now_ms >= t->oldest_done_ms + t->hole_delay_ms)
		sent += ack_stuck(t, now_ms, 0, ops, arg);
	return sent;
}

int
ack_tracker_pending_slot(const struct ack_tracker *t, uint64_t generation, uint64_t tag,
    uint32_t *slot)
{
	const struct ack_entry *e;

	if (generation != t->generation || tag <= t->base || tag > t->newest)
		return -1;
	e = ENTRY(t, tag);
	if (e->state != ACK_PENDING)
		return -1;
	*slot = e->slot;
	return 0;
}
