/*
 * tracing: a worker's spans, from a delivery's first step to the export
 * request (tracing.h).
 *
 * Owns the ring of finished spans (allocated once at start), the
 * sampler, the id generator, the encoded resource and the export
 * buffer. Export: a batch is taken from the ring when tracing.batch_size
 * messages wait or the oldest has waited tracing.batch_delay_ms; one
 * request at a time; 429, 502, 503 and 504 are retried with backoff (or
 * after Retry-After), anything else drops the batch, counted.
 *
 * The one thing to know: nothing here may hold a delivery. The relay
 * path only ever writes into the ring or drops; the network is touched
 * from the poll loop, through trace_export.
 */
#include "autoconf.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "common/backoff.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/host.h"
#include "common/log.h"
#include "common/route.h"
#include "common/stats.h"
#include "worker/otlp_json.h"
#include "worker/slot.h"
#include "worker/trace_export.h"
#include "worker/trace_ids.h"
#include "worker/trace_sampler.h"
#include "worker/tracing.h"

#define RETRY_MAX 5			/* attempts of one batch after the first */
#define RETRY_INITIAL_MS 1000
#define RETRY_MAX_MS 30000
#define RETRY_AFTER_MAX_MS 60000	/* a longer Retry-After is cut to this */

struct tracer {
	struct stats_values *st;
	struct trace_sampler sampler;
	struct trace_rng rng;
	int rewrite;			/* tracing.propagation = rewrite */
	int64_t wall_offset_ns;		/* CLOCK_REALTIME - CLOCK_MONOTONIC */

	struct span_rec *ring;
	size_t cap, head, count;	/* oldest at head */
	size_t batch_size;
	uint64_t batch_delay_ms;

	struct trace_export *exp;
	struct otlp_buf resource, body;
	size_t batch_msgs;		/* messages in `body`; 0: no batch held */
	unsigned batch_spans;
	unsigned attempts;		/* of the batch held */
	uint64_t retry_ms;		/* send the held batch again then; 0: not waiting */
	uint64_t backoff_rng;
	int failing;			/* the last request failed: said once */
};

static uint64_t
wall_ns(const struct tracer *t, uint64_t mono_us_)
{
	return (uint64_t)((int64_t)(mono_us_ * 1000) + t->wall_offset_ns);
}

struct tracer *
tracing_new(const struct er_config *cfg, int worker, struct stats_values *st)
{
	struct tracer *t;
	struct timespec rt, mt;
	struct otlp_resource res = {
		cfg->tracing_service_name, PACKAGE_VERSION, host_name(), (long)getpid(), worker,
		cfg->trace_resource,
	};

	if (cfg->trace_url == NULL)
		return NULL;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_error("tracing: libcurl could not start; spans are not exported");
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		goto nomem;
	t->st = st;
	t->cap = (size_t)cfg->tracing_queue_size;
	t->ring = calloc(t->cap, sizeof(*t->ring));
	if (t->ring == NULL)
		goto nomem;
	t->batch_size = (size_t)cfg->tracing_batch_size;
	t->batch_delay_ms = (uint64_t)cfg->tracing_batch_delay_ms;
	t->rewrite = strcmp(cfg->tracing_propagation, "rewrite") == 0;
	if (trace_sampler_init(&t->sampler, cfg->tracing_sampler, cfg->trace_ratio) < 0) {
		log_error("tracing: unknown sampler %s", cfg->tracing_sampler);
		goto fail;
	}
	trace_rng_init(&t->rng);
	t->backoff_rng = t->rng.s[0] | 1;
	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(CLOCK_MONOTONIC, &mt);
	t->wall_offset_ns = ((int64_t)rt.tv_sec - (int64_t)mt.tv_sec) * 1000000000 +
	    ((int64_t)rt.tv_nsec - (int64_t)mt.tv_nsec);
	if (otlp_resource(&t->resource, &res) < 0)
		goto nomem;
	t->exp = trace_export_new(cfg->trace_url, cfg->tracing_headers, cfg->tracing_timeout_ms);
	if (t->exp == NULL)
		goto fail;
	/* A query may carry a vendor's token: not logged. */
	log_info("tracing: sampler %s, ratio %g; spans to %.*s%s", cfg->tracing_sampler,
	    cfg->trace_ratio, (int)strcspn(cfg->trace_url, "?"), cfg->trace_url,
	    strchr(cfg->trace_url, '?') != NULL ? "?..." : "");
	return t;
nomem:
	log_error("tracing: out of memory; spans are not exported");
fail:
	if (t != NULL) {
		otlp_buf_free(&t->resource);
		free(t->ring);
		free(t);
	}
	curl_global_cleanup();
	return NULL;
}

