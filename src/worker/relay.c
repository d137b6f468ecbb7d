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

#include "common/backoff.h"
#include "common/config.h"
#include "common/log.h"
#include "common/route.h"
#include "worker/mapping.h"
#include "worker/relay.h"
#include "worker/tracing.h"

/*
 * Another consumer's copy usually reaches Kafka within tens of ms:
 * recheck often for about a second, then back off.
 */
#define CLAIM_WAIT_MIN_MS 5
#define CLAIM_WAIT_SHORT_MS 20
#define CLAIM_WAIT_SHORT_TRIES 50
#define CLAIM_WAIT_MAX_MS 500

static void claim(struct worker *w, struct slot *s);
static void produce(struct worker *w, struct slot *s);
static void complete(struct worker *w, struct slot *s);
static void release_waiters(struct worker *w, struct slot *s, int relayed);

/* ---- slots ---- */

static struct slot *
slot_get(struct worker *w, const struct route *r, uint64_t size)
{
	struct slot *s = slot_pool_get(&w->pool, size);

	if (s != NULL)
		s->route = r;
	return s;
}

/* The per-route counters of a slot's route. */
static inline struct stats_route_values *
route_stats(struct worker *w, const struct slot *s)
{
	return &w->ws->rcur[s->route->stats_idx];
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
			stat_add(&route_stats(w, q)->duplicates, 1);
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
	if (s->tr.sampled && !s->stale)
		tracing_finish(w->tracer, s, w->now_us);
	if (s->stale || ack_tracker_complete(&w->tracker, s->generation, s->tag, w->now_ms) < 0) {
		slot_free(w, s);
		return;
	}
	w->acks_pending++;
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
	uint64_t now = w->now_us;

	stats_observe_latency(w->st, now > s->recv_us ? now - s->recv_us : 0);
	stat_add(&w->st->acked, 1);
	slot_free(w, s);
}

const struct ack_ops relay_ack_ops = { ack_cb, settled_cb };

/*
 * Acks what the loop step completed, at its end, or stuck completions
 * once due. The loop's spacing (LOOP_MIN_US) already groups them: one
 * cumulative basic.ack a step at most. Holding them longer (2 ms, or
 * 64 completions, before) bought no fewer acks and cost every delivery
 * up to 2 ms: bench/run paced, 1 worker, 48 partitions, p50 8.9 -> 8.1
 * ms (two runs each) with the same CPU per message.
 */
