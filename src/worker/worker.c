/*
 * worker: one worker process. Sets up its AMQP connection, Kafka
 * producer and Redis connection, runs the poll loop that drives the
 * relay path (relay.c), and stops gracefully on SIGTERM or when the
 * master is gone (EOF on the lifeline): cancel the consumer, finish or
 * release what is in flight, flush Kafka, ack, close. USR1, passed on by
 * the master, reopens the log file. Nothing here blocks except
 * connecting to RabbitMQ.
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "common/config.h"
#include "common/event.h"
#include "common/log.h"
#include "common/route.h"
#include "common/stats.h"
#include "worker/relay.h"
#include "worker/sandbox.h"
#include "worker/tracing.h"
#include "worker/worker.h"

#define READ_BATCH 512
/*
 * Wake-ups are at least this far apart while busy: what arrives in the
 * meantime (deliveries, Redis replies, Kafka reports) is handled in one
 * step, with one poll, one Redis write and one ack for all of it.
 * Measured with bench/run (200,000 events, 2 workers): none -> 1 ms,
 * 11.3 -> 8.0 us of CPU per message at the same msgs/s and p99. Once
 * the broker-side stalls were gone, 1 -> 2 ms gave 36,500 -> 38,900
 * msgs/s (means of 5 runs each, alternated) and 7.0 -> 5.7 us/msg, for
 * +1.5 ms at p50 (p99 24 -> 27 ms); 3 and 4 ms gained nothing more.
 */
#define LOOP_MIN_US 2000
/* At a graceful stop, queued spans get at most this long to leave. */
#define TRACE_FLUSH_MS 2000

static volatile sig_atomic_t got_term;
static volatile sig_atomic_t got_inject_fatal;
static volatile sig_atomic_t got_reopen;
static int sig_pipe[2] = {-1, -1};

/* TERM, USR1 (reopen the log), and USR2 for fault tests only (a fatal producer error). */
static void
on_signal(int sig)
{
	int saved = errno;
	char c = 1;
	ssize_t w;

	if (sig == SIGUSR2)
		got_inject_fatal = 1;
	else if (sig == SIGUSR1)
		got_reopen = 1;
	else
		got_term = 1;
	w = write(sig_pipe[1], &c, 1);
	(void)w;
	errno = saved;
}

/* ---- the loop ---- */

/* Reads the clock once for the loop step: w->now_us and w->now_ms. */
static void
tick(struct worker *w)
{
	w->now_us = mono_us();
	w->now_ms = w->now_us / 1000;
}

/*
 * The rest of a step's spacing, until `until_us`. Claims sent in the
 * step are answered within it (a Redis round trip is a fraction of a
 * millisecond): their replies are read as they come, so that the
 * records go to Kafka now and not a step later. One more wake-up in a
 * step that sent claims; everything else waits for the next step.
 * 1 if replies were read: what they completed is acked in a step now.
 */
static int
space_wakeups(struct worker *w, uint64_t until_us)
{
	int fd, handled = 0;
	struct timespec ts;

	while ((fd = redis_claim_fd(w->redis)) >= 0 && redis_claim_claims_pending(w->redis) > 0) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		ts = (struct timespec){ 0, (long)(until_us - w->now_us) * 1000 };
		if (ppoll(&p, 1, &ts, NULL) <= 0 || (p.revents & POLLNVAL)) {
			tick(w);
			return handled;
		}
		tick(w);
		redis_claim_handle(w->redis, p.revents, w->now_ms);
		redis_claim_flush(w->redis);
		handled = 1;
		if (w->now_us >= until_us)
			return handled;
	}
	ts = (struct timespec){ 0, (long)(until_us - w->now_us) * 1000 };
	nanosleep(&ts, NULL);
	return handled;
}