/* ---- the relay's side ---- */

void
tracing_begin(struct tracer *t, struct slot *s, const amqp_table_t *headers, uint64_t now_us)
{
	struct slot_trace *tr = &s->tr;
	struct traceparent parent;
	int has_parent = 0;

	tr->sampled = 0;
	if (headers != NULL && s->route->trace_context) {
		struct trace_context tc;

		trace_context_find(headers, &tc);
		if (tc.traceparent != NULL &&
		    traceparent_parse(tc.traceparent->bytes, tc.traceparent->len, &parent) == 0)
			has_parent = 1;
	}
	/* The common unsampled cases decide before any id is made. */
	if (has_parent && t->sampler.parent_based) {
		if (!(parent.flags & 1))
			return;
		memcpy(tr->ctx.trace_id, parent.trace_id, 16);
	} else {
		if (!trace_sampler_roots(&t->sampler))
			return;
		if (has_parent)
			memcpy(tr->ctx.trace_id, parent.trace_id, 16);
		else
			trace_new_trace_id(&t->rng, tr->ctx.trace_id);
		if (!trace_sampler_sample(&t->sampler, NULL, tr->ctx.trace_id))
			return;
	}
	tr->sampled = 1;
	tr->has_parent = (uint8_t)has_parent;
	if (has_parent)
		memcpy(tr->parent_id, parent.span_id, 8);
	tr->ctx.flags = 1;
	trace_new_span_id(&t->rng, tr->ctx.span_id);
	tr->sending = 0;
	tr->rewrite = 0;
	tr->has_offset = 0;
	tr->send_error = NULL;
	tr->start_us = now_us;
}

void
tracing_send(struct tracer *t, struct slot *s, uint64_t now_us)
{
	struct slot_trace *tr = &s->tr;
	struct traceparent send;

	if (tr->sending)
		return;
	tr->sending = 1;
	tr->send_start_us = tr->send_end_us = now_us;
	trace_new_span_id(&t->rng, tr->send_id);
	if (t->rewrite && s->route->trace_context) {
		memcpy(send.trace_id, tr->ctx.trace_id, 16);
		memcpy(send.span_id, tr->send_id, 8);
		send.flags = tr->ctx.flags;
		traceparent_format(&send, tr->traceparent);
		tr->rewrite = 1;
	}
}

void
tracing_report(struct tracer *t, struct slot *s, rd_kafka_resp_err_t err, int32_t partition,
    int64_t offset, uint64_t now_us)
{
	struct slot_trace *tr = &s->tr;

	(void)t;
	tr->send_end_us = now_us;
	tr->send_error = err != 0 ? rd_kafka_err2name(err) : NULL;
	tr->has_offset = err == 0 && partition >= 0 && offset >= 0;
	tr->partition = partition;
	tr->offset = offset;
}

/* Whether p[0..n) is valid UTF-8 without NUL (a key with a string form). */
static int
utf8_text(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n;) {
		unsigned c = p[i];
		size_t len = c < 0x80 ? 1 : (c >= 0xc2 && c <= 0xdf) ? 2 :
		    (c >= 0xe0 && c <= 0xef) ? 3 : (c >= 0xf0 && c <= 0xf4) ? 4 : 0;

		if (len == 0 || c == 0 || i + len > n)
			return 0;
		for (size_t k = 1; k < len; k++)
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
		i += len;
	}
	return 1;
}

static const struct event_header *
find_header(const struct event *ev, const char *name, size_t len)
{
	for (size_t i = 0; i < ev->nhdr; i++)
		if (ev->hdr[i].name_len == len && memcmp(ev->hdr[i].name, name, len) == 0)
			return &ev->hdr[i];
	return NULL;
}

