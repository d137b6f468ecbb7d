/*
 * slot: the pool of in-flight delivery slots.
 *
 * Slots come in chunks of SLOT_CHUNK that are never moved or freed
 * before the worker exits, so a slot pointer (librdkafka's opaque) and
 * a slot index (the ack tracker's) stay valid for the worker's life.
 * The pool grows only when stale slots of a lost connection, still
 * waiting for their Kafka reports, hold slots beyond the prefetch.
 */
#include "autoconf.h"

#include <stdlib.h>

#include "common/stats.h"
#include "worker/slot.h"

#define SLOT_CHUNK 256
#define BODY_KEEP_BYTES (64 * 1024)	/* larger buffers are freed after use */

static int
grow(struct slot_pool *p)
{
	struct slot **all = realloc(p->all, (p->n + SLOT_CHUNK) * sizeof(*all));
	struct slot **chunks;
	struct slot *chunk;

	if (all == NULL)
		return -1;
	p->all = all;
	chunks = realloc(p->chunks, (p->nchunks + 1) * sizeof(*chunks));
	if (chunks == NULL)
		return -1;
	p->chunks = chunks;
	chunk = calloc(SLOT_CHUNK, sizeof(*chunk));
	if (chunk == NULL)
		return -1;
	p->chunks[p->nchunks++] = chunk;
	for (size_t i = SLOT_CHUNK; i-- > 0;) {
		struct slot *s = &chunk[i];

		s->idx = (uint32_t)(p->n + i);
		p->all[s->idx] = s;
		init_amqp_pool(&s->pool, 1024);
		s->next = p->free;
		p->free = s;
	}
	p->n += SLOT_CHUNK;
	return 0;
}

int
slot_pool_init(struct slot_pool *p, size_t min, int64_t *in_flight)
{
	*p = (struct slot_pool){ .in_flight = in_flight };
	while (p->n < min)
		if (grow(p) < 0)
			return -1;
	return 0;
}

void
slot_pool_free(struct slot_pool *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->all[i]->body);
		event_buf_free(&p->all[i]->buf);
		empty_amqp_pool(&p->all[i]->pool);
	}
	for (size_t i = 0; i < p->nchunks; i++)
		free(p->chunks[i]);
	free(p->chunks);
	free(p->all);
	*p = (struct slot_pool){0};
}

struct slot *
slot_pool_get(struct slot_pool *p, uint64_t size)
{
	struct slot *s;

	if (p->free == NULL && grow(p) < 0)
		return NULL;
	s = p->free;
	if (s->body_cap < size || s->body == NULL) {
		size_t cap = size > 256 ? size : 256;
		unsigned char *b = realloc(s->body, cap);

		if (b == NULL)
			return NULL;
		s->body = b;
		s->body_cap = cap;
	}
	p->free = s->next;
	s->next = NULL;
	s->waiters = NULL;
	s->stale = 0;
	s->duplicate = 0;
	s->attempts = 0;
	s->has_props = 0;
	s->reason = DLQ_NONE;
	s->detail = NULL;
	s->body_len = 0;
	p->used++;
	stat_set(p->in_flight, (int64_t)p->used);
	return s;
}

void
slot_pool_put(struct slot_pool *p, struct slot *s)
{
	if (s->body_cap > BODY_KEEP_BYTES) {
		free(s->body);
		s->body = NULL;
		s->body_cap = 0;
	}
	if (s->buf.cap > BODY_KEEP_BYTES || s->buf.hcap * sizeof(*s->buf.h) > BODY_KEEP_BYTES)
		event_buf_free(&s->buf);
	if (s->has_props)
		recycle_amqp_pool(&s->pool);
	s->state = SLOT_FREE;
	s->tr.sampled = 0;
	s->claimed = 0;
	s->next = p->free;
	p->free = s;
	p->used--;
	stat_set(p->in_flight, (int64_t)p->used);
}
