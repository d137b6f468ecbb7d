/*
 * ack_tracker: the settled prefix and a ring of per-tag states.
 *
 * The ring covers tags base+1 .. base+size. It only grows when single
 * acks behind a long-lived hole let the broker send more than the ring
 * holds, which needs a hole older than hole_delay_ms; steady state never
 * allocates. Invariant: ndone + npending = entries in DONE or PENDING.
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
	 * Single acks cost a frame each, so they wait for the hole to age;
	 * only a window nearly full of stuck completions (the broker is
	 * about to stop delivering) makes them go at once.
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
	t->stuck = 0;
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
ack_tracker_complete(struct ack_tracker *t, uint64_t generation, uint64_t tag)
{
	struct ack_entry *e;

	if (generation != t->generation || tag <= t->base || tag > t->newest)
		return -1;
	e = ENTRY(t, tag);
	if (e->state != ACK_PENDING)
		return -1;
	e->state = ACK_DONE;
	t->npending--;
	t->ndone++;
	return 0;
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
		/*
		 * The hole that held them is filled: whatever waits now
		 * waits behind a newer one. Without this, a steady stream
		 * (always some completion behind the oldest pending
		 * delivery) single-acked everything every hole_delay_ms.
		 */
		t->stuck = 0;
	}

	/* Completions behind a hole: single acks once the hole is old. */
	if (t->ndone == 0) {
		t->stuck = 0;
		return sent;
	}
	if (!t->stuck) {
		t->stuck = 1;
		t->stuck_since_ms = now_ms;
	}
	if (now_ms - t->stuck_since_ms < t->hole_delay_ms && t->ndone < t->hole_max)
		return sent;
	for (tag = t->base + 1; tag <= t->newest && t->ndone > 0; tag++) {
		struct ack_entry *e = ENTRY(t, tag);

		if (e->state != ACK_DONE)
			continue;
		ops->ack(arg, tag, 0);
		sent++;
		e->state = ACK_ACKED;
		t->ndone--;
		ops->settled(arg, e->slot);
	}
	t->stuck = 0;
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
