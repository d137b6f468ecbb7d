/*
 * redis_claim: the worker's de-duplication store, driven from its poll
 * loop over one non-blocking hiredis connection.
 *
 * A claim is one EVALSHA of a script that, atomically, finds the event
 * id done (a duplicate), free or held by this delivery (claimed: SET
 * with a lease), or held by another consumer (busy; a redelivered
 * message takes a stale claim over). A done-mark is SET "done" with the
 * TTL. Requests of one loop iteration go out in one write, so a batch
 * costs one round trip. Replies come back in order and are matched to
 * slots by a FIFO.
 */
#ifndef ER_REDIS_CLAIM_H
#define ER_REDIS_CLAIM_H

#include <stddef.h>
#include <stdint.h>

struct er_config;
struct slot;
struct stats_gauges;
struct stats_values;

enum claim_result {
	CLAIM_OK = 0,		/* ours: produce */
	CLAIM_DONE,		/* already relayed: a duplicate */
	CLAIM_BUSY,		/* another consumer holds it: check again later */
	CLAIM_ERROR,		/* no answer (connection lost, error reply) */
};

struct redis_claim_ops {
	/* For CLAIM_BUSY, holder is the token of the delivery holding the claim. */
	void (*claimed)(void *arg, struct slot *s, enum claim_result r,
	    const char *holder, size_t holder_len);
	/* The connection is ready for requests (again). */
	void (*ready)(void *arg);
	/* The connection failed or was dropped (pending requests already answered). */
	void (*down)(void *arg);
};

struct redis_claim;

struct redis_claim *redis_claim_new(const struct er_config *cfg, int worker_id,
    const struct redis_claim_ops *ops, void *arg, struct stats_gauges *gauges,
    struct stats_values *counters, struct stats_reason *reason);
void redis_claim_destroy(struct redis_claim *r);

int redis_claim_ready(const struct redis_claim *r);
/* Not ready, and the last connection or attempt failed (not merely starting). */
int redis_claim_failed(const struct redis_claim *r);

/*
 * Claim tokens of this worker are "<prefix>:<generation>:<tag>", so a
 * busy claim held by a delivery of this very worker can be recognised.
 */
const char *redis_claim_token_prefix(const struct redis_claim *r);

/* The fd to poll (-1 if none) and the events wanted. */
int redis_claim_fd(const struct redis_claim *r);
short redis_claim_events(const struct redis_claim *r);

/* Handles readiness of the fd; replies call back through the ops. */
void redis_claim_handle(struct redis_claim *r, short revents, uint64_t now_ms);

/* Reconnects when due and times out a silent server. */
void redis_claim_tick(struct redis_claim *r, uint64_t now_ms);
/* The next time tick has something to do (UINT64_MAX: nothing). */
uint64_t redis_claim_next_due(const struct redis_claim *r);

/*
 * Renews the lease of the slot's claim if it still holds it (a delivery
 * in flight longer than a third of redis.lease). 0, or -1 if not ready.
 */
int redis_claim_renew(struct redis_claim *r, struct slot *s);
/* Queue a claim; 0, or -1 if not ready (the caller keeps the slot). */
int redis_claim_claim(struct redis_claim *r, struct slot *s);
/*
 * Queues the done-mark of the slot's event, behind every request queued
 * before it (so a claim sent later sees it). Its reply is not waited
 * for: a failure is counted and logged, and the caller acks anyway (I3).
 * 0, or -1 if not ready.
 */
int redis_claim_mark(struct redis_claim *r, struct slot *s);
/*
 * Releases the slot's claim if it still holds it, so that another copy
 * of a dead-lettered event need not wait for the lease. No answer is
 * reported; 0, or -1 if not ready (the lease then ends the claim).
 */
int redis_claim_release(struct redis_claim *r, struct slot *s);

/* Writes what is queued, as far as the socket takes it. */
void redis_claim_flush(struct redis_claim *r);
/* Requests sent or queued and not answered yet. */
size_t redis_claim_pending(const struct redis_claim *r);
/* Claims among them: deliveries waiting on a reply. */
size_t redis_claim_claims_pending(const struct redis_claim *r);

#endif
