/*
 * worker: the relay path of one worker process (DESIGN.md steps 1-6).
 *
 *   deliver -> decode -> claim (Redis) -> produce (Kafka) -> report
 *           -> done-mark (Redis) -> complete -> ack (multiple=true)
 *   poison  -> dead-letter copy (confirmed) -> complete -> ack
 *
 * Every slot is in exactly one state; a state change happens only in a
 * callback of the module that finished the step. A slot of a lost
 * channel generation is `stale`: it finishes the step it is in (Kafka
 * may still read its body), is never acked, and is freed there. Nothing
 * here blocks except connecting to RabbitMQ.
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "common/backoff.h"
#include "common/config.h"
#include "common/event.h"
#include "common/log.h"
#include "common/route.h"
#include "common/stats.h"
#include "worker/ack_tracker.h"
#include "worker/amqp_source.h"
#include "worker/kafka_sink.h"
#include "worker/redis_claim.h"
#include "worker/slot.h"
#include "worker/worker.h"

#define READ_BATCH 512
#define ACK_HOLE_DELAY_MS 100
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


struct worker {
	const struct er_config *cfg;
	const struct route *route;
	int id;
	struct worker_slot *ws;
	struct stats_values *st;

	struct slot_pool pool;

	struct ack_tracker tracker;
	struct event_decoder decoder;
	struct amqp_source *amqp;
	struct kafka_sink *kafka;
	struct redis_claim *redis;

	uint64_t generation;	/* current AMQP generation, 0 while down */
	struct slot *receiving;	/* handed to amqp_source, body incomplete */
	struct slot_queue claim_q;	/* waiting for Redis */
	struct slot_queue timers;	/* CLAIM_WAIT / RETRY_WAIT, unordered */
	struct slot_queue dlq;		/* dead-letter copies awaiting confirm, by seq */

	size_t acks_pending;	/* completions since the last ack flush */
	uint64_t ack_deadline_ms;	/* flush acks by then */
	uint64_t now_ms;
	uint64_t rng;
	int stopping;
	uint64_t stop_deadline_ms;
};

static volatile sig_atomic_t got_term;
static int sig_pipe[2] = {-1, -1};

static void
on_term(int sig)
{
	int saved = errno;
	char c = 1;
	ssize_t w;

	(void)sig;
	got_term = 1;
	w = write(sig_pipe[1], &c, 1);
	(void)w;
	errno = saved;
}

static uint64_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

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

static const struct ack_ops ack_ops = { ack_cb, settled_cb };

/*
 * Sends acks when enough completions have gathered, when the oldest
 * has waited ACK_DELAY_MS, or when stuck completions are due: one
 * basic.ack per group instead of one per loop iteration.
 */