static void
update_state(struct worker *w)
{
	struct worker_slot *ws = w->ws;
	int all_up = amqp_source_up(w->amqp) && redis_claim_ready(w->redis) &&
	    __atomic_load_n(&ws->gauges.kafka_up, __ATOMIC_RELAXED);
	uint32_t state = w->stopping ? WS_STOPPING : all_up ? WS_RUNNING :
	    (ws->state == WS_STARTING ? WS_STARTING : WS_DEGRADED);

	int pause = (int)__atomic_load_n(&ws->pause_req, __ATOMIC_RELAXED);

	if (state != ws->state) {
		log_info("state %s -> %s", worker_state_names[ws->state], worker_state_names[state]);
		__atomic_store_n(&ws->state, state, __ATOMIC_RELAXED);
	}
	/* Paused by the operator: no new deliveries, what is held finishes. */
	if (pause != w->op_paused) {
		w->op_paused = pause;
		log_info(pause ? "paused: consumer cancelled, in-flight work finishes" :
		    "resumed: consuming again");
		stat_set(&ws->gauges.paused, pause);
		amqp_source_pause(w->amqp, pause || w->breaker.state == BREAKER_OPEN);
	}
	__atomic_store_n(&ws->heartbeat_ms, w->now_ms, __ATOMIC_RELAXED);
}