void
tracing_finish(struct tracer *t, struct slot *s, uint64_t now_us)
{
	struct slot_trace *tr = &s->tr;
	const struct event *ev = &s->ev;
	const struct event_header *h;
	struct span_rec *r;
	int sent = tr->sending && !s->duplicate;

	tr->sampled = 0;
	if (t->count == t->cap) {
		stat_add(&t->st->trace_spans_dropped, sent ? 2 : 1);
		return;
	}
	r = &t->ring[(t->head + t->count++) % t->cap];
	memcpy(r->trace_id, tr->ctx.trace_id, 16);
	memcpy(r->process_id, tr->ctx.span_id, 8);
	r->has_parent = tr->has_parent;
	if (tr->has_parent)
		memcpy(r->parent_id, tr->parent_id, 8);
	r->start_ns = wall_ns(t, tr->start_us);
	r->end_ns = r->event_ns = wall_ns(t, now_us);
	r->finished_ms = now_us / 1000;
	r->queue = s->route->queue;
	r->delivery_tag = s->tag;
	r->duplicate = s->duplicate;
	r->dead_letter = s->reason != DLQ_NONE ? dlq_reason_name(s->reason) : NULL;
	r->dead_letter_detail = s->reason != DLQ_NONE ? s->detail : NULL;
	r->topic = NULL;
	span_text_reset(r);
	span_text_put(r, SPAN_EVENT_ID, ev->id, ev->id_len);
	span_text_put(r, SPAN_ROUTING_KEY, s->routing_key.bytes, s->routing_key.len);
	if (s->has_props && (s->props._flags & AMQP_BASIC_MESSAGE_ID_FLAG))
		span_text_put(r, SPAN_MESSAGE_ID, s->props.message_id.bytes, s->props.message_id.len);
	r->has_send = (uint8_t)sent;
	if (sent) {
		if (ev->topic == NULL)
			r->topic = s->route->topic;
		else
			span_text_put(r, SPAN_TOPIC, ev->topic, strlen(ev->topic));
		if (ev->key != NULL && utf8_text(ev->key, ev->key_len))
			span_text_put(r, SPAN_KEY, ev->key, ev->key_len);
	}
	if (tr->has_parent && (h = find_header(ev, "tracestate", 10)) != NULL && h->value != NULL)
		span_text_put(r, SPAN_TRACESTATE, h->value, h->len);
	if (!sent)
		return;
	memcpy(r->send_id, tr->send_id, 8);
	r->send_start_ns = wall_ns(t, tr->send_start_us);
	r->send_end_ns = wall_ns(t, tr->send_end_us);
	r->send_error = tr->send_error;
	r->has_offset = tr->has_offset;
	r->partition = tr->partition;
	r->offset = tr->offset;
}

/* ---- export ---- */

static void
drop_batch(struct tracer *t)
{
	stat_add(&t->st->trace_spans_dropped, t->batch_spans);
	t->batch_msgs = 0;
	t->batch_spans = 0;
	t->attempts = 0;
	t->retry_ms = 0;
}

/* Takes up to batch_size messages from the ring into the request body. */
static int
take_batch(struct tracer *t)
{
	size_t n = t->count < t->batch_size ? t->count : t->batch_size;

	otlp_begin(&t->body, t->resource.p, PACKAGE_VERSION);
	t->batch_spans = 0;
	for (size_t i = 0; i < n; i++) {
		const struct span_rec *r = &t->ring[(t->head + i) % t->cap];

		otlp_add(&t->body, r);
		t->batch_spans += span_rec_spans(r);
	}
	t->head = (t->head + n) % t->cap;
	t->count -= n;
	t->batch_msgs = n;
	t->attempts = 0;
	if (otlp_end(&t->body) < 0) {
		log_error("tracing: out of memory encoding %u spans; dropped", t->batch_spans);
		drop_batch(t);
		return -1;
	}
	return 0;
}

static void
post(struct tracer *t, uint64_t now_ms)
{
	t->retry_ms = 0;
	if (trace_export_post(t->exp, t->body.p, t->body.len, now_ms) < 0) {
		stat_add(&t->st->trace_export_errors, 1);
		drop_batch(t);
	}
}

/* Starts a request if one is due: a batch to send again, or a new one. */
static void
start(struct tracer *t, uint64_t now_ms, int flush)
{
	if (trace_export_busy(t->exp))
		return;
	if (t->batch_msgs > 0) {
		if (now_ms >= t->retry_ms || flush)
			post(t, now_ms);
		return;
	}
	if (t->count == 0)
		return;
	if (!flush && t->count < t->batch_size &&
	    now_ms < t->ring[t->head].finished_ms + t->batch_delay_ms)
		return;
	if (take_batch(t) == 0)
		post(t, now_ms);
}

