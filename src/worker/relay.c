/*
 * relay: the relay path of one worker (see relay.h for the picture).
 *
 * A slot of a lost channel generation is `stale`: it finishes the step
 * it is in (Kafka may still read its body), is never acked, and is
 * freed there. Copies of one event held by this worker wait on the
 * first copy's slot; copies held elsewhere recheck their claim.
 */
#include "autoconf.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/backoff.h"
#include "common/config.h"
#include "common/log.h"
#include "common/route.h"
#include "worker/relay.h"

/* Completions are acked in groups: at most this many, or this late. */
#define ACK_BATCH 64
#define ACK_DELAY_MS 2
/*
 * Another consumer's copy usually reaches Kafka within tens of ms:
 * recheck often for about a second, then back off.
 */
#define CLAIM_WAIT_MIN_MS 5
#define CLAIM_WAIT_SHORT_MS 20
#define CLAIM_WAIT_SHORT_TRIES 50
#define CLAIM_WAIT_MAX_MS 500

static void claim(struct worker *w, struct slot *s);
static void complete(struct worker *w, struct slot *s);
static void release_waiters(struct worker *w, struct slot *s, int relayed);

/* ---- slots ---- */

static struct slot *
slot_get(struct worker *w, uint64_t size)
{
	struct slot *s = slot_pool_get(&w->pool, size);

	if (s != NULL)
		s->route = w->route;
	return s;
}

static void
slot_free(struct worker *w, struct slot *s)
{
	if (s->waiters != NULL)
		release_waiters(w, s, 0);
	slot_pool_put(&w->pool, s);
}

/* ---- completion and acks ---- */

/*
 * Copies of one event that this worker holds at the same time wait on
 * the first copy's slot instead of polling Redis: when it is relayed
 * (or found a duplicate) they are duplicates; when it goes elsewhere
 * (dead-lettered, lost) they claim again.
 */
static void
release_waiters(struct worker *w, struct slot *s, int relayed)
{
	struct slot *q = s->waiters;

	s->waiters = NULL;
	while (q != NULL) {
		struct slot *next = q->next;

		q->next = NULL;
		if (q->stale) {
			slot_free(w, q);
		} else if (relayed) {
			stat_add(&w->st->duplicates, 1);
			q->duplicate = 1;
			complete(w, q);
		} else {
			claim(w, q);
		}
		q = next;
	}
}

static void
complete(struct worker *w, struct slot *s)
{
	if (s->waiters != NULL)
		release_waiters(w, s, s->reason == DLQ_NONE);
	s->state = SLOT_DONE;
	if (s->stale || ack_tracker_complete(&w->tracker, s->generation, s->tag) < 0) {
		slot_free(w, s);
		return;
	}
	if (w->acks_pending++ == 0)
		w->ack_deadline_ms = w->now_ms + ACK_DELAY_MS;
}


static void
ack_cb(void *arg, uint64_t tag, int multiple)
{
	struct worker *w = arg;

	amqp_source_ack(w->amqp, tag, multiple);
}

static void
settled_cb(void *arg, uint32_t idx)
{
	struct worker *w = arg;
	struct slot *s = w->pool.all[idx];
	uint64_t now = mono_us();

	stats_observe_latency(w->st, now > s->recv_us ? now - s->recv_us : 0);
	stat_add(&w->st->acked, 1);
	slot_free(w, s);
}

const struct ack_ops relay_ack_ops = { ack_cb, settled_cb };

/*
 * Sends acks when enough completions have gathered, when the oldest
 * has waited ACK_DELAY_MS, or when stuck completions are due: one
 * basic.ack per group instead of one per loop iteration.
 */
void
relay_flush_acks(struct worker *w, int force)
{
	if (w->generation == 0)
		return;
	if (!force && w->acks_pending < ACK_BATCH &&
	    !(w->acks_pending > 0 && w->now_ms >= w->ack_deadline_ms) &&
	    w->now_ms < ack_tracker_next_due(&w->tracker))
		return;
	ack_tracker_flush(&w->tracker, w->now_ms, &relay_ack_ops, w);
	w->acks_pending = 0;
}

/* ---- dead letters ---- */

