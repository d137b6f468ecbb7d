/*
 * http: request routing and the /ready report.
 *
 * /metrics renders the shared-memory segment; /health answers 200 while
 * the master runs; /ready answers 200 only when every worker is ready
 * by stats_slot_ready (running and connected to RabbitMQ, Kafka and
 * Redis: the rule sd_notify shares), else 503 with one line per worker
 * that is not; /status is the master's JSON report (status.c). All of
 * it is read-only: what changes the daemon is on the control socket
 * (control.c), never here. The epoll fd of libmicrohttpd is the one fd the
 * master polls for HTTP.
 *
 * Hostile clients: connections are bounded in total
 * (metrics.max_connections) and per client address
 * (metrics.max_connections_per_client, refused at accept); a request's
 * headers must arrive within metrics.request_timeout of its start, and
 * a connection idle that long is closed. The last eighth of the
 * connections is a reserve for the kubelet and the init script: a
 * connection accepted while the others are taken may only ask /health
 * or /ready (anything else: 503 and close) and is dropped after one
 * idle second. libmicrohttpd cannot route before the headers are read,
 * so the reserve is kept by the deadline, not by the path.
 *
 * The one thing to know: libmicrohttpd owns each connection's socket. A
 * request past its header deadline is ended with shutdown(2) on it,
 * never close(2): the library then sees the end of the stream and
 * closes and frees the connection itself.
 */
#include "autoconf.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/log.h"
#include "common/stats.h"
#include "master/http.h"

/* One open connection, from libmicrohttpd's NOTIFY_CONNECTION to its close. */
struct conn {
	struct conn *prev, *next;
	struct MHD_Connection *c;
	uint64_t start_ms;	/* accepted, or its last request completed */
	int fd;
	unsigned in_request;	/* headers read: the handler has it */
	unsigned reserve;	/* accepted into the reserve: /health and /ready only */
	unsigned cut;		/* shut down past its header deadline */
};

struct http {
	struct MHD_Daemon *d;
	const struct stats_shm *shm;
	http_status_fn status;
	void *status_arg;
	struct conn *conns;	/* every open connection */
	unsigned nconn, max_conn, reserve;
	uint64_t header_ms;	/* metrics.request_timeout */
	struct log_repeat refused_log, cut_log, mhd_log;
};

static enum MHD_Result
reply(struct MHD_Connection *c, unsigned status, const char *type, char *body, size_t len,
    enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
	enum MHD_Result ret;

	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
reply_text(struct MHD_Connection *c, unsigned status, const char *text)
{
	return reply(c, status, "text/plain; charset=utf-8", (char *)text, strlen(text),
	    MHD_RESPMEM_PERSISTENT);
}

static enum MHD_Result
serve_metrics(struct http *h, struct MHD_Connection *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	/*
	 * Give back what earlier responses and connections left free:
	 * scraped every few ms, the heap otherwise fragments and the
	 * master's resident size creeps up by hundreds of KiB.
	 */
	malloc_trim(0);
	f = open_memstream(&buf, &len);

	if (f == NULL)
		return reply_text(c, 500, "out of memory\n");
	stats_render_prometheus(h->shm, f);
	if (fclose(f) != 0) {
		free(buf);
		return reply_text(c, 500, "out of memory\n");
	}
	return reply(c, 200, "text/plain; version=0.0.4; charset=utf-8", buf, len, MHD_RESPMEM_MUST_FREE);
}

static enum MHD_Result
serve_ready(struct http *h, struct MHD_Connection *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int ready = 1;

	if (f == NULL)
		return reply_text(c, 500, "out of memory\n");
	for (uint32_t i = 0; i < h->shm->nworkers; i++) {
		const struct worker_slot *s = stats_active_c(h->shm, i);
		struct slot_readiness r;

		if (stats_slot_ready(s, &r))
			continue;
		ready = 0;
		/* "worker 0: amqp: vhost "x" not found (starting; rabbitmq=down ...)" */
		fprintf(f, "worker %u: ", i);
		for (int k = 0; k < REASON_COUNT; k++) {
			char why[sizeof(s->reason[k].text)];

			if (stats_reason_get(&s->reason[k], why, sizeof(why)) > 0)
				fprintf(f, "%s; ", why);
		}
		fprintf(f, "%s: rabbitmq=%s kafka=%s redis=%s\n",
		    r.state < WS_STATE_COUNT ? worker_state_names[r.state] : "?",
		    r.amqp ? "up" : "down", r.kafka ? "up" : "down", r.redis ? "up" : "down");
	}
	if (ready)
		fputs("ready\n", f);
	if (fclose(f) != 0) {
		free(buf);
		return reply_text(c, 500, "out of memory\n");
	}
	return reply(c, ready ? 200 : 503, "text/plain; charset=utf-8", buf, len, MHD_RESPMEM_MUST_FREE);
}

static enum MHD_Result
serve_status(struct http *h, struct MHD_Connection *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	const char *fmt = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "format");
	int text = fmt != NULL && strcmp(fmt, "text") == 0;

	if (f == NULL)
		return reply_text(c, 500, "out of memory\n");
	h->status(h->status_arg, f, text);
	if (fclose(f) != 0) {
		free(buf);
		return reply_text(c, 500, "out of memory\n");
	}
	return reply(c, 200, text ? "text/plain; charset=utf-8" : "application/json", buf, len,
	    MHD_RESPMEM_MUST_FREE);
}