void
relay_flush_acks(struct worker *w, int force)
{
	if (w->generation == 0)
		return;
	if (!force && w->acks_pending == 0 && w->now_ms < ack_tracker_next_due(&w->tracker))
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

/*
 * A claimed event that cannot reach Kafka goes to the dead-letter
 * queue; its claim is released first so that another copy of it is
 * tried (and dead-lettered too) now instead of after the lease.
 */
static void
give_up(struct worker *w, struct slot *s, enum dlq_reason reason, rd_kafka_resp_err_t err)
{
	s->reason = reason;
	s->detail = rd_kafka_err2name(err);
	s->claimed = 0;
	if (s->tr.sampled)
		tracing_report(w->tracer, s, err, -1, -1, w->now_us);
	redis_claim_release(w->redis, s);
	dead_letter(w, s, NULL);
}

static uint64_t
retry_delay(struct worker *w, unsigned attempt)
{
	uint64_t cap = backoff_cap((uint64_t)w->cfg->retry_initial_ms, (uint64_t)w->cfg->retry_max_ms,
	    (double)w->cfg->retry_multiplier, attempt);

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
			stat_add(&route_stats(w, s)->dead_lettered[s->reason], 1);
			log_info("dead-lettered delivery %llu to %s: %s",
			    (unsigned long long)s->tag, s->route->dlq, dlq_reason_name(s->reason));
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

/* Acts on a breaker transition: consuming, gauges, log. */
static void
breaker_changed(struct worker *w, const char *why)
{
	enum breaker_state st = w->breaker.state;

	stat_set(&w->ws->gauges.breaker_open, st == BREAKER_OPEN);
	stat_set(&w->ws->gauges.breaker_half_open, st == BREAKER_HALF_OPEN);
	switch (st) {
	case BREAKER_OPEN:
		stat_add(&w->st->breaker_opened, 1);
		log_warn("Kafka circuit breaker open (%s): no new deliveries, %zu held; "
		    "probing in %llu ms", why, w->pool.used,
		    (unsigned long long)(w->breaker.probe_ms - w->now_ms));
		break;
	case BREAKER_HALF_OPEN:
		log_info("Kafka circuit breaker half-open (%s): taking deliveries again", why);
		break;
	case BREAKER_CLOSED:
		log_info("Kafka circuit breaker closed (%s)", why);
		break;
	}
	amqp_source_pause(w->amqp, st == BREAKER_OPEN || w->op_paused);
}

/* A Kafka failure that says nothing about the record itself. */
static void
kafka_failed(struct worker *w, rd_kafka_resp_err_t err)
{
	if (err == RD_KAFKA_RESP_ERR__FATAL || kafka_error_is_permanent(err))
		return;	/* a restart follows / the record's own fault */
	if (breaker_failure(&w->breaker, w->now_ms))
		breaker_changed(w, rd_kafka_err2name(err));
}

static void
produce(struct worker *w, struct slot *s)
{
	rd_kafka_resp_err_t err;

	if (s->tr.sampled)
		tracing_send(w->tracer, s, w->now_us);
	err = kafka_sink_produce(w->kafka, s);

	if (err == 0) {
		s->state = SLOT_PRODUCING;
		if (s->produced_us == 0)
			stats_observe_claim(w->st, w->now_us > s->recv_us ? w->now_us - s->recv_us : 0);
		s->produced_us = w->now_us;
		return;
	}
	if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
		stat_add(&w->st->kafka_errors, 1);
		log_warn("produce %s: %s", s->ev.id, rd_kafka_err2str(err));
		kafka_failed(w, err);
	}
	if (kafka_error_is_permanent(err)) {
		give_up(w, s, DLQ_kafka_rejected, err);
		return;
	}
	s->state = SLOT_RETRY_WAIT;
	s->due_ms = w->now_ms + (err == RD_KAFKA_RESP_ERR__QUEUE_FULL ? 10 : retry_delay(w, s->attempts));
	slot_queue_push(&w->timers, s);
}

/*
 * The done-mark goes into the Redis pipeline ahead of the ack, and the
 * ack does not wait for its reply: a failed mark acks anyway (I3), so
 * the reply could only ever delay the ack, by a Redis round trip and a
 * loop step (2 ms of the 20 ms a delivery took in a 2-worker drain).
 * A claim of the same id queued later on this connection sees the mark;
 * a stop waits for the pending replies (busy()).
 */
static void
mark_done(struct worker *w, struct slot *s)
{
	s->claimed = 0;
	if (redis_claim_mark(w->redis, s) < 0) {
		/* Kafka has it: ack without the mark; only de-duplication suffers (I3). */
		stat_add(&w->st->redis_errors, 1);
	}
	if (s->stale)
		slot_free(w, s);
	else
		complete(w, s);
}

static void
kafka_delivered_cb(void *arg, struct slot *s, rd_kafka_resp_err_t err, int32_t partition,
    int64_t offset)
{
	struct worker *w = arg;

	if (s->tr.sampled)
		tracing_report(w->tracer, s, err, partition, offset, w->now_us);
	if (err == 0) {
		stat_add(&w->st->published, 1);
		stats_observe_kafka(w->st, w->now_us > s->produced_us ? w->now_us - s->produced_us : 0);
		stat_add(&route_stats(w, s)->published, 1);
		if (breaker_success(&w->breaker))
			breaker_changed(w, "a record was delivered");
		/* Even a stale slot is marked: its redelivery is then a duplicate. */
		mark_done(w, s);
		return;
	}
	stat_add(&w->st->kafka_errors, 1);
	if (err == RD_KAFKA_RESP_ERR__FATAL)
		log_debug("delivery of %s failed: %s", s->ev.id, rd_kafka_err2str(err));
	else
		log_warn("delivery of %s failed: %s", s->ev.id, rd_kafka_err2str(err));
	kafka_failed(w, err);
	if (s->stale) {
		slot_free(w, s);
		return;
	}
	if (kafka_error_is_permanent(err)) {
		give_up(w, s, DLQ_kafka_rejected, err);
		return;
	}
	s->attempts++;
	if (w->cfg->max_retries > 0 && s->attempts > (unsigned)w->cfg->max_retries) {
		give_up(w, s, DLQ_retries_exhausted, err);
		return;
	}
	s->state = SLOT_RETRY_WAIT;
	s->due_ms = w->now_ms + retry_delay(w, s->attempts - 1);
	slot_queue_push(&w->timers, s);
}

static void
kafka_all_down_cb(void *arg)
{
	struct worker *w = arg;

	if (breaker_trip(&w->breaker, w->now_ms))
		breaker_changed(w, "all brokers down");
}

const struct kafka_sink_ops relay_kafka_ops = { kafka_delivered_cb, kafka_all_down_cb };

int
relay_kafka_restart(struct worker *w, const char *why)
{
	size_t again = 0;

	stat_add(&w->st->producer_restarts, 1);
	log_warn("recreating the Kafka producer (%s); %llu records outstanding",
	    why, (unsigned long long)kafka_sink_outstanding(w->kafka));
	if (kafka_sink_restart(w->kafka) < 0)
		return -1;
	/* The old producer took its records with it: produce them again. */
	for (size_t i = 0; i < w->pool.n; i++) {
		struct slot *s = w->pool.all[i];

		if (s->state != SLOT_PRODUCING)
			continue;
		if (s->stale) {
			slot_free(w, s);
			continue;
		}
		stat_add(&w->st->retries, 1);
		produce(w, s);
		again++;
	}
	log_info("new Kafka producer; %zu records produced again", again);
	return 0;
}

int
relay_kafka_tick(struct worker *w)
{
	if (kafka_sink_stalled(w->kafka, w->now_ms)) {
		char why[128];

		snprintf(why, sizeof(why), "no delivery report for %llu s",
		    (unsigned long long)(kafka_sink_stall_ms(w->kafka) / 1000));
		if (breaker_trip(&w->breaker, w->now_ms))
			breaker_changed(w, "the producer stalled");
		if (relay_kafka_restart(w, why) < 0)
			return -1;
	}
	switch (w->breaker.state) {
	case BREAKER_OPEN:
		if (breaker_probe(&w->breaker, w->now_ms, kafka_sink_up(w->kafka)))
			breaker_changed(w, "a broker is up");
		break;
	case BREAKER_HALF_OPEN:
		if (!kafka_sink_up(w->kafka)) {
			if (breaker_trip(&w->breaker, w->now_ms))
				breaker_changed(w, "no broker up");
		} else if (kafka_sink_outstanding(w->kafka) == 0 && w->pool.used == 0) {
			/* Nothing to probe with, and a broker is up. */
			if (breaker_success(&w->breaker))
				breaker_changed(w, "idle, a broker is up");
		}
		break;
	case BREAKER_CLOSED:
		if (kafka_sink_down_too_long(w->kafka, w->now_ms) &&
		    breaker_trip(&w->breaker, w->now_ms))
			breaker_changed(w, "no broker up");
		break;
	}
	return 0;
}

uint64_t
relay_kafka_next_due(const struct worker *w)
{
	return breaker_next_due(&w->breaker);
}

/* ---- Redis ---- */

/* redis.on_failure = bypass and Redis is down: relay without the check. */
static void
bypass(struct worker *w, struct slot *s)
{
	if (!w->bypassing) {
		w->bypassing = 1;
		log_warn("Redis is unavailable: relaying without de-duplication "
		    "(redis.on_failure = bypass)");
	}
	stat_add(&w->st->dedup_bypassed, 1);
	produce(w, s);
}

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
	if (w->dedup_bypass && redis_claim_failed(w->redis)) {
		bypass(w, s);
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
		s->claimed = 1;
		produce(w, s);
		break;
	case CLAIM_DONE:
		stat_add(&w->st->duplicates, 1);
		stat_add(&route_stats(w, s)->duplicates, 1);
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
		if (w->dedup_bypass && redis_claim_failed(w->redis)) {
			bypass(w, s);
			break;
		}
		/* Nothing is known: claim again once Redis answers. */
		s->state = SLOT_CLAIM_WAIT;
		s->due_ms = w->now_ms + retry_delay(w, s->attempts);
		slot_queue_push(&w->timers, s);
		break;
	}
}