static void
dead_letter(struct worker *w, struct slot *s, const amqp_basic_properties_t *props)
{
	uint64_t seq;

	if (props == NULL && s->has_props)
		props = &s->props;
	if (s->stale || amqp_source_dead_letter(w->amqp, s, props, &seq) < 0 || s->stale) {
		/* The connection is gone: the broker redelivers the original. */
		slot_free(w, s);
		return;
	}
	s->state = SLOT_DEADLETTER;
	s->dlq_seq = seq;
	slot_queue_push(&w->dlq, s);
}

static uint64_t
retry_delay(struct worker *w, unsigned attempt)
{
	uint64_t cap = backoff_cap((uint64_t)w->cfg->retry_initial_ms, (uint64_t)w->cfg->retry_max_ms,
	    2.0, attempt);

	return backoff_jitter(cap, &w->rng);
}

static void
confirmed_cb(void *arg, uint64_t seq, int multiple, int ok)
{
	struct worker *w = arg;
	struct slot_queue keep = {0};
	struct slot *s;

	while ((s = slot_queue_pop(&w->dlq)) != NULL) {
		if (!(s->dlq_seq == seq || (multiple && s->dlq_seq < seq))) {
			slot_queue_push(&keep, s);
			continue;
		}
		if (ok) {
			stat_add(&w->st->dead_lettered[s->reason], 1);
			log_info("dead-lettered delivery %llu to %s: %s",
			    (unsigned long long)s->tag, w->route->dlq, dlq_reason_name(s->reason));
			complete(w, s);
		} else {
			/* Publish it again later; the original stays unacked. */
			s->state = SLOT_RETRY_WAIT;
			s->due_ms = w->now_ms + retry_delay(w, s->attempts++);
			slot_queue_push(&w->timers, s);
		}
	}
	w->dlq = keep;
}

/* ---- Kafka ---- */

static void
produce(struct worker *w, struct slot *s)
{
	rd_kafka_resp_err_t err = kafka_sink_produce(w->kafka, s);

	if (err == 0) {
		s->state = SLOT_PRODUCING;
		return;
	}
	if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
		stat_add(&w->st->kafka_errors, 1);
		log_warn("produce %s: %s", s->ev.id, rd_kafka_err2str(err));
	}
	if (kafka_error_is_permanent(err)) {
		s->reason = DLQ_kafka_rejected;
		dead_letter(w, s, NULL);
		return;
	}
	s->state = SLOT_RETRY_WAIT;
	s->due_ms = w->now_ms + (err == RD_KAFKA_RESP_ERR__QUEUE_FULL ? 10 : retry_delay(w, s->attempts));
	slot_queue_push(&w->timers, s);
}

static void
mark_done(struct worker *w, struct slot *s)
{
	if (redis_claim_mark(w->redis, s) == 0) {
		s->state = SLOT_MARKING;
		return;
	}
	/* Kafka has it: ack without the mark; only de-duplication suffers (I3). */
	stat_add(&w->st->redis_errors, 1);
	if (s->stale)
		slot_free(w, s);
	else
		complete(w, s);
}

static void
kafka_delivered_cb(void *arg, struct slot *s, rd_kafka_resp_err_t err)
{
	struct worker *w = arg;

	if (err == 0) {
		stat_add(&w->st->published, 1);
		/* Even a stale slot is marked: its redelivery is then a duplicate. */
		mark_done(w, s);
		return;
	}
	stat_add(&w->st->kafka_errors, 1);
	log_warn("delivery of %s failed: %s", s->ev.id, rd_kafka_err2str(err));
	if (s->stale) {
		slot_free(w, s);
		return;
	}
	if (kafka_error_is_permanent(err)) {
		s->reason = DLQ_kafka_rejected;
		dead_letter(w, s, NULL);
		return;
	}
	s->attempts++;
	if (w->cfg->max_retries > 0 && s->attempts > (unsigned)w->cfg->max_retries) {
		s->reason = DLQ_retries_exhausted;
		dead_letter(w, s, NULL);
		return;
	}
	s->state = SLOT_RETRY_WAIT;
	s->due_ms = w->now_ms + retry_delay(w, s->attempts - 1);
	slot_queue_push(&w->timers, s);
}

const struct kafka_sink_ops relay_kafka_ops = { kafka_delivered_cb };