/* Our record of connection c; NULL if it has none (out of memory at accept). */
static struct conn *
conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *i =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return i != NULL ? i->socket_context : NULL;
}

static enum MHD_Result
reply_busy(struct MHD_Connection *c)
{
	static const char text[] = "busy: only /health and /ready are served now\n";
	struct MHD_Response *r = MHD_create_response_from_buffer(sizeof(text) - 1, (char *)text,
	    MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "text/plain; charset=utf-8");
	MHD_add_response_header(r, "Connection", "close");
	MHD_add_response_header(r, "Retry-After", "1");
	ret = MHD_queue_response(c, 503, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
    const char *version, const char *upload, size_t *upload_size, void **state)
{
	struct http *h = cls;
	struct conn *k;

	(void)version;
	(void)upload;
	if (*state == NULL) {	/* first call: headers only */
		*state = h;
		if ((k = conn_of(c)) != NULL)
			k->in_request = 1;
		return MHD_YES;
	}
	if (*upload_size != 0) {
		*upload_size = 0;
		return MHD_YES;
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return reply_text(c, 405, "method not allowed\n");
	if ((k = conn_of(c)) != NULL && k->reserve && strcmp(url, "/health") != 0 &&
	    strcmp(url, "/ready") != 0)
		return reply_busy(c);
	if (strcmp(url, "/metrics") == 0)
		return serve_metrics(h, c);
	if (strcmp(url, "/health") == 0)
		return reply_text(c, 200, "ok\n");
	if (strcmp(url, "/ready") == 0)
		return serve_ready(h, c);
	if (strcmp(url, "/status") == 0)
		return serve_status(h, c);
	return reply_text(c, 404, "not found: try /metrics, /health, /ready or /status\n");
}

/* A request ended: the connection's next request gets its own header deadline. */
static void
completed(void *cls, struct MHD_Connection *c, void **state, enum MHD_RequestTerminationCode toe)
{
	struct conn *k = conn_of(c);

	(void)cls;
	(void)state;
	(void)toe;
	if (k != NULL) {
		k->in_request = 0;
		k->start_ms = mono_ms();
	}
}

static void
notify(void *cls, struct MHD_Connection *c, void **socket_context,
    enum MHD_ConnectionNotificationCode code)
{
	struct http *h = cls;
	struct conn *k = *socket_context;
	const union MHD_ConnectionInfo *i;

	if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		if (k == NULL)
			return;
		if (k->prev != NULL)
			k->prev->next = k->next;
		else
			h->conns = k->next;
		if (k->next != NULL)
			k->next->prev = k->prev;
		h->nconn--;
		free(k);
		*socket_context = NULL;
		return;
	}
	if (code != MHD_CONNECTION_NOTIFY_STARTED || (k = calloc(1, sizeof(*k))) == NULL)
		return;	/* without a record: the idle timeout alone applies */
	k->c = c;
	k->start_ms = mono_ms();
	i = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	k->fd = i != NULL ? i->connect_fd : -1;
	k->next = h->conns;
	if (h->conns != NULL)
		h->conns->prev = k;
	h->conns = k;
	*socket_context = k;
	if (++h->nconn > h->max_conn - h->reserve) {
		/* Into the reserve: one idle second, /health and /ready only. */
		k->reserve = 1;
		MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned)1);
	}
}

