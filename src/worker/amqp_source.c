/*
 * amqp_source: connection set-up, the frame reader and the publishers.
 *
 * The reader is a small state machine over channel 1 (basic.deliver ->
 * content header -> body frames, copied into a worker slot) and
 * channel 2 (publisher confirms, and basic.return of a dead-letter copy,
 * whose content is skipped after its x-event-relay-seq header is read).
 * Any channel or connection close from the broker ends the connection:
 * its generation is over and the worker forgets its delivery tags.
 *
 * Properties of a delivery live in rabbitmq-c's channel-1 pool, which is
 * recycled only between deliveries, never while one is half received.
 */
#include "autoconf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <amqp.h>
#include <amqp_tcp_socket.h>

#include "common/amqp_tls.h"
#include "common/amqp_url.h"
#include "common/backoff.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/host.h"
#include "common/log.h"
#include "common/route.h"
#include "worker/amqp_source.h"
#include "worker/slot.h"

#define CH_CONSUME 1
#define CH_PUBLISH 2
#define CH_DECLARE 3	/* queue.declare and queue.bind: a refusal closes only this one */
#define PARK_RETRY_MIN_MS 5000
#define PARK_RETRY_MAX_MS 60000
#define MAX_RETURNED 64
#define HDR_SEQ "x-event-relay-seq"
#define HDR_OWN "x-event-relay-"
#define HDR_REPLAYS "x-event-relay-replays"

enum rx_state { RX_METHOD, RX_HEADER, RX_BODY };

#define TAG_MAX 160

struct amqp_source {
	const struct er_config *cfg;
	const struct route_set *routes;
	const struct amqp_source_ops *ops;
	void *arg;
	struct stats_gauges *gauges;
	struct stats_values *counters;
	int worker_id;
	char worker_name[96];
	char (*tags)[TAG_MAX];	/* consumer tag of each route's consumer */
	size_t *tag_len;
	/*
	 * A route whose queue cannot be consumed (missing, declared with
	 * other arguments, deleted while consumed) is parked: the others
	 * relay, and it is tried again on CH_DECLARE now and then.
	 */
	uint8_t *parked;
	size_t nparked;
	/*
	 * Sent at login: the worker's name (the broker shows it), and
	 * consumer_cancel_notify, without which RabbitMQ drops the consumer
	 * of a deleted queue silently instead of sending basic.cancel.
	 */
	amqp_table_entry_t caps[1], props[2];
	amqp_table_t client_props;
	unsigned park_tries;
	uint64_t park_next_ms;

	struct amqp_url urls[AMQP_URL_MAX];
	struct log_repeat url_log[AMQP_URL_MAX];	/* connect failures, per URL */
	size_t nurls, next_url;
	struct stats_reason *reason;	/* why not connected, for /ready */
	long heartbeat;		/* of the current connection, seconds */
	struct amqp_tls_state tls;	/* the handshake of the connection being made */

	amqp_connection_state_t conn;
	int up;
	int stopped;		/* cancelled for good: never consume again */
	int paused;		/* consuming suspended (breaker open) */
	int consuming;		/* basic.consume sent and not cancelled */
	int cancels;		/* basic.cancel sent, cancel-ok not yet read */
	uint64_t generation;
	uint64_t connects;
	uint64_t next_connect_ms;
	uint64_t last_rx_ms;
	uint64_t last_service_ms;
	struct backoff backoff;

	/* reader state, channel 1 */
	enum rx_state rx;
	uint64_t rx_tag;
	int rx_redelivered;
	const struct route *rx_route;
	amqp_bytes_t rx_exchange, rx_routing_key;	/* in the channel pool */
	struct slot *rx_slot;
	uint64_t rx_size, rx_got;
	const amqp_basic_properties_t *rx_props;

	/* channel 2 */
	uint64_t publish_seq;
	int ret_state;		/* 0 none, 1 header expected, 2 body */
	uint64_t ret_left;
	uint64_t returned[MAX_RETURNED];
	size_t nreturned;
};

static void
set_up(struct amqp_source *a, int up)
{
	a->up = up;
	stat_set(&a->gauges->amqp_up, up);
}

/*
 * Describes a reply that is not NORMAL into detail[]; returns the
 * broker's reply code (403, 530, ...) when the broker closed the
 * connection or channel, 0 otherwise.
 */
static int
describe_reply(amqp_rpc_reply_t r, char *detail, size_t sz)
{
	switch (r.reply_type) {
	case AMQP_RESPONSE_NORMAL:
		snprintf(detail, sz, "ok");
		return 0;
	case AMQP_RESPONSE_NONE:
		snprintf(detail, sz, "missing RPC reply");
		return 0;
	case AMQP_RESPONSE_LIBRARY_EXCEPTION:
		snprintf(detail, sz, "%s", amqp_error_string2(r.library_error));
		return 0;
	case AMQP_RESPONSE_SERVER_EXCEPTION:
		if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
			amqp_connection_close_t *m = r.reply.decoded;

			snprintf(detail, sz, "connection closed: %u %.*s", m->reply_code,
			    (int)m->reply_text.len, (const char *)m->reply_text.bytes);
			return m->reply_code;
		}
		if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
			amqp_channel_close_t *m = r.reply.decoded;

			snprintf(detail, sz, "channel closed: %u %.*s", m->reply_code,
			    (int)m->reply_text.len, (const char *)m->reply_text.bytes);
			return m->reply_code;
		}
		snprintf(detail, sz, "server exception 0x%08x", r.reply.id);
		return 0;
	}
	snprintf(detail, sz, "unknown reply");
	return 0;
}

struct amqp_source *
amqp_source_new(const struct er_config *cfg, const struct route_set *routes, int worker_id,
    const struct amqp_source_ops *ops, void *arg, struct stats_gauges *gauges,
    struct stats_values *counters, struct stats_reason *reason)
{
	struct amqp_source *a = calloc(1, sizeof(*a));
	const char *host;
	char msg[256];
	int n;