/* ---- Redis ---- */

static void
claim(struct worker *w, struct slot *s)
{
	if (redis_claim_claim(w->redis, s) == 0) {
		s->state = SLOT_CLAIMING;
		return;
	}
	if (redis_claim_ready(w->redis)) {
		/* Ready but refused (out of memory): try again later. */
		s->state = SLOT_CLAIM_WAIT;
		s->due_ms = w->now_ms + retry_delay(w, s->attempts++);
		slot_queue_push(&w->timers, s);
		return;
	}
	/* Redis is down: the ready callback claims the queue again. */
	s->state = SLOT_CLAIM_QUEUED;
	slot_queue_push(&w->claim_q, s);
}

/* The in-flight slot of this worker that holds the claim `holder`, or NULL. */
static struct slot *
local_holder(struct worker *w, const struct slot *s, const char *holder, size_t len)
{
	const char *prefix = redis_claim_token_prefix(w->redis);
	size_t plen = strlen(prefix);
	unsigned long long gen, tag;
	uint32_t idx;
	struct slot *h;
	char *end;

	if (len <= plen + 1 || memcmp(holder, prefix, plen) != 0 || holder[plen] != ':')
		return NULL;
	gen = strtoull(holder + plen + 1, &end, 10);
	if (*end != ':')
		return NULL;
	tag = strtoull(end + 1, &end, 10);
	if (*end != '\0' || gen != s->generation ||
	    ack_tracker_pending_slot(&w->tracker, gen, tag, &idx) < 0)
		return NULL;
	h = w->pool.all[idx];
	if (h == s || h->route != s->route || h->ev.id_len != s->ev.id_len ||
	    memcmp(h->ev.id, s->ev.id, s->ev.id_len) != 0)
		return NULL;
	switch (h->state) {
	case SLOT_PRODUCING:
	case SLOT_RETRY_WAIT:
	case SLOT_MARKING:
		return h;
	default:
		return NULL;
	}
}

static void
claimed_cb(void *arg, struct slot *s, enum claim_result r, const char *holder, size_t holder_len)
{
	struct worker *w = arg;
	struct slot *h;

	if (s->stale) {
		slot_free(w, s);
		return;
	}
	switch (r) {
	case CLAIM_OK:
		produce(w, s);
		break;
	case CLAIM_DONE:
		stat_add(&w->st->duplicates, 1);
		s->duplicate = 1;
		log_debug("duplicate %s acknowledged", s->ev.id);
		complete(w, s);
		break;
	case CLAIM_BUSY: {
		uint64_t delay = CLAIM_WAIT_MIN_MS << (s->attempts < 2 ? s->attempts : 2);

		stat_add(&w->st->claim_waits, 1);
		s->state = SLOT_CLAIM_WAIT;
		if ((h = local_holder(w, s, holder, holder_len)) != NULL) {
			s->next = h->waiters;
			h->waiters = s;
			break;
		}
		if (s->attempts >= CLAIM_WAIT_SHORT_TRIES)
			delay = CLAIM_WAIT_MAX_MS;
		else if (delay > CLAIM_WAIT_SHORT_MS)
			delay = CLAIM_WAIT_SHORT_MS;
		s->attempts++;
		s->due_ms = w->now_ms + delay;
		slot_queue_push(&w->timers, s);
		break;
	}
	case CLAIM_ERROR:
		/* Nothing is known: claim again once Redis answers. */
		s->state = SLOT_CLAIM_WAIT;
		s->due_ms = w->now_ms + retry_delay(w, s->attempts);
		slot_queue_push(&w->timers, s);
		break;
	}
}

static void
marked_cb(void *arg, struct slot *s, int ok)
{
	struct worker *w = arg;

	(void)ok;	/* counted by redis_claim; the record is in Kafka either way */
	if (s->stale)
		slot_free(w, s);
	else
		complete(w, s);
}

static void
redis_ready_cb(void *arg)
{
	struct worker *w = arg;
	struct slot_queue q = w->claim_q;
	struct slot *s;

	w->claim_q = (struct slot_queue){0};
	while ((s = slot_queue_pop(&q)) != NULL) {
		if (s->stale)
			slot_free(w, s);
		else
			claim(w, s);
	}
}

