/*
 * ack_tracker: turns per-delivery completions into as few basic.ack
 * frames as possible for one channel generation.
 *
 * Delivery tags of one channel count up from 1. The tracker keeps the
 * state of every tag above `base` (all tags <= base are settled). A
 * flush acks the longest contiguous completed prefix with one
 * multiple=true ack, and single-acks a completion stuck behind a hole
 * once it has waited hole_delay_ms there (or when stuck completions
 * fill most of the window), so a slow message delays neither the acks
 * of those behind it by more than that nor pins the prefetch window.
 * The tag acked with multiple=true is always one not yet acked, as the
 * broker requires.
 */
#ifndef ER_ACK_TRACKER_H
#define ER_ACK_TRACKER_H

#include <stddef.h>
#include <stdint.h>

enum ack_entry_state {
	ACK_EMPTY = 0,		/* not delivered (or beyond the newest tag) */
	ACK_PENDING,		/* delivered, not complete */
	ACK_DONE,		/* complete, not acked yet */
	ACK_ACKED,		/* acked singly, behind a hole */
};

struct ack_entry {
	uint8_t state;
	uint32_t slot;
	uint64_t done_ms;	/* when it completed (ACK_DONE) */
};

struct ack_tracker {
	struct ack_entry *ring;
	uint64_t mask;		/* ring size - 1 (power of two) */
	uint64_t base;		/* every tag <= base is settled */
	uint64_t newest;	/* highest tag added */
	uint64_t generation;	/* channel generation the tags belong to */
	size_t ndone;		/* entries in ACK_DONE */
	size_t npending;	/* entries in ACK_PENDING */
	uint64_t oldest_done_ms;	/* no DONE entry completed before this (when ndone > 0) */
	uint64_t hole_delay_ms;	/* single-ack a completion that waited this long */
	size_t hole_max;	/* ... or all of them when this many wait */
	uint64_t frames_multiple;	/* acks sent with multiple=true */
	uint64_t frames_single;	/* acks sent singly */
};

/* Callbacks of a flush: send one ack; a delivery's slot is settled. */
struct ack_ops {
	void (*ack)(void *arg, uint64_t tag, int multiple);
	void (*settled)(void *arg, uint32_t slot);
};

/* 0 or -1 (ENOMEM). `capacity` is a hint (the prefetch); the ring grows. */
int ack_tracker_init(struct ack_tracker *t, size_t capacity, uint64_t hole_delay_ms);
void ack_tracker_free(struct ack_tracker *t);

/*
 * Starts a new channel generation: tags restart at 1. For each entry of
 * the old generation that is not acked, calls drop(arg, slot, state).
 */
void ack_tracker_reset(struct ack_tracker *t, uint64_t generation,
    void (*drop)(void *arg, uint32_t slot, enum ack_entry_state state), void *arg);

/* A delivery arrived. 0, or -1 if the tag is not above base (a bug) or ENOMEM. */
int ack_tracker_add(struct ack_tracker *t, uint64_t tag, uint32_t slot);

/*
 * The delivery `tag` of `generation` is complete (Kafka has it, it is a
 * duplicate, or it was dead-lettered) at `now_ms`. Returns 0, or -1 if
 * the generation is stale or the tag unknown: then it must not be acked.
 */
int ack_tracker_complete(struct ack_tracker *t, uint64_t generation, uint64_t tag,
    uint64_t now_ms);

/* Sends the acks that are due at `now_ms`; returns the acks sent. */
size_t ack_tracker_flush(struct ack_tracker *t, uint64_t now_ms,
    const struct ack_ops *ops, void *arg);

/*
 * When a flush must run for stuck completions (UINT64_MAX: none). It
 * may come early (the oldest completion went with the prefix): that
 * flush finds the next one.
 */
static inline uint64_t
ack_tracker_next_due(const struct ack_tracker *t)
{
	return t->ndone > 0 ? t->oldest_done_ms + t->hole_delay_ms : UINT64_MAX;
}

/* The slot of a pending (not yet complete) delivery; 0, or -1 if none. */
int ack_tracker_pending_slot(const struct ack_tracker *t, uint64_t generation, uint64_t tag,
    uint32_t *slot);

/* Deliveries added and not yet acked. */
static inline size_t
ack_tracker_outstanding(const struct ack_tracker *t)
{
	return t->ndone + t->npending;
}

#endif