	if (a == NULL)
		return NULL;
	a->cfg = cfg;
	a->routes = routes;
	a->tags = calloc(routes->n, sizeof(*a->tags));
	a->tag_len = calloc(routes->n, sizeof(*a->tag_len));
	a->parked = calloc(routes->n, sizeof(*a->parked));
	if (a->tags == NULL || a->tag_len == NULL || a->parked == NULL) {
		free(a->tags);
		free(a->tag_len);
		free(a->parked);
		free(a);
		return NULL;
	}
	a->ops = ops;
	a->arg = arg;
	a->gauges = gauges;
	a->counters = counters;
	a->reason = reason;
	a->worker_id = worker_id;
	host = host_name();
	snprintf(a->worker_name, sizeof(a->worker_name), "%s/%ld/worker-%d", host, (long)getpid(), worker_id);
	a->caps[0].key = amqp_cstring_bytes("consumer_cancel_notify");
	a->caps[0].value.kind = AMQP_FIELD_KIND_BOOLEAN;
	a->caps[0].value.value.boolean = 1;
	a->props[0].key = amqp_cstring_bytes("capabilities");
	a->props[0].value.kind = AMQP_FIELD_KIND_TABLE;
	a->props[0].value.value.table = (amqp_table_t){ .num_entries = 1, .entries = a->caps };
	a->props[1].key = amqp_cstring_bytes("connection_name");
	a->props[1].value.kind = AMQP_FIELD_KIND_UTF8;
	a->props[1].value.value.bytes = amqp_cstring_bytes(a->worker_name);
	a->client_props = (amqp_table_t){ .num_entries = 2, .entries = a->props };
	for (size_t i = 0; i < routes->n; i++) {
		snprintf(a->tags[i], sizeof(a->tags[i]), "event-relay-%s-%ld-w%d-%s", host, (long)getpid(),
		    worker_id, routes->v[i].name);
		a->tag_len[i] = strlen(a->tags[i]);
	}
	/* rabbitmq.url may list several brokers, tried in turn. */
	n = amqp_url_parse_list(cfg->amqp_url, a->urls, AMQP_URL_MAX, msg, sizeof(msg));
	if (n <= 0) {
		log_error("amqp_source: rabbitmq.url: %s", msg);	/* the master checked it */
		free(a->tags);
		free(a->tag_len);
		free(a->parked);
		free(a);
		return NULL;
	}
	a->nurls = (size_t)n;
	/* Worker k starts at URL k (mod their number): a cluster's nodes share the workers. */
	a->next_url = (size_t)worker_id % a->nurls;
	backoff_init(&a->backoff, (uint64_t)cfg->retry_initial_ms, (uint64_t)cfg->retry_max_ms,
	    (double)cfg->retry_multiplier,
	    (uint64_t)getpid() * 40503u + 1);
	return a;
}

static void
disconnect(struct amqp_source *a, const char *why)
{
	if (a->conn == NULL)
		return;
	if (why != NULL)
		log_warn("amqp_source: connection lost: %s", why);
	amqp_destroy_connection(a->conn);
	a->conn = NULL;
	a->cancels = 0;
	set_up(a, 0);
	a->rx = RX_METHOD;
	a->rx_slot = NULL;
	a->ret_state = 0;
	a->nreturned = 0;
	a->next_connect_ms = a->last_service_ms + backoff_next(&a->backoff);
	a->ops->lost(a->arg);
}

void
amqp_source_destroy(struct amqp_source *a)
{
	if (a == NULL)
		return;
	if (a->conn != NULL)
		amqp_destroy_connection(a->conn);
	free(a->tags);
	free(a->tag_len);
	free(a->parked);
	free(a);
}

int
amqp_source_up(const struct amqp_source *a)
{
	return a->up;
}

int
amqp_source_fd(const struct amqp_source *a)
{
	return a->conn != NULL ? amqp_get_sockfd(a->conn) : -1;
}

int
amqp_source_buffered(const struct amqp_source *a)
{
	return a->conn != NULL && (amqp_frames_enqueued(a->conn) || amqp_data_in_buffer(a->conn));
}

/* snprintf for messages that may be cut short: truncation is fine here. */
static void __attribute__((format(printf, 3, 4)))
say(char *buf, size_t sz, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sz, fmt, ap);
	va_end(ap);
}

/*
 * A failed login is a configuration problem, not a transient one: say
 * what was tried and what to check. `code` is the broker's reply code;
 * `external`: the login was with the client certificate.
 */
static void
login_failed(const struct amqp_url *u, int external, int code, const char *detail, char *err,
    size_t errsz, char *reason, size_t reasonsz)
{
	char who[AMQP_URL_FIELD + 16];

	if (external)
		snprintf(who, sizeof(who), "with the client certificate (EXTERNAL)");
	else
		snprintf(who, sizeof(who), "as user \"%s\"", u->user);
	if (code == 530 && strstr(detail, "not found") != NULL) {
		say(reason, reasonsz, "amqp: vhost \"%s\" not found", u->vhost);
		say(err, errsz, "login %s to vhost \"%s\" refused: %s; check that "
		    "the vhost exists (rabbitmqctl list_vhosts) and is the one the URL names "
		    "(no path or \"/\" is the vhost \"/\")", who, u->vhost, detail);
	} else if (code == 530) {
		if (external)
			say(reason, reasonsz, "amqp: the client certificate's user may not use vhost "
			    "\"%s\"", u->vhost);
		else
			say(reason, reasonsz, "amqp: user \"%s\" may not use vhost \"%s\"", u->user,
			    u->vhost);
		say(err, errsz, "login %s to vhost \"%s\" refused: %s; check the "
		    "user's permissions (rabbitmqctl list_permissions -p '%s')", who, u->vhost,
		    detail, u->vhost);
	} else if (code == 403) {
		if (external)
			say(reason, reasonsz, "amqp: login with the client certificate refused");
		else
			say(reason, reasonsz, "amqp: login refused for user \"%s\"", u->user);
		say(err, errsz, "login %s to vhost \"%s\" refused: %s; %s", who, u->vhost, detail,
		    external ? "the certificate's user (its CN, with the broker's default "
		    "ssl_cert_login_from) must be a RabbitMQ user with access to the vhost" :
		    "check the user name and password in the URL");
	} else if (external && strstr(detail, "SASL") != NULL) {
		say(reason, reasonsz, "amqp: the broker does not offer EXTERNAL login");
		say(err, errsz, "login %s failed: %s; the broker must offer EXTERNAL (plugin "
		    "rabbitmq_auth_mechanism_ssl, and EXTERNAL in its auth_mechanisms)", who, detail);
	} else {
		say(reason, reasonsz, "amqp: login %s to vhost \"%s\" failed: %s", who, u->vhost,
		    detail);
		say(err, errsz, "login %s to vhost \"%s\" failed: %s; check the "
		    "%s and vhost in the URL", who, u->vhost, detail,
		    external ? "client certificate" : "user name, password");
	}
}