const struct redis_claim_ops relay_redis_ops = { claimed_cb, marked_cb, redis_ready_cb };

/* ---- AMQP ---- */

static void
drop_cb(void *arg, uint32_t idx, enum ack_entry_state state)
{
	struct worker *w = arg;
	struct slot *s = w->pool.all[idx];

	stat_add(&w->st->stale_deliveries, 1);
	if (state == ACK_DONE) {
		slot_free(w, s);
		return;
	}
	/* In a queue or waiting for a callback: freed where it is next seen. */
	s->stale = 1;
}

static void
amqp_connected_cb(void *arg, uint64_t generation)
{
	struct worker *w = arg;

	w->generation = generation;
	ack_tracker_reset(&w->tracker, generation, drop_cb, w);
}

static void
amqp_lost_cb(void *arg)
{
	struct worker *w = arg;
	struct slot *s;

	w->generation = 0;
	w->acks_pending = 0;	/* nothing of the old channel can be acked */
	ack_tracker_reset(&w->tracker, 0, drop_cb, w);
	/* Their confirms will never come; the originals are redelivered. */
	while ((s = slot_queue_pop(&w->dlq)) != NULL)
		slot_free(w, s);
	if (w->receiving != NULL) {
		slot_free(w, w->receiving);
		w->receiving = NULL;
	}
}

static struct slot *
amqp_begin_cb(void *arg, uint64_t tag, int redelivered, uint64_t size)
{
	struct worker *w = arg;
	struct slot *s = slot_get(w, size);

	if (s == NULL)
		return NULL;
	s->state = SLOT_RECEIVING;
	s->generation = w->generation;
	s->tag = tag;
	s->redelivered = (uint8_t)redelivered;
	s->recv_us = mono_us();
	w->receiving = s;
	return s;
}

static void
amqp_delivered_cb(void *arg, struct slot *s, const amqp_basic_properties_t *props)
{
	struct worker *w = arg;

	w->receiving = NULL;
	stat_add(&w->st->consumed, 1);
	if (ack_tracker_add(&w->tracker, s->tag, s->idx) < 0) {
		log_error("delivery tag %llu out of order; dropping the delivery unacked",
		    (unsigned long long)s->tag);
		slot_free(w, s);
		return;
	}
	s->reason = event_decode(&w->decoder, s->route, s->body, s->body_len, &s->ev);
	if (s->reason != DLQ_NONE) {
		log_warn("poison message (delivery %llu, %zu bytes): %s", (unsigned long long)s->tag,
		    s->body_len, dlq_reason_name(s->reason));
		if (props != NULL && amqp_props_clone(&s->props, props, &s->pool) == 0)
			s->has_props = 1;
		s->ev.id[0] = '\0';
		dead_letter(w, s, props);
		return;
	}
	claim(w, s);
}

const struct amqp_source_ops relay_amqp_ops = {
	amqp_connected_cb, amqp_lost_cb, amqp_begin_cb, amqp_delivered_cb, confirmed_cb,
};

/* ---- timers ---- */

void
relay_run_timers(struct worker *w)
{
	struct slot_queue q = w->timers;
	struct slot *s;

	w->timers = (struct slot_queue){0};
	while ((s = slot_queue_pop(&q)) != NULL) {
		if (s->stale) {
			slot_free(w, s);
			continue;
		}
		if (w->stopping && s->state == SLOT_CLAIM_WAIT) {
			/*
			 * Stopping: a copy waiting for another consumer is
			 * left unacked for the broker to redeliver (and its
			 * slot to the pool's teardown), not rechecked.
			 */
			continue;
		}
		if (s->due_ms > w->now_ms) {
			slot_queue_push(&w->timers, s);
			continue;
		}
		if (s->state == SLOT_CLAIM_WAIT) {
			claim(w, s);
		} else if (s->reason != DLQ_NONE) {
			dead_letter(w, s, NULL);
		} else {
			stat_add(&w->st->retries, 1);
			produce(w, s);
		}
	}
}

uint64_t
relay_next_timer(const struct worker *w)
{
	uint64_t due = UINT64_MAX;

	for (const struct slot *s = w->timers.head; s != NULL; s = s->next)
		if (s->due_ms < due)
			due = s->due_ms;
	return due;
}