/* Ends every request whose headers are late (k->fd stays libmicrohttpd's). */
static void
cut_late(struct http *h, uint64_t now)
{
	for (struct conn *k = h->conns; k != NULL; k = k->next) {
		uint64_t limit = k->reserve ? 1000 : h->header_ms;

		if (k->in_request || k->cut || k->fd < 0 || now - k->start_ms < limit)
			continue;
		k->cut = 1;
		shutdown(k->fd, SHUT_RDWR);
		log_repeat(&h->cut_log, now, "http: closing connections whose request did not "
		    "arrive within metrics.request_timeout (%llu ms)",
		    (unsigned long long)h->header_ms);
	}
}

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct http *h = cls;
	char buf[512];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	buf[strcspn(buf, "\n")] = '\0';
	/*
	 * libmicrohttpd speaks once per connection: a client that opens
	 * hundreds, or drops them half-sent, must not flood the log. A
	 * client closing its own connection is not the daemon's problem.
	 */
	if (strstr(buf, "connection limit") != NULL)
		log_repeat(&h->refused_log, mono_ms(), "http: %s (metrics.max_connections, "
		    "metrics.max_connections_per_client)", buf);
	else if (strstr(buf, "closed") != NULL || strstr(buf, "closure") != NULL)
		log_debug("http: %s", buf);
	else
		log_repeat(&h->mhd_log, mono_ms(), "http: %s", buf);
}

struct http *
http_start(const struct er_config *cfg, const struct stats_shm *shm, http_status_fn status,
    void *arg)
{
	const char *listen = cfg->metrics_listen;
	struct http *h = calloc(1, sizeof(*h));
	struct addrinfo hints = { .ai_flags = AI_NUMERICSERV | AI_PASSIVE, .ai_socktype = SOCK_STREAM };
	struct addrinfo *ai = NULL;
	char host[256], port[16];
	int p, rc;
	unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;

	if (h == NULL)
		return NULL;
	h->shm = shm;
	h->status = status;
	h->status_arg = arg;
	h->max_conn = (unsigned)cfg->metrics_max_connections;
	h->reserve = h->max_conn / 8;
	h->header_ms = (uint64_t)cfg->metrics_request_timeout * 1000;
	if (config_split_addr(listen, host, sizeof(host), &p) < 0) {
		log_error("http: bad listen address %s", listen);
		free(h);
		return NULL;
	}
	snprintf(port, sizeof(port), "%d", p);
	rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &ai);
	if (rc != 0) {
		log_error("http: %s: %s", listen, gai_strerror(rc));
		free(h);
		return NULL;
	}
	if (ai->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	h->d = MHD_start_daemon(flags, (uint16_t)p, NULL, NULL, handler, h,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h,
	    MHD_OPTION_SOCK_ADDR, ai->ai_addr,
	    MHD_OPTION_CONNECTION_LIMIT, h->max_conn,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)cfg->metrics_max_connections_per_client,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->metrics_request_timeout,
	    MHD_OPTION_NOTIFY_CONNECTION, notify, h,
	    MHD_OPTION_NOTIFY_COMPLETED, completed, h,
	    MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
	    MHD_OPTION_END);
	freeaddrinfo(ai);
	if (h->d == NULL) {
		log_error("http: cannot listen on %s (in use, or not a local address?)", listen);
		free(h);
		return NULL;
	}
	log_info("http: serving /metrics, /health, /ready and /status on %s", listen);
	return h;
}

void
http_stop(struct http *h)
{
	if (h == NULL)
		return;
	MHD_stop_daemon(h->d);
	free(h);
}

void
http_close_in_child(struct http *h)
{
	const union MHD_DaemonInfo *i;

	if (h == NULL)
		return;
	if ((i = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_LISTEN_FD)) != NULL)
		close(i->listen_fd);
	if ((i = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_EPOLL_FD)) != NULL)
		close(i->epoll_fd);
}

int
http_fd(const struct http *h)
{
	const union MHD_DaemonInfo *i = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_EPOLL_FD);

	return i != NULL ? i->epoll_fd : -1;
}

int
http_timeout_ms(struct http *h)
{
	MHD_UNSIGNED_LONG_LONG t;

	if (MHD_get_timeout(h->d, &t) != MHD_YES || t > 1000)
		t = 1000;
	/* A request still waiting for its headers: wake for its deadline. */
	if (h->conns != NULL && t > 250)
		t = 250;
	return (int)t;
}

void
http_run(struct http *h)
{
	MHD_run(h->d);
	if (h->conns != NULL) {
		cut_late(h, mono_ms());
		MHD_run(h->d);	/* the connections just shut down close now */
	}
}