/*
 * One connection attempt to one URL; 0 when consuming. On failure, err[]
 * says what happened (for the log) and reason[] in one short line (for
 * /ready).
 */
/* queue.declare arguments of a route, into entries[] (r->nargs of them). */
static amqp_table_t
route_args(const struct route *r, amqp_table_entry_t *entries)
{
	amqp_table_t t = { .num_entries = (int)r->nargs, .entries = entries };

	for (size_t i = 0; i < r->nargs; i++) {
		const struct route_arg *g = &r->args[i];

		entries[i].key = amqp_cstring_bytes(g->key);
		switch (g->type) {
		case RARG_STRING:
			entries[i].value.kind = AMQP_FIELD_KIND_UTF8;
			entries[i].value.value.bytes = amqp_cstring_bytes(g->str);
			break;
		case RARG_BOOL:
			entries[i].value.kind = AMQP_FIELD_KIND_BOOLEAN;
			entries[i].value.value.boolean = g->num != 0;
			break;
		case RARG_INT:
			entries[i].value.kind = AMQP_FIELD_KIND_I64;
			entries[i].value.value.i64 = g->num;
			break;
		}
	}
	return r->nargs > 0 ? t : amqp_empty_table;
}

/*
 * Declares (or checks) a route's queue and binds it; 0, or -1 with the
 * failed step in *r, *step and *what.
 */
static int
declare_route(struct amqp_source *a, const struct route *rt, amqp_channel_t ch, amqp_rpc_reply_t *r,
    const char **step, const char **what)
{
	amqp_table_entry_t *entries = NULL;
	amqp_table_t args = amqp_empty_table;

	if (rt->nargs > 0) {
		entries = calloc(rt->nargs, sizeof(*entries));
		if (entries == NULL) {
			*step = "declare queue (out of memory)";
			*what = rt->queue;
			r->reply_type = AMQP_RESPONSE_LIBRARY_EXCEPTION;
			r->library_error = AMQP_STATUS_NO_MEMORY;
			return -1;
		}
		args = route_args(rt, entries);
	}
	*step = rt->declare ? "declare queue" : "check queue";
	*what = rt->queue;
	amqp_queue_declare(a->conn, ch, amqp_cstring_bytes(rt->queue), !rt->declare, 1, 0, 0, args);
	free(entries);
	if ((*r = amqp_get_rpc_reply(a->conn)).reply_type != AMQP_RESPONSE_NORMAL)
		return -1;
	for (size_t i = 0; i < rt->nbindings; i++) {
		*step = "bind queue";
		*what = rt->bindings[i].exchange;
		amqp_queue_bind(a->conn, ch, amqp_cstring_bytes(rt->queue),
		    amqp_cstring_bytes(rt->bindings[i].exchange),
		    amqp_cstring_bytes(rt->bindings[i].routing_key), amqp_empty_table);
		if ((*r = amqp_get_rpc_reply(a->conn)).reply_type != AMQP_RESPONSE_NORMAL)
			return -1;
	}
	return 0;
}

/* The broker refused on the channel (404, 406, 403...), the connection lives on. */
static int
channel_refused(amqp_rpc_reply_t r)
{
	return r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
	    r.reply.id == AMQP_CHANNEL_CLOSE_METHOD;
}

static int reopen_declare(struct amqp_source *a, amqp_rpc_reply_t *r);

/* The x-queue-type a route declares its queue with, or NULL. */
static const char *
route_queue_type(const struct route *rt)
{
	for (size_t i = 0; i < rt->nargs; i++)
		if (rt->args[i].type == RARG_STRING && strcmp(rt->args[i].key, "x-queue-type") == 0)
			return rt->args[i].str;
	return NULL;
}

/*
 * A route's dead-letter queue: used as it is when it exists (of any
 * type; the passive check is on CH_DECLARE, which a 404 closes), else
 * declared durable on CH_PUBLISH, of the type of the route's queue, so
 * that the dead letters of a quorum queue are as safe as its messages
 * and stay reachable when one node of a cluster is down.
 */
static int
declare_dlq(struct amqp_source *a, const struct route *rt, amqp_rpc_reply_t *r)
{
	amqp_table_entry_t type_entry;
	amqp_table_t args = amqp_empty_table;
	const char *type = route_queue_type(rt);

	amqp_queue_declare(a->conn, CH_DECLARE, amqp_cstring_bytes(rt->dlq), 1, 1, 0, 0,
	    amqp_empty_table);
	if ((*r = amqp_get_rpc_reply(a->conn)).reply_type == AMQP_RESPONSE_NORMAL)
		return 0;
	if (!channel_refused(*r) || reopen_declare(a, r) < 0)
		return -1;
	if (type != NULL) {
		type_entry.key = amqp_cstring_bytes("x-queue-type");
		type_entry.value.kind = AMQP_FIELD_KIND_UTF8;
		type_entry.value.value.bytes = amqp_cstring_bytes(type);
		args.num_entries = 1;
		args.entries = &type_entry;
	}
	amqp_queue_declare(a->conn, CH_PUBLISH, amqp_cstring_bytes(rt->dlq), 0, 1, 0, 0, args);
	*r = amqp_get_rpc_reply(a->conn);
	return r->reply_type == AMQP_RESPONSE_NORMAL ? 0 : -1;
}

/* Acknowledges the broker's close of CH_DECLARE and opens it again; 0 or -1. */
static int
reopen_declare(struct amqp_source *a, amqp_rpc_reply_t *r)
{
	amqp_channel_close_ok_t ok = {0};

	if (amqp_send_method(a->conn, CH_DECLARE, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok) != AMQP_STATUS_OK) {
		r->reply_type = AMQP_RESPONSE_LIBRARY_EXCEPTION;
		r->library_error = AMQP_STATUS_SOCKET_ERROR;
		return -1;
	}
	amqp_channel_open(a->conn, CH_DECLARE);
	*r = amqp_get_rpc_reply(a->conn);
	return r->reply_type == AMQP_RESPONSE_NORMAL ? 0 : -1;
}

static void
park_reason(struct amqp_source *a, const char *text)
{
	stat_set(&a->gauges->routes_parked, (int64_t)a->nparked);
	stats_reason_set(a->reason, text);
}

