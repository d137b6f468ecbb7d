/*
 * slot: the pool of in-flight delivery slots.
 *
 * Slots come in chunks of SLOT_CHUNK that are never moved or freed
 * before the worker exits, so a slot pointer (librdkafka's opaque) and
 * a slot index (the ack tracker's) stay valid for the worker's life.
 * The pool grows only when stale slots of a lost connection, still
 * waiting for their Kafka reports, hold slots beyond the prefetch.
 *
 * A slot keeps its body buffer for the next delivery, up to
 * BODY_KEEP_BYTES. Bodies above ARENA_MIN_BYTES (up to that) go to the
 * slot's own BODY_KEEP_BYTES of its chunk's arena, one anonymous
 * mapping per chunk made on the first such body and asked for
 * transparent huge pages: a window of large bodies is touched for the
 * first time as it first fills, and in 4 KiB pages that is 16 page
 * faults a 64 KiB body (bench/run, 64 KiB bodies: 6.2 faults a message
 * with 1 worker, 0.7 in 2 MiB pages). Smaller bodies stay in malloc'd
 * buffers, where a huge page would hold a few of them. Where the kernel
 * gives no huge pages, the arena is plain pages.
 */
#include "autoconf.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "common/stats.h"
#include "worker/slot.h"

#define SLOT_CHUNK 256
#define BODY_KEEP_BYTES (64 * 1024)	/* larger buffers are freed after use */
#define ARENA_MIN_BYTES (16 * 1024)	/* larger bodies (up to the above) in the arena */
#define HUGE_PAGE (2 * 1024 * 1024)
#define ARENA_BYTES ((size_t)SLOT_CHUNK * BODY_KEEP_BYTES)
#define ARENA_FAILED ((unsigned char *)1)	/* mmap failed: malloc for this chunk */

static int
grow(struct slot_pool *p)
{
	struct slot **all = realloc(p->all, (p->n + SLOT_CHUNK) * sizeof(*all));
	struct slot **chunks;
	struct slot *chunk;
	unsigned char **arenas;

	if (all == NULL)
		return -1;
	p->all = all;
	chunks = realloc(p->chunks, (p->nchunks + 1) * sizeof(*chunks));
	if (chunks == NULL)
		return -1;
	p->chunks = chunks;
	arenas = realloc(p->arenas, (p->nchunks + 1) * sizeof(*arenas));
	if (arenas == NULL)
		return -1;
	p->arenas = arenas;
	chunk = calloc(SLOT_CHUNK, sizeof(*chunk));
	if (chunk == NULL)
		return -1;
	p->arenas[p->nchunks] = NULL;
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

/* The arena proper: from the mapping's first 2 MiB boundary, so that huge pages fit. */
static unsigned char *
arena_start(unsigned char *map)
{
	return map + (-(uintptr_t)map & (HUGE_PAGE - 1));
}

/* Slot s's BODY_KEEP_BYTES of its chunk's arena, mapped on first use; NULL if none. */
static unsigned char *
arena_region(struct slot_pool *p, const struct slot *s)
{
	unsigned char **a = &p->arenas[s->idx / SLOT_CHUNK];

	if (*a == NULL) {
		void *m = mmap(NULL, ARENA_BYTES + HUGE_PAGE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		*a = m == MAP_FAILED ? ARENA_FAILED : m;
		if (*a != ARENA_FAILED)
			(void)madvise(arena_start(*a), ARENA_BYTES, MADV_HUGEPAGE);
	}
	if (*a == ARENA_FAILED)
		return NULL;
	return arena_start(*a) + (size_t)(s->idx % SLOT_CHUNK) * BODY_KEEP_BYTES;
}

static int
in_arena(const struct slot_pool *p, const struct slot *s)
{
	const unsigned char *a = p->arenas[s->idx / SLOT_CHUNK];
	uintptr_t b = (uintptr_t)s->body;

	return a != NULL && a != ARENA_FAILED && b >= (uintptr_t)a &&
	    b < (uintptr_t)a + ARENA_BYTES + HUGE_PAGE;
}

void
slot_pool_free(struct slot_pool *p)
{
	for (size_t i = 0; i < p->n; i++) {
		if (!in_arena(p, p->all[i]))
			free(p->all[i]->body);
		event_buf_free(&p->all[i]->buf);
		empty_amqp_pool(&p->all[i]->pool);
	}
	for (size_t i = 0; i < p->nchunks; i++) {
		if (p->arenas[i] != NULL && p->arenas[i] != ARENA_FAILED)
			munmap(p->arenas[i], ARENA_BYTES + HUGE_PAGE);
		free(p->chunks[i]);
	}
	free(p->arenas);
	free(p->chunks);
	free(p->all);
	*p = (struct slot_pool){0};
}

struct slot *
slot_pool_get(struct slot_pool *p, uint64_t size)
{
	struct slot *s;
	unsigned char *region;

	if (p->free == NULL && grow(p) < 0)
		return NULL;
	s = p->free;
	if (size > ARENA_MIN_BYTES && size <= BODY_KEEP_BYTES && !in_arena(p, s) &&
	    (region = arena_region(p, s)) != NULL) {
		free(s->body);
		s->body = region;
		s->body_cap = BODY_KEEP_BYTES;
	} else if (s->body_cap < size || s->body == NULL) {
		size_t cap = size > 256 ? size : 256;
		/* A body too large for the region: a buffer of its own, freed after use. */
		unsigned char *b = in_arena(p, s) ? malloc(cap) : realloc(s->body, cap);

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
	if (s->body_cap > BODY_KEEP_BYTES) {	/* never the arena's */
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
