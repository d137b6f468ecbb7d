/*
 * Unit tests of the slot pool's body buffers: small bodies in malloc'd
 * buffers, large ones (above 16 KiB, up to 64 KiB) in the slot's own
 * region of its chunk's arena, larger ones in a buffer of their own
 * freed after use. Run under AddressSanitizer by the suite: a region
 * freed with free() or a malloc'd buffer leaked fails there.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "worker/slot.h"

static struct slot_pool p;
static int64_t in_flight;

static void
setup(void)
{
	cr_assert_eq(slot_pool_init(&p, 4, &in_flight), 0);
}

static void
teardown(void)
{
	slot_pool_free(&p);
}

TestSuite(slot_pool, .init = setup, .fini = teardown);

Test(slot_pool, small_bodies_stay_out_of_the_arena)
{
	struct slot *s = slot_pool_get(&p, 200);

	cr_assert_not_null(s);
	cr_assert_geq(s->body_cap, 200, "body_cap: got %zu, want >= 200", s->body_cap);
	memset(s->body, 'a', 200);
	cr_assert_null(p.arenas[0], "a 200-byte body must not map the arena");
	cr_assert_eq(in_flight, 1, "in_flight: got %ld, want 1", (long)in_flight);
	slot_pool_put(&p, s);
	cr_assert_eq(in_flight, 0, "in_flight: got %ld, want 0", (long)in_flight);
}

Test(slot_pool, large_bodies_get_the_slots_own_region)
{
	struct slot *a = slot_pool_get(&p, 65536), *b = slot_pool_get(&p, 20000);
	uintptr_t ra, rb;

	cr_assert(a != NULL && b != NULL);
	cr_assert_not_null(p.arenas[0], "a 64 KiB body maps its chunk's arena");
	cr_assert_eq(a->body_cap, 65536, "64 KiB body: body_cap got %zu, want 65536", a->body_cap);
	cr_assert_eq(b->body_cap, 65536, "20,000-byte body: body_cap got %zu, want 65536 (its region)", b->body_cap);
	ra = (uintptr_t)a->body;
	rb = (uintptr_t)b->body;
	/* Each slot's region is 64 KiB at its index, from a 2 MiB boundary. */
	cr_assert_eq(ra - (ra % 65536), ra, "region not 64 KiB aligned");
	cr_assert_eq((ra > rb ? ra - rb : rb - ra),
	    (uintptr_t)(a->idx > b->idx ? a->idx - b->idx : b->idx - a->idx) * 65536,
	    "regions of slots %u and %u are not 64 KiB per index apart", a->idx, b->idx);
	cr_assert_eq((ra - (uintptr_t)a->idx * 65536) % (2u << 20), 0, "arena not 2 MiB aligned");
	memset(a->body, 'a', 65536);
	memset(b->body, 'b', 20000);
	cr_assert_eq(a->body[65535], 'a', "last byte of the region: got %d, want 'a'", a->body[65535]);
	slot_pool_put(&p, a);
	slot_pool_put(&p, b);
}

Test(slot_pool, a_region_is_kept_for_small_bodies_after)
{
	struct slot *s = slot_pool_get(&p, 40000);
	unsigned char *region = s->body;
	uint32_t idx = s->idx;

	slot_pool_put(&p, s);
	s = slot_pool_get(&p, 100);	/* the free list is LIFO: the same slot */
	cr_assert_eq(s->idx, idx, "slot: got %u, want %u (the free list is LIFO)", s->idx, idx);
	cr_assert_eq(s->body, region, "a small body after a large one reallocates nothing");
	slot_pool_put(&p, s);
}

Test(slot_pool, bodies_above_64k_get_a_buffer_of_their_own)
{
	struct slot *s = slot_pool_get(&p, 30000);
	unsigned char *region = s->body;

	slot_pool_put(&p, s);
	s = slot_pool_get(&p, 200000);
	cr_assert_neq(s->body, region, "a 200,000-byte body must not use the 64 KiB region");
	cr_assert_geq(s->body_cap, 200000, "body_cap: got %zu, want >= 200000", s->body_cap);
	memset(s->body, 'c', 200000);
	slot_pool_put(&p, s);	/* frees it (ASan: no leak, no free of the region) */
	cr_assert_null(s->body, "a buffer above 64 KiB is freed when the slot is put back");
	s = slot_pool_get(&p, 30000);
	cr_assert_eq(s->body, region, "back to its region");
	slot_pool_put(&p, s);
}

Test(slot_pool, a_malloced_buffer_moves_to_the_region)
{
	struct slot *s = slot_pool_get(&p, 8000);
	uint32_t idx = s->idx;

	cr_assert_null(p.arenas[0], "an 8,000-byte body must not map the arena");
	slot_pool_put(&p, s);
	s = slot_pool_get(&p, 50000);
	cr_assert_eq(s->idx, idx, "slot: got %u, want %u (the free list is LIFO)", s->idx, idx);
	cr_assert_not_null(p.arenas[0], "a 50,000-byte body maps the arena");
	cr_assert_eq(s->body_cap, 65536, "body_cap: got %zu, want 65536 (its region)", s->body_cap);
	memset(s->body, 'd', 50000);
	slot_pool_put(&p, s);
}