static void
flush_acks(struct worker *w, int force)
{
	if (w->generation == 0)
		return;
	if (!force && w->acks_pending < ACK_BATCH &&
	    !(w->acks_pending > 0 && w->now_ms >= w->ack_deadline_ms) &&
	    w->now_ms < ack_tracker_next_due(&w->tracker))
		return;
	ack_tracker_flush(&w->tracker, w->now_ms, &ack_ops, w);
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

static const struct kafka_sink_ops kafka_ops = { kafka_delivered_cb };

/* ---- Redis ---- */

static void
claim(struct worker *w, struct slot *s)
{
	if (redis_claim_claim(w->redis, s) == 0) {
		s->state = SLOT_CLAIMING;
		return;
	}
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

static const struct redis_claim_ops redis_ops = { claimed_cb, marked_cb, redis_ready_cb };

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

static const struct amqp_source_ops amqp_ops = {
	amqp_connected_cb, amqp_lost_cb, amqp_begin_cb, amqp_delivered_cb, confirmed_cb,
};

/* ---- timers ---- */

static void
run_timers(struct worker *w)
{
	struct slot_queue q = w->timers;
	struct slot *s;

	w->timers = (struct slot_queue){0};
	while ((s = slot_queue_pop(&q)) != NULL) {
		if (s->stale) {
			slot_free(w, s);
			continue;
		}
		if (s->due_ms > w->now_ms || (w->stopping && s->state != SLOT_RETRY_WAIT)) {
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

static uint64_t
next_timer(const struct worker *w)
{
	uint64_t due = UINT64_MAX;

	for (const struct slot *s = w->timers.head; s != NULL; s = s->next)
		if (s->due_ms < due)
			due = s->due_ms;
	return due;
}

/* ---- the loop ---- */

static uint64_t
now_ms(void)
{
	return mono_us() / 1000;
}

static void
update_state(struct worker *w)
{
	struct worker_slot *ws = w->ws;
	int all_up = amqp_source_up(w->amqp) && redis_claim_ready(w->redis) &&
	    __atomic_load_n(&ws->gauges.kafka_up, __ATOMIC_RELAXED);
	uint32_t state = w->stopping ? WS_STOPPING : all_up ? WS_RUNNING :
	    (ws->state == WS_STARTING ? WS_STARTING : WS_DEGRADED);

	if (state != ws->state) {
		log_info("state %s -> %s", worker_state_names[ws->state], worker_state_names[state]);
		__atomic_store_n(&ws->state, state, __ATOMIC_RELAXED);
	}
	__atomic_store_n(&ws->heartbeat_ms, w->now_ms, __ATOMIC_RELAXED);
}

/* Work that must finish before a graceful stop may close the connection. */
static int
busy(const struct worker *w)
{
	if (w->kafka != NULL && kafka_sink_outq(w->kafka) > 0)
		return 1;
	for (size_t i = 0; i < w->pool.n; i++) {
		switch (w->pool.all[i]->state) {
		case SLOT_CLAIMING:
		case SLOT_PRODUCING:
		case SLOT_MARKING:
		case SLOT_DEADLETTER:
		case SLOT_RECEIVING:
			return 1;
		case SLOT_DONE:
			if (!w->pool.all[i]->stale && amqp_source_up(w->amqp))
				return 1;
			break;
		default:
			break;
		}
	}
	return 0;
}

static void
begin_stop(struct worker *w, const char *why)
{
	if (w->stopping)
		return;
	w->stopping = 1;
	/* Leave a second for closing before the master's deadline. */
	w->stop_deadline_ms = w->now_ms + (uint64_t)(w->cfg->stop_timeout > 2 ? w->cfg->stop_timeout - 1 : 1) * 1000;
	log_info("stopping (%s): finishing %zu in-flight deliveries", why, w->pool.used);
	amqp_source_cancel(w->amqp);
}

static int
setup(struct worker *w)
{
	struct sigaction sa;

	if (pipe2(sig_pipe, O_NONBLOCK | O_CLOEXEC) < 0) {
		log_error("pipe: %s", strerror(errno));
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	prctl(PR_SET_PDEATHSIG, SIGTERM);

	w->rng = (uint64_t)getpid() * 0x9E3779B97F4A7C15ull + 1;
	if (ack_tracker_init(&w->tracker, (size_t)w->cfg->amqp_prefetch, ACK_HOLE_DELAY_MS) < 0 ||
	    event_decoder_init(&w->decoder, (size_t)w->route->max_message_bytes) < 0 ||
	    slot_pool_init(&w->pool, (size_t)w->cfg->amqp_prefetch + 256, &w->ws->gauges.in_flight) < 0) {
		log_error("out of memory");
		return -1;
	}
	w->kafka = kafka_sink_new(w->cfg, w->id, &kafka_ops, w, &w->ws->gauges);
	w->redis = redis_claim_new(w->cfg, w->id, &redis_ops, w, &w->ws->gauges, w->st);
	w->amqp = amqp_source_new(w->cfg, w->route, w->id, &amqp_ops, w, &w->ws->gauges, w->st);
	if (w->kafka == NULL || w->redis == NULL || w->amqp == NULL)
		return -1;
	return 0;
}

static void
teardown(struct worker *w)
{
	if (w->amqp != NULL) {
		ack_tracker_flush(&w->tracker, UINT64_MAX / 2, &ack_ops, w);
		amqp_source_close(w->amqp);
	}
	/*
	 * The producer goes first: reports served while it shuts down may
	 * still reach the Redis and AMQP objects (closed, but valid).
	 */
	if (w->kafka != NULL) {
		int left = kafka_sink_flush(w->kafka, 1000);

		if (left > 0)
			log_warn("%d records still unreported at exit; their deliveries stay unacked", left);
		kafka_sink_destroy(w->kafka);
		w->kafka = NULL;
	}
	amqp_source_destroy(w->amqp);
	w->amqp = NULL;
	redis_claim_destroy(w->redis);
	w->redis = NULL;
	event_decoder_free(&w->decoder);
	ack_tracker_free(&w->tracker);
	slot_pool_free(&w->pool);
}

int
worker_main(const struct er_config *cfg, const struct route *route, int id,
    struct worker_slot *ws, int lifeline)
{
	struct worker w = { .cfg = cfg, .route = route, .id = id, .ws = ws, .st = &ws->cur };
	char role[32];
	int status = 0;

	snprintf(role, sizeof(role), "worker %d", id);
	log_set_role(role);
	w.now_ms = now_ms();
	__atomic_store_n(&ws->heartbeat_ms, w.now_ms, __ATOMIC_RELAXED);
	if (setup(&w) < 0) {
		teardown(&w);
		return 1;
	}
	log_info("started: queue %s -> topic %s", route->queue, route->topic);
	for (;;) {
		struct pollfd pfd[5];
		int nfd = 0, ia = -1, ik, ir = -1, il, is;
		uint64_t due, t;
		int timeout;

		w.now_ms = now_ms();
		amqp_source_tick(w.amqp, w.now_ms);
		redis_claim_tick(w.redis, w.now_ms);
		update_state(&w);
		if (w.stopping && (!busy(&w) || w.now_ms >= w.stop_deadline_ms)) {
			if (busy(&w))
				log_warn("stop timeout: leaving %zu deliveries unacked", w.pool.used);
			break;
		}

		due = amqp_source_next_due(w.amqp);
		if ((t = redis_claim_next_due(w.redis)) < due)
			due = t;
		if ((t = next_timer(&w)) < due)
			due = t;
		if (w.acks_pending > 0 && w.ack_deadline_ms < due)
			due = w.ack_deadline_ms;
		if ((t = ack_tracker_next_due(&w.tracker)) < due)
			due = t;
		if (w.stopping && w.stop_deadline_ms < due)
			due = w.stop_deadline_ms;
		timeout = due <= w.now_ms ? 0 : due - w.now_ms > 1000 ? 1000 : (int)(due - w.now_ms);
		if (amqp_source_buffered(w.amqp))
			timeout = 0;

		il = nfd;
		pfd[nfd++] = (struct pollfd){ .fd = lifeline, .events = POLLIN };
		is = nfd;
		pfd[nfd++] = (struct pollfd){ .fd = sig_pipe[0], .events = POLLIN };
		ik = nfd;
		pfd[nfd++] = (struct pollfd){ .fd = kafka_sink_fd(w.kafka), .events = POLLIN };
		if (redis_claim_fd(w.redis) >= 0) {
			ir = nfd;
			pfd[nfd++] = (struct pollfd){ .fd = redis_claim_fd(w.redis),
			    .events = redis_claim_events(w.redis) };
		}
		if (amqp_source_fd(w.amqp) >= 0) {
			ia = nfd;
			pfd[nfd++] = (struct pollfd){ .fd = amqp_source_fd(w.amqp), .events = POLLIN };
		}
		if (poll(pfd, (nfds_t)nfd, timeout) < 0 && errno != EINTR) {
			log_error("poll: %s", strerror(errno));
			status = 1;
			break;
		}
		w.now_ms = now_ms();

		if (pfd[is].revents & POLLIN) {
			char buf[16];

			while (read(sig_pipe[0], buf, sizeof(buf)) > 0)
				;
		}
		if (got_term)
			begin_stop(&w, "SIGTERM");
		if (pfd[il].revents & (POLLIN | POLLHUP))
			begin_stop(&w, "the master is gone");

		if ((pfd[ik].revents & POLLIN) && kafka_sink_poll(w.kafka)) {
			/*
			 * The producer is unusable. Exiting closes the AMQP
			 * connection, so every unacked delivery is redelivered,
			 * and the master starts a fresh worker.
			 */
			log_error("exiting for a fresh producer; %zu deliveries stay unacked", w.pool.used);
			status = 1;
			break;
		}
		if (ir >= 0 && pfd[ir].revents)
			redis_claim_handle(w.redis, pfd[ir].revents, w.now_ms);
		if ((ia >= 0 && (pfd[ia].revents & (POLLIN | POLLHUP | POLLERR))) ||
		    amqp_source_buffered(w.amqp))
			amqp_source_read(w.amqp, w.now_ms, READ_BATCH);
		run_timers(&w);
		redis_claim_flush(w.redis);
		flush_acks(&w, w.stopping);
	}
	teardown(&w);
	log_info("stopped");
	return status;
}