/* Hands every slot queued for Redis to `next` (claim or bypass). */
static void
drain_claim_q(struct worker *w, void (*next)(struct worker *, struct slot *))
{
	struct slot_queue q = w->claim_q;
	struct slot *s;

	w->claim_q = (struct slot_queue){0};
	while ((s = slot_queue_pop(&q)) != NULL) {
		if (s->stale)
			slot_free(w, s);
		else
			next(w, s);
	}
}

static void
redis_ready_cb(void *arg)
{
	struct worker *w = arg;

	if (w->bypassing) {
		w->bypassing = 0;
		log_info("Redis answers again: de-duplication resumed");
	}
	drain_claim_q(w, claim);
}

static void
redis_down_cb(void *arg)
{
	struct worker *w = arg;

	if (w->dedup_bypass)
		drain_claim_q(w, bypass);
	/* block: the queue waits for Redis */
}

const struct redis_claim_ops relay_redis_ops = {
	claimed_cb, redis_ready_cb, redis_down_cb,
};

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
amqp_begin_cb(void *arg, const struct route *r, uint64_t tag, int redelivered, uint64_t size)
{
	struct worker *w = arg;
	struct slot *s = slot_get(w, r, size);

	if (s == NULL)
		return NULL;
	s->state = SLOT_RECEIVING;
	s->generation = w->generation;
	s->tag = tag;
	s->redelivered = (uint8_t)redelivered;
	s->recv_us = w->now_us;
	s->produced_us = 0;
	w->receiving = s;
	return s;
}

