/*
 * slot: one delivery in flight in a worker, from basic.deliver to its
 * ack. Slots live in an array sized by the prefetch and are reused, so
 * the hot path allocates nothing: the body buffer grows to the largest
 * body seen and shrinks only after an unusually large one.
 *
 * A slot is freed only when nothing refers to it any more: the Kafka
 * value points into `body` until the delivery report arrives, so a slot
 * whose channel was lost (stale) lives on until its report comes.
 */
#ifndef ER_SLOT_H
#define ER_SLOT_H

#include <stddef.h>
#include <stdint.h>

#include <amqp.h>

#include "common/event.h"
#include "common/stats.h"
#include "worker/trace_context.h"

enum slot_state {
	SLOT_FREE = 0,
	SLOT_RECEIVING,		/* body frames still arriving */
	SLOT_CLAIM_QUEUED,	/* waiting for Redis to be writable/connected */
	SLOT_CLAIMING,		/* claim sent, reply pending */
	SLOT_CLAIM_WAIT,	/* held by another consumer: recheck at timer */
	SLOT_PRODUCING,		/* handed to librdkafka, report pending */
	SLOT_RETRY_WAIT,	/* Kafka failed: produce again at timer */
	SLOT_DEADLETTER,	/* dead-letter copy published, confirm pending */
	SLOT_DONE,		/* complete; the ack tracker owns it until acked */
	SLOT_STATE_COUNT
};

struct route;

/*
 * A sampled delivery's spans while it is in flight (tracing.h). Only
 * `sampled` is read for the others.
 */
struct slot_trace {
	uint8_t sampled;
	uint8_t has_parent;
	uint8_t sending;		/* the send span started */
	uint8_t rewrite;		/* the Kafka traceparent is `traceparent` below */
	uint8_t has_offset;
	struct traceparent ctx;		/* trace id, process span id, flags */
	uint8_t parent_id[8];
	uint8_t send_id[8];
	uint64_t start_us, send_start_us, send_end_us;	/* CLOCK_MONOTONIC */
	int32_t partition;
	int64_t offset;
	const char *send_error;		/* static librdkafka error name, or NULL */
	char traceparent[TRACEPARENT_LEN];	/* the send span's context */
};

struct slot {
	uint32_t idx;
	uint8_t state;		/* enum slot_state */
	uint8_t stale;		/* its channel generation is gone: never ack */
	uint8_t redelivered;
	uint8_t duplicate;	/* completed as a duplicate */
	uint8_t claimed;	/* holds its Redis claim: renewed until marked or released */
	uint64_t generation;	/* AMQP channel generation */
	uint64_t tag;		/* delivery tag within that generation */
	uint64_t recv_us;	/* CLOCK_MONOTONIC at basic.deliver */
	uint64_t produced_us;	/* ... at its record's last produce call (0: none yet) */
	uint64_t due_ms;	/* timer for CLAIM_WAIT / RETRY_WAIT */
	uint64_t dlq_seq;	/* publish sequence of its dead-letter copy */
	unsigned attempts;	/* Kafka produce attempts / claim rechecks */
	enum dlq_reason reason;
	const char *detail;	/* static text for the dead letter (a Kafka error name), or NULL */
	const struct route *route;
	unsigned char *body;	/* malloc'd, or its region of the chunk's arena */
	size_t body_len;
	size_t body_cap;
	uint8_t has_props;	/* props cloned into pool (dead-letter copies) */
	amqp_basic_properties_t props;
	amqp_bytes_t exchange, routing_key;	/* where it was published; in pool */
	amqp_pool_t pool;
	struct slot *next;	/* free list, one of the worker's queues, or a waiter chain */
	struct slot *waiters;	/* copies of this event waiting for this delivery */
	struct event_buf buf;	/* the record's headers, key, topic beyond the body */
	struct event ev;
	struct slot_trace tr;
};

/* A FIFO of slots linked through slot->next. */
struct slot_queue {
	struct slot *head, *tail;
	size_t len;
};

static inline void
slot_queue_push(struct slot_queue *q, struct slot *s)
{
	s->next = NULL;
	if (q->tail != NULL)
		q->tail->next = s;
	else
		q->head = s;
	q->tail = s;
	q->len++;
}

static inline struct slot *
slot_queue_pop(struct slot_queue *q)
{
	struct slot *s = q->head;

	if (s != NULL) {
		q->head = s->next;
		if (q->head == NULL)
			q->tail = NULL;
		q->len--;
		s->next = NULL;
	}
	return s;
}

/*
 * The worker's slots: allocated in chunks that never move (the ack
 * tracker and librdkafka hold slot pointers and indexes), reused through
 * a free list.
 */
struct slot_pool {
	struct slot **all;	/* every slot, by index */
	size_t n;
	struct slot *free;
	size_t used;
	int64_t *in_flight;	/* gauge kept equal to `used` */
	struct slot **chunks;
	unsigned char **arenas;	/* per chunk: its bodies' mapping, NULL until needed */
	size_t nchunks;
};

/* Makes at least `min` slots; 0 or -1 (ENOMEM). */
int slot_pool_init(struct slot_pool *p, size_t min, int64_t *in_flight);
void slot_pool_free(struct slot_pool *p);
/* A free slot whose body holds `size` bytes, or NULL (ENOMEM). */
struct slot *slot_pool_get(struct slot_pool *p, uint64_t size);
/* Back to the free list; shrinks a body buffer left large by a big message. */
void slot_pool_put(struct slot_pool *p, struct slot *s);

#endif