/* Work that must finish before a graceful stop may close the connection. */
static int
busy(const struct worker *w)
{
	if (w->kafka != NULL && kafka_sink_outq(w->kafka) > 0)
		return 1;
	/* Deliveries sent before the consumer was cancelled may still arrive. */
	if (w->amqp != NULL && amqp_source_cancelling(w->amqp))
		return 1;
	/* Done-marks of acked deliveries may still be on their way. */
	if (w->redis != NULL && redis_claim_pending(w->redis) > 0)
		return 1;
	for (size_t i = 0; i < w->pool.n; i++) {
		const struct slot *s = w->pool.all[i];

		switch (s->state) {
		case SLOT_CLAIM_WAIT:
		case SLOT_CLAIM_QUEUED:
		case SLOT_RETRY_WAIT:
			/*
			 * A copy whose event another consumer is relaying is
			 * rechecked until that one is done, then acked as a
			 * duplicate. Left unacked, its redelivery would take
			 * over the live claim (a redelivery treats a claim
			 * held elsewhere as lost) and the event would reach
			 * Kafka twice: every reload stops workers this way.
			 * The same holds for a delivery whose claim is not
			 * sent yet (CLAIM_QUEUED) or that waits to be produced
			 * again (RETRY_WAIT): finish it, do not abandon it --
			 * while it can finish: not with Redis, or Kafka, down.
			 */
			if (s->stale)
				break;
			if (s->state == SLOT_RETRY_WAIT ?
			    __atomic_load_n(&w->ws->gauges.kafka_up, __ATOMIC_RELAXED) != 0 :
			    (w->redis != NULL && redis_claim_ready(w->redis)))
				return 1;
			break;
		case SLOT_CLAIMING:
		case SLOT_PRODUCING:
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
	sigset_t usr1;
	size_t window, max_bytes = 0;

	if (pipe2(sig_pipe, O_NONBLOCK | O_CLOEXEC) < 0) {
		log_error("pipe: %s", strerror(errno));
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	if (getenv("EVENT_RELAY_FAULT_INJECTION") != NULL) {
		sa.sa_handler = on_signal;
		sigaction(SIGUSR2, &sa, NULL);
	}
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	/*
	 * The master forks with USR1 blocked (master.c, spawn): a reopen
	 * asked for before the handler was in place is delivered now.
	 */
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_UNBLOCK, &usr1, NULL);
	/* Before the first thread (librdkafka's): see sandbox.h. */
	if (sandbox_enter(w->cfg, w->ws) < 0)
		return -1;

	w->rng = (uint64_t)getpid() * 0x9E3779B97F4A7C15ull + 1;
	breaker_init(&w->breaker, (unsigned)w->cfg->breaker_threshold, (uint64_t)w->cfg->breaker_open_ms,
	    (uint64_t)w->cfg->breaker_open_max_ms, (double)w->cfg->retry_multiplier, w->rng);
	w->dedup_bypass = strcmp(w->cfg->redis_on_failure, "bypass") == 0;
	/* Each route's consumer has its own prefetch window. */
	window = (size_t)w->cfg->amqp_prefetch * w->routes->n;
	for (size_t i = 0; i < w->routes->n; i++)
		if (w->routes->v[i].max_message_bytes > max_bytes)
			max_bytes = w->routes->v[i].max_message_bytes;
	if (ack_tracker_init(&w->tracker, window, ACK_HOLE_DELAY_MS) < 0 ||
	    event_decoder_init(&w->decoder, max_bytes) < 0 ||
	    slot_pool_init(&w->pool, (size_t)w->cfg->amqp_prefetch + 256, &w->ws->gauges.in_flight) < 0) {
		log_error("out of memory");
		return -1;
	}
	w->kafka = kafka_sink_new(w->cfg, w->id, &relay_kafka_ops, w, &w->ws->gauges);
	w->redis = redis_claim_new(w->cfg, w->id, &relay_redis_ops, w, &w->ws->gauges, w->st,
	    &w->ws->reason[REASON_REDIS]);
	w->amqp = amqp_source_new(w->cfg, w->routes, w->id, &relay_amqp_ops, w, &w->ws->gauges, w->st,
	    &w->ws->reason[REASON_AMQP]);
	if (w->kafka == NULL || w->redis == NULL || w->amqp == NULL)
		return -1;
	w->tracer = tracing_new(w->cfg, w->id, w->st);
	/* Started while the daemon is paused (a reload, a restart): connect, do not consume. */
	if (__atomic_load_n(&w->ws->pause_req, __ATOMIC_RELAXED)) {
		w->op_paused = 1;
		stat_set(&w->ws->gauges.paused, 1);
		amqp_source_pause(w->amqp, 1);
		log_info("paused: connecting without consuming");
	}
	return 0;
}

static void
teardown(struct worker *w)
{
	if (w->amqp != NULL) {
		ack_tracker_flush(&w->tracker, UINT64_MAX / 2, &relay_ack_ops, w);
		amqp_source_close(w->amqp);
	}
	/*
	 * The producer goes first: reports served while it shuts down may
	 * still reach the Redis and AMQP objects (closed, but valid).
	 */
	if (w->kafka != NULL) {
		int left = kafka_sink_flush(w->kafka, w->breaker.state == BREAKER_OPEN ? 0 : 1000);

		if (left > 0)
			log_warn("%d records still unreported at exit; their deliveries stay unacked", left);
		kafka_sink_destroy(w->kafka);
		w->kafka = NULL;
	}
	amqp_source_destroy(w->amqp);
	w->amqp = NULL;
	if (w->tracer != NULL) {
		uint64_t now = mono_ms(), budget = TRACE_FLUSH_MS;

		/* Within stop_timeout: the master's deadline is a second after ours. */
		if (w->stopping && w->stop_deadline_ms < now + budget)
			budget = w->stop_deadline_ms > now ? w->stop_deadline_ms - now : 0;
		tracing_destroy(w->tracer, budget);
		w->tracer = NULL;
	}
	redis_claim_destroy(w->redis);
	w->redis = NULL;
	event_decoder_free(&w->decoder);
	ack_tracker_free(&w->tracker);
	slot_pool_free(&w->pool);
}

int
worker_main(const struct er_config *cfg, const struct route_set *routes, int id,
    struct worker_slot *ws, int lifeline)
{
	struct worker w = { .cfg = cfg, .routes = routes, .id = id, .ws = ws, .st = &ws->cur };
	char role[32];
	int status = 0;
	uint64_t woke_us = 0;

	snprintf(role, sizeof(role), "worker %d", id);
	log_set_role(role);
	tick(&w);
	__atomic_store_n(&ws->heartbeat_ms, w.now_ms, __ATOMIC_RELAXED);
	if (setup(&w) < 0) {
		teardown(&w);
		return 1;
	}
	if (routes->n == 1)
		log_info("started: queue %s -> topic %s", routes->v[0].queue, routes->v[0].topic);
	else
		for (size_t i = 0; i < routes->n; i++)
			log_info("started: route %s: queue %s -> topic %s", routes->v[i].name,
			    routes->v[i].queue, routes->v[i].topic);
	for (;;) {
		struct pollfd pfd[5 + TRACING_MAX_FDS];
		int nfd = 0, ia = -1, ik, ir = -1, il, is, it = 0, nt = 0;
		uint64_t due, t;
		int timeout;

		tick(&w);
		amqp_source_tick(w.amqp, w.now_ms);
		redis_claim_tick(w.redis, w.now_ms);
		relay_renew_claims(&w);
		if (relay_kafka_tick(&w) < 0) {
			status = 1;
			break;
		}
		update_state(&w);
		/*
		 * With the breaker open nothing held can reach Kafka before
		 * the deadline: leave now; the broker redelivers it.
		 */
		if (w.stopping && (!busy(&w) || w.now_ms >= w.stop_deadline_ms ||
		    w.breaker.state == BREAKER_OPEN)) {
			if (busy(&w))
				log_warn("%s: leaving %zu deliveries unacked",
				    w.breaker.state == BREAKER_OPEN ? "Kafka circuit breaker open" :
				    "stop timeout", w.pool.used);
			break;
		}

		due = amqp_source_next_due(w.amqp);
		if ((t = redis_claim_next_due(w.redis)) < due)
			due = t;
		if ((t = relay_next_timer(&w)) < due)
			due = t;
		if ((t = relay_kafka_next_due(&w)) < due)
			due = t;
		if ((t = kafka_sink_next_poll(w.kafka)) < due)
			due = t;
		if ((t = ack_tracker_next_due(&w.tracker)) < due)
			due = t;
		if (w.stopping && w.stop_deadline_ms < due)
			due = w.stop_deadline_ms;
		if (w.tracer != NULL && (t = tracing_next_due(w.tracer)) < due)
			due = t;
		timeout = due <= w.now_ms ? 0 : due - w.now_ms > 1000 ? 1000 : (int)(due - w.now_ms);
		if (amqp_source_buffered(w.amqp))
			timeout = 0;
		else if (!w.stopping && w.now_us < woke_us + LOOP_MIN_US &&
		    space_wakeups(&w, woke_us + LOOP_MIN_US))
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
		if (w.tracer != NULL) {
			it = nfd;
			nt = tracing_pollfds(w.tracer, pfd + nfd, TRACING_MAX_FDS);
			nfd += nt;
		}
		if (poll(pfd, (nfds_t)nfd, timeout) < 0 && errno != EINTR) {
			log_error("poll: %s", strerror(errno));
			status = 1;
			break;
		}
		tick(&w);
		woke_us = w.now_us;

		if (pfd[is].revents & POLLIN) {
			char buf[16];

			while (read(sig_pipe[0], buf, sizeof(buf)) > 0)
				;
		}
		if (got_term)
			begin_stop(&w, "SIGTERM");
		if (got_reopen) {
			got_reopen = 0;
			log_reopen();
		}
		if (got_inject_fatal) {
			got_inject_fatal = 0;
			log_warn("SIGUSR2: injecting a fatal producer error");
			kafka_sink_inject_fatal(w.kafka);
		}
		if (pfd[il].revents & (POLLIN | POLLHUP))
			begin_stop(&w, "the master is gone");

		if (((pfd[ik].revents & POLLIN) || w.now_ms >= kafka_sink_next_poll(w.kafka)) &&
		    kafka_sink_poll(w.kafka, w.now_ms) &&
		    relay_kafka_restart(&w, "fatal producer error") < 0) {
			/*
			 * No producer at all. Exiting closes the AMQP
			 * connection, so every unacked delivery is redelivered,
			 * and the master starts a fresh worker.
			 */
			log_error("exiting without a producer; %zu deliveries stay unacked", w.pool.used);
			status = 1;
			break;
		}
		if (ir >= 0 && pfd[ir].revents)
			redis_claim_handle(w.redis, pfd[ir].revents, w.now_ms);
		if (ia >= 0 && (pfd[ia].revents & POLLIN))
			amqp_source_saw_input(w.amqp, w.now_ms);
		if ((ia >= 0 && (pfd[ia].revents & (POLLIN | POLLHUP | POLLERR))) ||
		    amqp_source_buffered(w.amqp))
			amqp_source_read(w.amqp, w.now_ms, READ_BATCH);
		relay_run_timers(&w);
		redis_claim_flush(w.redis);
		if (w.tracer != NULL)
			tracing_handle(w.tracer, pfd + it, nt, w.now_ms);
		tick(&w);	/* acks settle now, after this step's work */
		relay_flush_acks(&w, w.stopping);
	}
	teardown(&w);
	log_info("acks sent: %" PRIu64 " cumulative, %" PRIu64 " single",
	    w.tracker.frames_multiple, w.tracker.frames_single);
	log_info("stopped");
	return status;
}