/* Route i's queue cannot be consumed: the others go on; it is tried again later. */
static void
park(struct amqp_source *a, size_t i, const char *step, const char *detail)
{
	char text[sizeof(a->reason->text)];

	if (a->parked[i])
		return;
	a->parked[i] = 1;
	a->nparked++;
	log_warn("amqp_source: route %s: %s %s: %s; not consuming it, trying again every %d to %d s "
	    "(the other routes relay)", a->routes->v[i].name, step, a->routes->v[i].queue, detail,
	    PARK_RETRY_MIN_MS / 1000, PARK_RETRY_MAX_MS / 1000);
	snprintf(text, sizeof(text), "amqp: route %s: %s %s: %s", a->routes->v[i].name, step,
	    a->routes->v[i].queue, detail);
	park_reason(a, text);
	if (a->park_next_ms == 0 || a->nparked == 1)
		a->park_next_ms = a->last_service_ms + PARK_RETRY_MIN_MS;
}

static int
connect_url(struct amqp_source *a, const struct amqp_url *u, char *err, size_t errsz,
    char *reason, size_t reasonsz)
{
	long timeout_ms = u->connect_timeout_ms > 0 ? u->connect_timeout_ms :
	    a->cfg->amqp_connect_timeout * 1000;
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
	long heartbeat = u->heartbeat >= 0 ? u->heartbeat : a->cfg->amqp_heartbeat;
	int frame_max = u->frame_max > 0 ? (int)u->frame_max : 131072;
	int channel_max = u->channel_max >= 0 ? (int)u->channel_max : 0;
	amqp_rpc_reply_t r;
	amqp_socket_t *sock;
	const char *step, *what = NULL;
	char detail[512];
	int rc, code, external;

	a->conn = amqp_new_connection();
	if (a->conn == NULL) {
		say(err, errsz, "out of memory");
		say(reason, reasonsz, "amqp: out of memory");
		return -1;
	}
	if (u->tls) {
		sock = amqp_tls_socket(a->conn, u, a->cfg, &a->tls, detail, sizeof(detail));
		if (sock == NULL) {
			say(err, errsz, "%s", detail);
			say(reason, reasonsz, "amqp: %s", detail);
			goto fail;
		}
	} else if ((sock = amqp_tcp_socket_new(a->conn)) == NULL) {
		say(err, errsz, "cannot create a socket");
		say(reason, reasonsz, "amqp: cannot create a socket");
		goto fail;
	}
	amqp_set_handshake_timeout(a->conn, &tv);
	amqp_set_rpc_timeout(a->conn, &tv);
	rc = amqp_socket_open_noblock(sock, u->host, u->port, &tv);
	if (rc != AMQP_STATUS_OK) {
		/* "TLS ...: why" or "connect HOST:PORT: why" (connect_now() adds the URL) */
		if (u->tls && amqp_tls_explain(&a->tls, rc, detail, sizeof(detail))) {
			say(err, errsz, "%s", detail);
			say(reason, reasonsz, "amqp: %s:%d: %s", u->host, u->port, detail);
		} else {
			say(err, errsz, "connect %s:%d: %s", u->host, u->port, amqp_error_string2(rc));
			say(reason, reasonsz, "amqp: connect %s:%d: %s", u->host, u->port,
			    amqp_error_string2(rc));
		}
		goto fail;
	}
	external = amqp_tls_external(u, a->cfg);
	if (external)
		r = amqp_login_with_properties(a->conn, u->vhost, channel_max, frame_max,
		    (int)heartbeat, &a->client_props, AMQP_SASL_METHOD_EXTERNAL,
		    AMQP_TLS_EXTERNAL_IDENTITY);
	else
		r = amqp_login_with_properties(a->conn, u->vhost, channel_max, frame_max,
		    (int)heartbeat, &a->client_props, AMQP_SASL_METHOD_PLAIN, u->user, u->password);
	if (r.reply_type != AMQP_RESPONSE_NORMAL) {
		code = describe_reply(r, detail, sizeof(detail));
		login_failed(u, external, code, detail, err, errsz, reason, reasonsz);
		goto fail;
	}
	step = "channel.open";
	amqp_channel_open(a->conn, CH_CONSUME);
	if ((r = amqp_get_rpc_reply(a->conn)).reply_type != AMQP_RESPONSE_NORMAL)
		goto step_fail;
	/* Not global: quorum queues refuse a channel-wide prefetch. Per consumer. */
	step = "basic.qos";
	amqp_basic_qos(a->conn, CH_CONSUME, 0, (uint16_t)a->cfg->amqp_prefetch, 0);
	if ((r = amqp_get_rpc_reply(a->conn)).reply_type != AMQP_RESPONSE_NORMAL)
		goto step_fail;
	step = "channel.open";
	amqp_channel_open(a->conn, CH_DECLARE);
	if ((r = amqp_get_rpc_reply(a->conn)).reply_type != AMQP_RESPONSE_NORMAL)
		goto step_fail;
	memset(a->parked, 0, a->routes->n);
	a->nparked = 0;
	a->park_tries = 0;
	a->park_next_ms = 0;
	for (size_t i = 0; i < a->routes->n; i++) {
		const struct route *rt = &a->routes->v[i];

		if (declare_route(a, rt, CH_DECLARE, &r, &step, &what) == 0)
			continue;
		if (!channel_refused(r))
			goto step_fail;
		describe_reply(r, detail, sizeof(detail));
		park(a, i, step, detail);
		if (reopen_declare(a, &r) < 0) {
			step = "channel.open";
			what = NULL;
			goto step_fail;
		}
	}
	step = "channel.open";
	what = NULL;
	amqp_channel_open(a->conn, CH_PUBLISH);
	if ((r = amqp_get_rpc_reply(a->conn)).reply_type != AMQP_RESPONSE_NORMAL)
		goto step_fail;
	step = "declare dead-letter queue";
	for (size_t i = 0; i < a->routes->n; i++) {
		what = a->routes->v[i].dlq;
		if (declare_dlq(a, &a->routes->v[i], &r) < 0)
			goto step_fail;
	}
	step = "confirm.select";
	what = NULL;
	amqp_confirm_select(a->conn, CH_PUBLISH);
	if ((r = amqp_get_rpc_reply(a->conn)).reply_type != AMQP_RESPONSE_NORMAL)
		goto step_fail;
	a->consuming = 0;
	if (!a->paused && !a->stopped) {
		step = "basic.consume";
		for (size_t i = 0; i < a->routes->n; i++) {
			if (a->parked[i])
				continue;
			what = a->routes->v[i].queue;
			amqp_basic_consume(a->conn, CH_CONSUME, amqp_cstring_bytes(what),
			    amqp_cstring_bytes(a->tags[i]), 0, 0, 0, amqp_empty_table);
			if ((r = amqp_get_rpc_reply(a->conn)).reply_type != AMQP_RESPONSE_NORMAL)
				goto step_fail;
		}
		a->consuming = 1;
	}
	a->heartbeat = heartbeat;
	if (a->routes->n == 1)
		log_info("amqp_source: %s %s on %s (vhost \"%s\", prefetch %ld)",
		    a->nparked > 0 ? "connected, its queue parked (see above):" : a->consuming ?
		    "consuming" : "connected, not consuming yet,", a->routes->v[0].queue,
		    u->shown, u->vhost, a->cfg->amqp_prefetch);
	else
		log_info("amqp_source: %s %zu of %zu queues on %s (vhost \"%s\", prefetch %ld each)",
		    a->consuming ? "consuming" : "connected, not consuming yet,",
		    a->routes->n - a->nparked, a->routes->n, u->shown, u->vhost, a->cfg->amqp_prefetch);
	return 0;
step_fail:
	describe_reply(r, detail, sizeof(detail));
	say(err, errsz, "%s%s%s: %s", step, what != NULL ? " " : "", what != NULL ? what : "",
	    detail);
	say(reason, reasonsz, "amqp: %s", err);
fail:
	amqp_destroy_connection(a->conn);
	a->conn = NULL;
	return -1;
}