/* The x-event-relay-exchange and -routing-key a replayed dead letter carries. */
static void
replayed_origin(const amqp_table_t *t, amqp_bytes_t *exchange, amqp_bytes_t *routing_key)
{
	static const char ex[] = "x-event-relay-exchange", rk[] = "x-event-relay-routing-key";

	for (int i = 0; i < t->num_entries; i++) {
		const amqp_table_entry_t *e = &t->entries[i];

		if (e->value.kind != AMQP_FIELD_KIND_UTF8 && e->value.kind != AMQP_FIELD_KIND_BYTES)
			continue;
		if (e->key.len == sizeof(ex) - 1 && memcmp(e->key.bytes, ex, sizeof(ex) - 1) == 0)
			*exchange = e->value.value.bytes;
		else if (e->key.len == sizeof(rk) - 1 && memcmp(e->key.bytes, rk, sizeof(rk) - 1) == 0)
			*routing_key = e->value.value.bytes;
	}
}

/* x-delivery-count, the deliveries before this one a quorum queue counts; 0 if absent. */
static int64_t
delivery_count(const amqp_basic_properties_t *props)
{
	static const char name[] = "x-delivery-count";

	if (props == NULL || !(props->_flags & AMQP_BASIC_HEADERS_FLAG))
		return 0;
	for (int i = 0; i < props->headers.num_entries; i++) {
		const amqp_table_entry_t *e = &props->headers.entries[i];
		const amqp_field_value_t *v = &e->value;

		if (e->key.len != sizeof(name) - 1 || memcmp(e->key.bytes, name, sizeof(name) - 1) != 0)
			continue;
		switch (v->kind) {
		case AMQP_FIELD_KIND_I8:
			return v->value.i8;
		case AMQP_FIELD_KIND_U8:
			return v->value.u8;
		case AMQP_FIELD_KIND_I16:
			return v->value.i16;
		case AMQP_FIELD_KIND_U16:
			return v->value.u16;
		case AMQP_FIELD_KIND_I32:
			return v->value.i32;
		case AMQP_FIELD_KIND_U32:
			return v->value.u32;
		case AMQP_FIELD_KIND_I64:
			return v->value.i64;
		case AMQP_FIELD_KIND_U64:
			return v->value.u64 > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v->value.u64;
		default:
			return 0;
		}
	}
	return 0;
}

/* Copies props, exchange and routing key into the slot's pool; 0 or -1. */
static int
keep_origin(struct slot *s, const amqp_basic_properties_t *props, amqp_bytes_t exchange,
    amqp_bytes_t routing_key)
{
	s->exchange = s->routing_key = amqp_empty_bytes;
	s->has_props = 1;	/* the pool is recycled when the slot is freed */
	if (props != NULL && amqp_props_clone(&s->props, props, &s->pool) < 0)
		goto fail;
	if (props == NULL)
		memset(&s->props, 0, sizeof(s->props));
	if (exchange.len > 0) {
		amqp_pool_alloc_bytes(&s->pool, exchange.len, &s->exchange);
		if (s->exchange.bytes == NULL)
			goto fail;
		memcpy(s->exchange.bytes, exchange.bytes, exchange.len);
	}
	if (routing_key.len > 0) {
		amqp_pool_alloc_bytes(&s->pool, routing_key.len, &s->routing_key);
		if (s->routing_key.bytes == NULL)
			goto fail;
		memcpy(s->routing_key.bytes, routing_key.bytes, routing_key.len);
	}
	return 0;
fail:
	memset(&s->props, 0, sizeof(s->props));
	s->exchange = s->routing_key = amqp_empty_bytes;
	return -1;
}