static int
retryable(long status)
{
	return status == 429 || status == 502 || status == 503 || status == 504;
}

static void
ended(struct tracer *t, const struct export_result *res, uint64_t now_ms)
{
	uint64_t wait;

	if (res->status >= 200 && res->status < 300) {
		stat_add(&t->st->trace_spans_exported, t->batch_spans);
		if (t->failing) {
			t->failing = 0;
			log_info("tracing: the receiver takes spans again");
		}
		t->batch_msgs = 0;
		t->batch_spans = 0;
		return;
	}
	stat_add(&t->st->trace_export_errors, 1);
	if (!t->failing) {
		t->failing = 1;
		if (res->status != 0)
			log_warn("tracing: export failed: HTTP status %ld%s", res->status,
			    retryable(res->status) ? "; retrying" : "; spans dropped");
		else
			log_warn("tracing: export failed: %s; spans dropped", res->error);
	}
	if (!retryable(res->status) || t->attempts >= RETRY_MAX) {
		drop_batch(t);
		return;
	}
	wait = res->retry_after_ms > 0 ? res->retry_after_ms :
	    backoff_jitter(backoff_cap(RETRY_INITIAL_MS, RETRY_MAX_MS, 2.0, t->attempts),
	    &t->backoff_rng);
	if (wait > RETRY_AFTER_MAX_MS)
		wait = RETRY_AFTER_MAX_MS;
	t->attempts++;
	t->retry_ms = now_ms + (wait > 0 ? wait : 1);
}

int
tracing_pollfds(struct tracer *t, struct pollfd *pfd, int max)
{
	return trace_export_pollfds(t->exp, pfd, max);
}

void
tracing_handle(struct tracer *t, const struct pollfd *pfd, int n, uint64_t now_ms)
{
	struct export_result res;

	if (trace_export_handle(t->exp, pfd, n, now_ms, &res))
		ended(t, &res, now_ms);
	start(t, now_ms, 0);
}

uint64_t
tracing_next_due(const struct tracer *t)
{
	uint64_t due = trace_export_next_due(t->exp);
	uint64_t mine = UINT64_MAX;

	if (!trace_export_busy(t->exp)) {
		if (t->batch_msgs > 0)
			mine = t->retry_ms;
		else if (t->count >= t->batch_size)
			mine = 0;
		else if (t->count > 0)
			mine = t->ring[t->head].finished_ms + t->batch_delay_ms;
	}
	return mine < due ? mine : due;
}

void
tracing_destroy(struct tracer *t, uint64_t budget_ms)
{
	uint64_t deadline;

	if (t == NULL)
		return;
	deadline = mono_ms() + budget_ms;
	/* The relay has stopped: waiting here holds nothing up. */
	while ((t->count > 0 || t->batch_msgs > 0) && mono_ms() < deadline) {
		struct pollfd pfd[TRACING_MAX_FDS];
		uint64_t now = mono_ms(), due;
		int n, timeout;

		start(t, now, 1);
		if (!trace_export_busy(t->exp) && t->batch_msgs > 0)
			break;	/* could not post */
		n = trace_export_pollfds(t->exp, pfd, TRACING_MAX_FDS);
		due = trace_export_next_due(t->exp);
		if (due > deadline)
			due = deadline;
		timeout = due <= now ? 0 : (int)(due - now);
		if (poll(pfd, (nfds_t)n, timeout) < 0)
			break;
		now = mono_ms();
		{
			struct export_result res;

			if (trace_export_handle(t->exp, pfd, n, now, &res)) {
				ended(t, &res, now);
				/* No retry wait at a stop: one more try at most, if time is left. */
				if (t->batch_msgs > 0 && t->attempts > 1)
					drop_batch(t);
			}
		}
	}
	if (t->batch_msgs > 0)
		drop_batch(t);
	if (t->count > 0) {
		unsigned spans = 0;

		for (size_t i = 0; i < t->count; i++)
			spans += span_rec_spans(&t->ring[(t->head + i) % t->cap]);
		stat_add(&t->st->trace_spans_dropped, spans);
		log_warn("tracing: %u spans not exported at stop", spans);
	}
	trace_export_free(t->exp);
	otlp_buf_free(&t->body);
	otlp_buf_free(&t->resource);
	free(t->ring);
	free(t);
	curl_global_cleanup();
}