static void
connect_now(struct amqp_source *a, uint64_t now_ms)
{
	char err[768], reason[sizeof(a->reason->text)];

	for (size_t i = 0; i < a->nurls; i++) {
		size_t k = a->next_url;
		const struct amqp_url *u = &a->urls[k];

		a->next_url = (a->next_url + 1) % a->nurls;
		if (connect_url(a, u, err, sizeof(err), reason, sizeof(reason)) == 0) {
			log_repeat_reset(&a->url_log[k]);
			if (a->nparked == 0)
				park_reason(a, NULL);
			a->generation++;
			if (a->connects++ > 0)
				stat_add(&a->counters->amqp_reconnects, 1);
			a->rx = RX_METHOD;
			a->publish_seq = 0;
			a->nreturned = 0;
			a->ret_state = 0;
			a->last_rx_ms = now_ms;
			a->last_service_ms = now_ms;
			backoff_reset(&a->backoff);
			set_up(a, 1);
			a->ops->connected(a->arg, a->generation);
			return;
		}
		/* "connect HOST:PORT (URL): ..." or "URL: login ... refused: ..." */
		if (strncmp(err, "connect ", 8) == 0)
			log_repeat(&a->url_log[k], mono_ms(), "amqp_source: connect %s:%d (%s): %s",
			    u->host, u->port, u->shown, strchr(err + 8, ' ') + 1);
		else
			log_repeat(&a->url_log[k], mono_ms(), "amqp_source: %s: %s", u->shown, err);
		stats_reason_set(a->reason, reason);
	}
	a->next_connect_ms = now_ms + backoff_next(&a->backoff);
}

/*
 * Tries each parked route again on CH_DECLARE: the RPC blocks for a
 * moment while deliveries keep arriving, which rabbitmq-c queues on
 * their channel for the frame reader. A route whose queue is back is
 * consumed again; the others wait longer.
 */
static void
retry_parked(struct amqp_source *a)
{
	amqp_rpc_reply_t r;
	const char *step, *what;
	char detail[256];
	uint64_t wait;

	for (size_t i = 0; i < a->routes->n && a->conn != NULL; i++) {
		if (!a->parked[i])
			continue;
		if (declare_route(a, &a->routes->v[i], CH_DECLARE, &r, &step, &what) < 0) {
			if (!channel_refused(r) || reopen_declare(a, &r) < 0) {
				describe_reply(r, detail, sizeof(detail));
				disconnect(a, detail);
				return;
			}
			describe_reply(r, detail, sizeof(detail));
			log_debug("amqp_source: route %s: %s %s: %s; still parked", a->routes->v[i].name,
			    step, a->routes->v[i].queue, detail);
			continue;
		}
		if (a->consuming) {
			amqp_basic_consume_t req;

			memset(&req, 0, sizeof(req));
			req.queue = amqp_cstring_bytes(a->routes->v[i].queue);
			req.consumer_tag = amqp_cstring_bytes(a->tags[i]);
			req.arguments = amqp_empty_table;
			if (amqp_send_method(a->conn, CH_CONSUME, AMQP_BASIC_CONSUME_METHOD, &req) !=
			    AMQP_STATUS_OK) {
				disconnect(a, "basic.consume failed");
				return;
			}
		}
		a->parked[i] = 0;
		a->nparked--;
		log_info("amqp_source: route %s: queue %s is back: consuming it", a->routes->v[i].name,
		    a->routes->v[i].queue);
	}
	if (a->conn == NULL)
		return;
	if (a->nparked == 0) {
		a->park_tries = 0;
		park_reason(a, NULL);
		return;
	}
	stat_set(&a->gauges->routes_parked, (int64_t)a->nparked);
	wait = (uint64_t)PARK_RETRY_MIN_MS << (a->park_tries < 4 ? a->park_tries : 4);
	a->park_tries++;
	a->park_next_ms = a->last_service_ms + (wait < PARK_RETRY_MAX_MS ? wait : PARK_RETRY_MAX_MS);
}

uint64_t
amqp_source_next_due(const struct amqp_source *a)
{
	uint64_t hb;

	if (a->conn == NULL)
		return a->next_connect_ms;
	hb = a->heartbeat > 0 ? (uint64_t)a->heartbeat * 1000 / 4 : 1000;
	if (a->nparked > 0 && !a->paused && !a->stopped && a->park_next_ms < a->last_service_ms + hb)
		return a->park_next_ms;
	return a->last_service_ms + hb;
}

