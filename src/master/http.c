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
 */
#include "autoconf.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "common/config.h"
#include "common/log.h"
#include "common/stats.h"
#include "master/http.h"

struct http {
	struct MHD_Daemon *d;
	const struct stats_shm *shm;
	http_status_fn status;
	void *status_arg;
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

static enum MHD_Result
handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
    const char *version, const char *upload, size_t *upload_size, void **state)
{
	struct http *h = cls;

	(void)version;
	(void)upload;
	if (*state == NULL) {	/* first call: headers only */
		*state = h;
		return MHD_YES;
	}
	if (*upload_size != 0) {
		*upload_size = 0;
		return MHD_YES;
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return reply_text(c, 405, "method not allowed\n");
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

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[512];

	(void)cls;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	buf[strcspn(buf, "\n")] = '\0';
	log_warn("http: %s", buf);
}

struct http *
http_start(const char *listen, const struct stats_shm *shm, http_status_fn status, void *arg)
{
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
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
	    MHD_OPTION_SOCK_ADDR, ai->ai_addr,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
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
		return 1000;
	return (int)t;
}

void
http_run(struct http *h)
{
	MHD_run(h->d);
}