static void
amqp_delivered_cb(void *arg, struct slot *s, const amqp_basic_properties_t *props,
    amqp_bytes_t exchange, amqp_bytes_t routing_key)
{
	struct worker *w = arg;
	struct delivery_meta m = { props, exchange, routing_key };
	amqp_basic_properties_t bare;

	/*
	 * A replayed dead letter came by the default exchange: its own
	 * origin counts. (A loop over the top-level entries: harmless for a
	 * table that mapping_decode then finds past its bounds.)
	 */
	if (exchange.len == 0 && props != NULL && (props->_flags & AMQP_BASIC_HEADERS_FLAG))
		replayed_origin(&props->headers, &m.exchange, &m.routing_key);
	s->reason = mapping_decode(&w->decoder, s->route, s->body, s->body_len, &m, &s->ev, &s->buf);
	if (s->reason == DLQ_bad_headers) {
		/*
		 * A header table past its bounds is neither read nor kept: the
		 * dead letter has the body and the other properties, and
		 * x-event-relay-error says what the table was.
		 */
		bare = *props;
		bare._flags &= ~(amqp_flags_t)AMQP_BASIC_HEADERS_FLAG;
		bare.headers = amqp_empty_table;
		props = &bare;
	}
	if (s->reason == DLQ_NONE && w->cfg->amqp_delivery_limit > 0 && s->redelivered &&
	    delivery_count(props) >= w->cfg->amqp_delivery_limit)
		s->reason = DLQ_delivery_limit;
	w->receiving = NULL;
	stat_add(&w->st->consumed, 1);
	stat_add(&route_stats(w, s)->consumed, 1);
	if (ack_tracker_add(&w->tracker, s->tag, s->idx) < 0) {
		log_error("delivery tag %llu out of order; dropping the delivery unacked",
		    (unsigned long long)s->tag);
		slot_free(w, s);
		return;
	}
	if (w->tracer != NULL)
		tracing_begin(w->tracer, s, props != NULL && (props->_flags & AMQP_BASIC_HEADERS_FLAG) ?
		    &props->headers : NULL, s->recv_us);
	if (s->ev.bad_traceparent) {
		stat_add(&w->st->trace_context_invalid, 1);
		log_debug("delivery %llu: invalid traceparent header not copied",
		    (unsigned long long)s->tag);
	}
	/*
	 * Kept for a dead-letter copy made later (Kafka refused it, retries
	 * ran out): its properties and origin, so that a replay relays it as
	 * the original (a route may read them). The pool is reused.
	 */
	if (keep_origin(s, props, m.exchange, m.routing_key) < 0)
		log_warn("delivery %llu: no memory to keep its properties for a dead-letter copy",
		    (unsigned long long)s->tag);
	if (s->reason != DLQ_NONE) {
		if (s->ev.detail[0] != '\0')
			s->detail = s->ev.detail;
		if (s->ev.id[0] != '\0')
			log_warn("poison message %s (route %s, delivery %llu, %zu bytes): %s%s%s%s",
			    s->ev.id, s->route->name, (unsigned long long)s->tag, s->body_len,
			    dlq_reason_name(s->reason), s->detail ? " (" : "",
			    s->detail ? s->detail : "", s->detail ? ")" : "");
		else
			log_warn("poison message (route %s, delivery %llu, %zu bytes): %s%s%s%s",
			    s->route->name, (unsigned long long)s->tag, s->body_len,
			    dlq_reason_name(s->reason), s->detail ? " (" : "",
			    s->detail ? s->detail : "", s->detail ? ")" : "");
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

/*
 * Every third of redis.lease, renews the claims of the deliveries that
 * have held theirs for a third of it or longer: a claim lasts while its
 * delivery is in flight, however long Kafka takes, and ends within the
 * lease once its holder is gone.
 */
void
relay_renew_claims(struct worker *w)
{
	uint64_t period = (uint64_t)w->cfg->redis_lease * 1000 / 3;

	if (w->now_ms < w->renew_ms)
		return;
	w->renew_ms = w->now_ms + period;
	if (!redis_claim_ready(w->redis))
		return;	/* the next period tries again */
	for (size_t i = 0; i < w->pool.n; i++) {
		struct slot *s = w->pool.all[i];

		if (s->claimed && s->state != SLOT_FREE &&
		    w->now_ms - s->recv_us / 1000 >= period &&
		    redis_claim_renew(w->redis, s) == 0)
			stat_add(&w->st->claims_renewed, 1);
	}
}

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