void
amqp_source_tick(struct amqp_source *a, uint64_t now_ms)
{
	if (a->conn == NULL) {
		a->last_service_ms = now_ms;
		if (now_ms >= a->next_connect_ms)
			connect_now(a, now_ms);
		return;
	}
	if (a->heartbeat > 0 &&
	    now_ms - a->last_rx_ms > (uint64_t)a->heartbeat * 2000 + 1000) {
		a->last_service_ms = now_ms;
		disconnect(a, "no data from the broker for two heartbeat intervals");
		return;
	}
	if (a->nparked > 0 && !a->paused && !a->stopped && now_ms >= a->park_next_ms) {
		a->last_service_ms = now_ms;
		retry_parked(a);
		if (a->conn == NULL)
			return;
	}
	/* Lets rabbitmq-c send its heartbeat even when the socket is quiet. */
	if (now_ms >= amqp_source_next_due(a))
		amqp_source_read(a, now_ms, 0);
}

static void
server_closed(struct amqp_source *a, const amqp_frame_t *f)
{
	char why[256];

	if (f->payload.method.id == AMQP_CONNECTION_CLOSE_METHOD) {
		amqp_connection_close_t *m = f->payload.method.decoded;
		amqp_connection_close_ok_t ok;

		snprintf(why, sizeof(why), "broker closed the connection: %u %.*s", m->reply_code,
		    (int)m->reply_text.len, (const char *)m->reply_text.bytes);
		amqp_send_method(a->conn, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
	} else {
		amqp_channel_close_t *m = f->payload.method.decoded;

		snprintf(why, sizeof(why), "broker closed channel %u: %u %.*s", f->channel,
		    m->reply_code, (int)m->reply_text.len, (const char *)m->reply_text.bytes);
	}
	disconnect(a, why);
}

static void
confirm(struct amqp_source *a, uint64_t tag, int multiple, int ok)
{
	/* Returned copies were acked by the broker without reaching a queue. */
	for (size_t i = 0; i < a->nreturned;) {
		if (a->returned[i] == tag || (multiple && a->returned[i] < tag)) {
			a->ops->confirmed(a->arg, a->returned[i], 0, 0);
			a->returned[i] = a->returned[--a->nreturned];
		} else {
			i++;
		}
	}
	a->ops->confirmed(a->arg, tag, multiple, ok);
}

static uint64_t
header_seq(const amqp_basic_properties_t *p)
{
	if (!(p->_flags & AMQP_BASIC_HEADERS_FLAG))
		return 0;
	for (int i = 0; i < p->headers.num_entries; i++) {
		const amqp_table_entry_t *e = &p->headers.entries[i];

		if (e->key.len == strlen(HDR_SEQ) && memcmp(e->key.bytes, HDR_SEQ, e->key.len) == 0 &&
		    e->value.kind == AMQP_FIELD_KIND_I64)
			return (uint64_t)e->value.value.i64;
	}
	return 0;
}

/* 1 if a delivery completed, 0 otherwise, -1 if the connection ended. */
/* The route whose consumer has this tag, or NULL. */
static const struct route *
route_of(const struct amqp_source *a, amqp_bytes_t tag)
{
	for (size_t i = 0; i < a->routes->n; i++)
		if (a->tag_len[i] == tag.len && memcmp(a->tags[i], tag.bytes, tag.len) == 0)
			return &a->routes->v[i];
	return NULL;
}

static int
handle_frame(struct amqp_source *a, amqp_frame_t *f)
{
	if (f->frame_type == AMQP_FRAME_METHOD) {
		amqp_method_number_t id = f->payload.method.id;

		switch (id) {
		case AMQP_BASIC_DELIVER_METHOD: {
			amqp_basic_deliver_t *d = f->payload.method.decoded;

			if (f->channel != CH_CONSUME || a->rx != RX_METHOD) {
				disconnect(a, "unexpected basic.deliver");
				return -1;
			}
			a->rx_route = route_of(a, d->consumer_tag);
			if (a->rx_route == NULL) {
				disconnect(a, "basic.deliver for an unknown consumer");
				return -1;
			}
			a->rx_exchange = d->exchange;
			a->rx_routing_key = d->routing_key;
			a->rx_tag = d->delivery_tag;
			a->rx_redelivered = d->redelivered;
			a->rx = RX_HEADER;
			return 0;
		}
		case AMQP_BASIC_ACK_METHOD: {
			amqp_basic_ack_t *m = f->payload.method.decoded;

			confirm(a, m->delivery_tag, m->multiple, 1);
			return 0;
		}
		case AMQP_BASIC_NACK_METHOD: {
			amqp_basic_nack_t *m = f->payload.method.decoded;

			log_warn("amqp_source: broker nacked dead-letter publish %llu",
			    (unsigned long long)m->delivery_tag);
			confirm(a, m->delivery_tag, m->multiple, 0);
			return 0;
		}
		case AMQP_BASIC_RETURN_METHOD: {
			amqp_basic_return_t *m = f->payload.method.decoded;

			log_warn("amqp_source: dead-letter copy returned: %u %.*s", m->reply_code,
			    (int)m->reply_text.len, (const char *)m->reply_text.bytes);
			a->ret_state = 1;
			return 0;
		}
		case AMQP_BASIC_CANCEL_METHOD: {
			/* The queue was deleted (or its node lost): that route waits, the others go on. */
			amqp_basic_cancel_t *m = f->payload.method.decoded;
			const struct route *r = route_of(a, m->consumer_tag);

			if (r == NULL) {
				disconnect(a, "the broker cancelled an unknown consumer");
				return -1;
			}
			park(a, (size_t)(r - a->routes->v), "consume",
			    "the broker cancelled the consumer (queue deleted?)");
			return 0;
		}
		case AMQP_BASIC_CANCEL_OK_METHOD:
			if (a->cancels > 0)
				a->cancels--;
			return 0;
		case AMQP_BASIC_CONSUME_OK_METHOD:
			return 0;
		case AMQP_CONNECTION_CLOSE_METHOD:
		case AMQP_CHANNEL_CLOSE_METHOD:
			server_closed(a, f);
			return -1;
		case AMQP_CONNECTION_BLOCKED_METHOD:
			log_warn("amqp_source: the broker blocked publishing (resource alarm)");
			return 0;
		case AMQP_CONNECTION_UNBLOCKED_METHOD:
			log_info("amqp_source: the broker unblocked publishing");
			return 0;
		default:
			log_debug("amqp_source: ignoring method 0x%08x on channel %u", id, f->channel);
			return 0;
		}
	}
	if (f->channel == CH_PUBLISH) {
		/* Content of a returned dead-letter copy: note its seq, skip the body. */
		if (f->frame_type == AMQP_FRAME_HEADER && a->ret_state == 1) {
			uint64_t seq = header_seq(f->payload.properties.decoded);

			if (seq != 0 && a->nreturned < MAX_RETURNED)
				a->returned[a->nreturned++] = seq;
			a->ret_left = f->payload.properties.body_size;
			a->ret_state = a->ret_left > 0 ? 2 : 0;
		} else if (f->frame_type == AMQP_FRAME_BODY && a->ret_state == 2) {
			size_t n = f->payload.body_fragment.len;

			a->ret_left -= n < a->ret_left ? n : a->ret_left;
			if (a->ret_left == 0)
				a->ret_state = 0;
		}
		return 0;
	}
	if (f->channel != CH_CONSUME)
		return 0;
	if (f->frame_type == AMQP_FRAME_HEADER) {
		if (a->rx != RX_HEADER) {
			disconnect(a, "unexpected content header");
			return -1;
		}
		a->rx_size = f->payload.properties.body_size;
		a->rx_props = f->payload.properties.decoded;
		a->rx_got = 0;
		a->rx_slot = a->ops->begin(a->arg, a->rx_route, a->rx_tag, a->rx_redelivered, a->rx_size);
		if (a->rx_slot == NULL) {
			disconnect(a, "no memory for a delivery");
			return -1;
		}
		if (a->rx_size > 0) {
			a->rx = RX_BODY;
			return 0;
		}
	} else if (f->frame_type == AMQP_FRAME_BODY) {
		size_t n = f->payload.body_fragment.len;

		if (a->rx != RX_BODY || n > a->rx_size - a->rx_got) {
			disconnect(a, "unexpected body frame");
			return -1;
		}
		memcpy(a->rx_slot->body + a->rx_got, f->payload.body_fragment.bytes, n);
		a->rx_got += n;
		if (a->rx_got < a->rx_size)
			return 0;
	} else {
		return 0;
	}
	a->rx_slot->body_len = a->rx_size;
	a->rx = RX_METHOD;
	a->ops->delivered(a->arg, a->rx_slot, a->rx_props, a->rx_exchange, a->rx_routing_key);
	a->rx_slot = NULL;
	a->rx_props = NULL;
	if (a->conn != NULL)
		amqp_maybe_release_buffers_on_channel(a->conn, CH_CONSUME);
	return 1;
}

void
amqp_source_saw_input(struct amqp_source *a, uint64_t now_ms)
{
	a->last_rx_ms = now_ms;
}

int
amqp_source_read(struct amqp_source *a, uint64_t now_ms, int max)
{
	static const struct timeval zero = { 0, 0 };
	int n = 0;

	if (a->conn == NULL)
		return 0;
	a->last_service_ms = now_ms;
	for (;;) {
		amqp_frame_t f;
		int rc;

		if (max > 0 && n >= max && a->rx == RX_METHOD)
			break;
		rc = amqp_simple_wait_frame_noblock(a->conn, &f, &zero);
		if (rc == AMQP_STATUS_TIMEOUT)
			break;
		if (rc != AMQP_STATUS_OK) {
			disconnect(a, amqp_error_string2(rc));
			return n;
		}
		a->last_rx_ms = now_ms;
		rc = handle_frame(a, &f);
		if (rc < 0 || a->conn == NULL)
			return n + (rc > 0);
		n += rc;
	}
	if (a->rx == RX_METHOD && a->ret_state == 0 && amqp_release_buffers_ok(a->conn))
		amqp_release_buffers(a->conn);
	return n;
}

int
amqp_source_ack(struct amqp_source *a, uint64_t tag, int multiple)
{
	int rc;

	if (a->conn == NULL)
		return -1;
	rc = amqp_basic_ack(a->conn, CH_CONSUME, tag, multiple);
	if (rc != AMQP_STATUS_OK) {
		disconnect(a, amqp_error_string2(rc));
		return -1;
	}
	return 0;
}

static amqp_table_entry_t
str_entry(const char *key, const char *value)
{
	amqp_table_entry_t e;

	e.key = amqp_cstring_bytes(key);
	e.value.kind = AMQP_FIELD_KIND_UTF8;
	e.value.value.bytes = amqp_cstring_bytes(value);
	return e;
}

int
amqp_source_dead_letter(struct amqp_source *a, const struct slot *s,
    const amqp_basic_properties_t *props, uint64_t *seq)
{
	amqp_basic_properties_t p;
	amqp_table_entry_t *entries;
	int nold = 0, rc;
	char when[40];
	struct timespec ts;
	struct tm tm;
	amqp_bytes_t body = { .len = s->body_len, .bytes = s->body };

	if (a->conn == NULL)
		return -1;
	if (props != NULL) {
		p = *props;
	} else {
		memset(&p, 0, sizeof(p));
	}
	if (p._flags & AMQP_BASIC_HEADERS_FLAG)
		nold = p.headers.num_entries;
	entries = calloc((size_t)nold + 9, sizeof(*entries));
	if (entries == NULL)
		return -1;
	/*
	 * The message's own headers, but not the relay's from an earlier
	 * dead-lettering (a replayed copy): those are written afresh below.
	 * The replay count stays.
	 */
	{
		int k = 0;

		for (int i = 0; i < nold; i++) {
			const amqp_bytes_t *key = &p.headers.entries[i].key;

			if (key->len >= sizeof(HDR_OWN) - 1 &&
			    memcmp(key->bytes, HDR_OWN, sizeof(HDR_OWN) - 1) == 0 &&
			    !(key->len == sizeof(HDR_REPLAYS) - 1 &&
			    memcmp(key->bytes, HDR_REPLAYS, key->len) == 0))
				continue;
			entries[k++] = p.headers.entries[i];
		}
		nold = k;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, 24, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(when + strlen(when), sizeof(when) - strlen(when), ".%03ldZ", ts.tv_nsec / 1000000);
	entries[nold + 0] = str_entry("x-event-relay-reason", dlq_reason_name(s->reason));
	entries[nold + 1] = str_entry("x-event-relay-time", when);
	entries[nold + 2] = str_entry("x-event-relay-worker", a->worker_name);
	entries[nold + 3] = str_entry("x-event-relay-queue", s->route->queue);
	entries[nold + 4] = str_entry("x-event-relay-route", s->route->name);
	entries[nold + 6].key = amqp_cstring_bytes("x-event-relay-exchange");
	entries[nold + 6].value.kind = AMQP_FIELD_KIND_UTF8;
	entries[nold + 6].value.value.bytes = s->exchange;
	entries[nold + 7].key = amqp_cstring_bytes("x-event-relay-routing-key");
	entries[nold + 7].value.kind = AMQP_FIELD_KIND_UTF8;
	entries[nold + 7].value.value.bytes = s->routing_key;
	entries[nold + 5].key = amqp_cstring_bytes(HDR_SEQ);
	entries[nold + 5].value.kind = AMQP_FIELD_KIND_I64;
	entries[nold + 5].value.value.i64 = (int64_t)(a->publish_seq + 1);
	p.headers.num_entries = nold + 8;
	if (s->detail != NULL)
		entries[p.headers.num_entries++] = str_entry("x-event-relay-error", s->detail);
	p.headers.entries = entries;
	p._flags |= AMQP_BASIC_HEADERS_FLAG;
	if (!(p._flags & AMQP_BASIC_DELIVERY_MODE_FLAG)) {
		p._flags |= AMQP_BASIC_DELIVERY_MODE_FLAG;
		p.delivery_mode = 2;
	}
	rc = amqp_basic_publish(a->conn, CH_PUBLISH, amqp_empty_bytes, amqp_cstring_bytes(s->route->dlq),
	    1, 0, &p, body);
	free(entries);
	if (rc != AMQP_STATUS_OK) {
		disconnect(a, amqp_error_string2(rc));
		return -1;
	}
	*seq = ++a->publish_seq;
	return 0;
}

/* Copies a short-string property into the pool if its flag is set. */
static int
clone_prop(const amqp_basic_properties_t *src, amqp_flags_t flag, amqp_bytes_t *dst,
    amqp_bytes_t from, amqp_pool_t *pool)
{
	if (!(src->_flags & flag) || from.len == 0) {
		*dst = amqp_empty_bytes;
		return 0;
	}
	amqp_pool_alloc_bytes(pool, from.len, dst);
	if (dst->bytes == NULL)
		return -1;
	memcpy(dst->bytes, from.bytes, from.len);
	return 0;
}

int
amqp_props_clone(amqp_basic_properties_t *dst, const amqp_basic_properties_t *src, amqp_pool_t *pool)
{
	/* Only flagged members are decoded: the others hold garbage. */
#define CLONE(flag, member) \
	(clone_prop(src, flag, &dst->member, src->member, pool) < 0)
	*dst = *src;
	if (CLONE(AMQP_BASIC_CONTENT_TYPE_FLAG, content_type) ||
	    CLONE(AMQP_BASIC_CONTENT_ENCODING_FLAG, content_encoding) ||
	    CLONE(AMQP_BASIC_CORRELATION_ID_FLAG, correlation_id) ||
	    CLONE(AMQP_BASIC_REPLY_TO_FLAG, reply_to) ||
	    CLONE(AMQP_BASIC_EXPIRATION_FLAG, expiration) ||
	    CLONE(AMQP_BASIC_MESSAGE_ID_FLAG, message_id) ||
	    CLONE(AMQP_BASIC_TYPE_FLAG, type) ||
	    CLONE(AMQP_BASIC_USER_ID_FLAG, user_id) ||
	    CLONE(AMQP_BASIC_APP_ID_FLAG, app_id) ||
	    CLONE(AMQP_BASIC_CLUSTER_ID_FLAG, cluster_id))
		return -1;
#undef CLONE
	if (src->_flags & AMQP_BASIC_HEADERS_FLAG) {
		if (amqp_table_clone(&src->headers, &dst->headers, pool) != AMQP_STATUS_OK)
			return -1;
	} else {
		dst->headers = amqp_empty_table;
	}
	return 0;
}

/* basic.cancel without waiting: deliveries already sent still arrive. */
static void
send_cancel(struct amqp_source *a)
{
	amqp_basic_cancel_t req;

	a->consuming = 0;
	for (size_t i = 0; i < a->routes->n && a->conn != NULL; i++) {
		if (a->parked[i])
			continue;	/* it has no consumer */
		a->cancels++;
		req.consumer_tag = amqp_cstring_bytes(a->tags[i]);
		req.nowait = 0;
		if (amqp_send_method(a->conn, CH_CONSUME, AMQP_BASIC_CANCEL_METHOD, &req) != AMQP_STATUS_OK)
			disconnect(a, "basic.cancel failed");
	}
}

int
amqp_source_cancelling(const struct amqp_source *a)
{
	return a->conn != NULL && a->cancels > 0;
}

void
amqp_source_cancel(struct amqp_source *a)
{
	a->stopped = 1;
	if (a->conn != NULL && a->consuming)
		send_cancel(a);
}

void
amqp_source_pause(struct amqp_source *a, int paused)
{
	a->paused = paused;
	if (a->conn == NULL)
		return;	/* connect_url() consumes or not */
	if (paused && a->consuming) {
		send_cancel(a);
	} else if (!paused && !a->consuming && !a->stopped) {
		for (size_t i = 0; i < a->routes->n && a->conn != NULL; i++) {
			amqp_basic_consume_t req;

			if (a->parked[i])
				continue;	/* retry_parked() consumes it when its queue is back */
			memset(&req, 0, sizeof(req));
			req.queue = amqp_cstring_bytes(a->routes->v[i].queue);
			req.consumer_tag = amqp_cstring_bytes(a->tags[i]);
			req.arguments = amqp_empty_table;
			/* consume-ok is read (and ignored) by the frame reader */
			if (amqp_send_method(a->conn, CH_CONSUME, AMQP_BASIC_CONSUME_METHOD, &req) !=
			    AMQP_STATUS_OK)
				disconnect(a, "basic.consume failed");
		}
		if (a->conn != NULL)
			a->consuming = 1;
	}
}

void
amqp_source_close(struct amqp_source *a)
{
	struct timeval tv = { .tv_sec = 2, .tv_usec = 0 };

	if (a->conn == NULL)
		return;
	amqp_set_rpc_timeout(a->conn, &tv);
	amqp_connection_close(a->conn, AMQP_REPLY_SUCCESS);
	amqp_destroy_connection(a->conn);
	a->conn = NULL;
	set_up(a, 0);
}
