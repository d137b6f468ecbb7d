/*
 * trace_export: libcurl's multi interface in the worker's poll loop
 * (trace_export.h).
 *
 * Owns the multi handle, its one easy handle and the sockets libcurl
 * asked to be watched. The one thing to know: libcurl's callbacks only
 * record what it wants (a socket's events, a deadline); it is called
 * back from trace_export_handle(), never from inside a callback.
 */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/log.h"
#include "worker/trace_export.h"

#define MAX_SOCKS 4
#define UPLOAD_BUFFER (1024L * 1024)

struct trace_export {
	CURLM *multi;
	CURL *easy;
	struct curl_slist *headers;
	int busy;
	struct {
		curl_socket_t fd;
		short events;
	} socks[MAX_SOCKS];
	int nsocks;
	uint64_t timer_ms;	/* UINT64_MAX: none */
	uint64_t now_ms;
	char errbuf[CURL_ERROR_SIZE];
};

static int
sock_cb(CURL *e, curl_socket_t fd, int what, void *arg, void *sockp)
{
	struct trace_export *x = arg;
	int i;

	(void)e;
	(void)sockp;
	for (i = 0; i < x->nsocks && x->socks[i].fd != fd; i++)
		;
	if (what == CURL_POLL_REMOVE) {
		if (i < x->nsocks)
			x->socks[i] = x->socks[--x->nsocks];
		return 0;
	}
	if (i == x->nsocks) {
		if (x->nsocks == MAX_SOCKS) {
			log_error("trace_export: libcurl wants more than %d sockets", MAX_SOCKS);
			return -1;
		}
		x->nsocks++;
		x->socks[i].fd = fd;
	}
	x->socks[i].events = (short)(((what & CURL_POLL_IN) ? POLLIN : 0) |
	    ((what & CURL_POLL_OUT) ? POLLOUT : 0));
	return 0;
}

static int
timer_cb(CURLM *m, long timeout_ms, void *arg)
{
	struct trace_export *x = arg;

	(void)m;
	x->timer_ms = timeout_ms < 0 ? UINT64_MAX : mono_ms() + (uint64_t)timeout_ms;
	return 0;
}

/* The response body says nothing we act on: read and forget it. */
static size_t
discard_cb(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

struct hdr_ctx {
	struct curl_slist *list;
	int failed;
};

static void
add_header(void *arg, const char *key, const char *value)
{
	struct hdr_ctx *c = arg;
	char line[4400];
	struct curl_slist *l;

	snprintf(line, sizeof(line), "%s: %s", key, value);
	l = curl_slist_append(c->list, line);
	explicit_bzero(line, sizeof(line));
	if (l == NULL)
		c->failed = 1;
	else
		c->list = l;
}

struct trace_export *
trace_export_new(const char *url, const char *headers, long timeout_ms)
{
	struct trace_export *x = calloc(1, sizeof(*x));
	struct hdr_ctx hc = { NULL, 0 };
	char why[128], ua[64];

	if (x == NULL) {
		log_error("trace_export: out of memory");
		return NULL;
	}
	x->timer_ms = UINT64_MAX;
	hc.list = curl_slist_append(NULL, "Content-Type: application/json");
	if (hc.list != NULL)
		hc.list = curl_slist_append(hc.list, "Expect:");
	if (hc.list == NULL || config_kv_split(headers, add_header, &hc, why, sizeof(why)) < 0 ||
	    hc.failed) {
		log_error("trace_export: cannot build the request headers");
		curl_slist_free_all(hc.list);
		free(x);
		return NULL;
	}
	x->headers = hc.list;
	x->multi = curl_multi_init();
	x->easy = curl_easy_init();
	if (x->multi == NULL || x->easy == NULL) {
		log_error("trace_export: libcurl could not start");
		trace_export_free(x);
		return NULL;
	}
	snprintf(ua, sizeof(ua), "event-relay/%s", PACKAGE_VERSION);
	curl_multi_setopt(x->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
	curl_multi_setopt(x->multi, CURLMOPT_SOCKETDATA, x);
	curl_multi_setopt(x->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(x->multi, CURLMOPT_TIMERDATA, x);
	curl_multi_setopt(x->multi, CURLMOPT_MAXCONNECTS, 1L);
	if (curl_easy_setopt(x->easy, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(x->easy, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK) {
		log_error("trace_export: libcurl does not take the URL");
		trace_export_free(x);
		return NULL;
	}
	curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->headers);
	curl_easy_setopt(x->easy, CURLOPT_USERAGENT, ua);
	curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
	curl_easy_setopt(x->easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(x->easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, discard_cb);
	curl_easy_setopt(x->easy, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(x->easy, CURLOPT_POST, 1L);
	/*
	 * A batch is hundreds of KB: sent 64 KB (the default) per call,
	 * it took a dozen poll-loop steps, 2 ms apart when busy.
	 */
	curl_easy_setopt(x->easy, CURLOPT_UPLOAD_BUFFERSIZE, UPLOAD_BUFFER);
	return x;
}

void
trace_export_free(struct trace_export *x)
{
	if (x == NULL)
		return;
	if (x->busy)
		curl_multi_remove_handle(x->multi, x->easy);
	if (x->easy != NULL)
		curl_easy_cleanup(x->easy);
	if (x->multi != NULL)
		curl_multi_cleanup(x->multi);
	curl_slist_free_all(x->headers);	/* may hold a token: libcurl copied it */
	free(x);
}

int
trace_export_busy(const struct trace_export *x)
{
	return x->busy;
}

int
trace_export_post(struct trace_export *x, const char *body, size_t len, uint64_t now_ms)
{
	CURLMcode rc;

	if (x->busy)
		return -1;
	x->now_ms = now_ms;
	x->errbuf[0] = '\0';
	curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, body);
	rc = curl_multi_add_handle(x->multi, x->easy);
	if (rc != CURLM_OK) {
		log_error("trace_export: curl_multi_add_handle: %s", curl_multi_strerror(rc));
		return -1;
	}
	x->busy = 1;
	return 0;
}

int
trace_export_pollfds(const struct trace_export *x, struct pollfd *pfd, int max)
{
	int n = 0;

	for (int i = 0; i < x->nsocks && n < max; i++)
		if (x->socks[i].events != 0)
			pfd[n++] = (struct pollfd){ .fd = x->socks[i].fd, .events = x->socks[i].events };
	return n;
}

uint64_t
trace_export_next_due(const struct trace_export *x)
{
	return x->timer_ms;
}

int
trace_export_handle(struct trace_export *x, const struct pollfd *pfd, int n, uint64_t now_ms,
    struct export_result *res)
{
	int running, left;
	CURLMsg *msg;

	x->now_ms = now_ms;
	for (int i = 0; i < n; i++) {
		int ev = 0;

		if (pfd[i].revents == 0)
			continue;
		if (pfd[i].revents & (POLLIN | POLLHUP))
			ev |= CURL_CSELECT_IN;
		if (pfd[i].revents & POLLOUT)
			ev |= CURL_CSELECT_OUT;
		if (pfd[i].revents & (POLLERR | POLLNVAL))
			ev |= CURL_CSELECT_ERR;
		curl_multi_socket_action(x->multi, pfd[i].fd, ev, &running);
	}
	if (x->timer_ms != UINT64_MAX && now_ms >= x->timer_ms) {
		x->timer_ms = UINT64_MAX;
		curl_multi_socket_action(x->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	}
	while ((msg = curl_multi_info_read(x->multi, &left)) != NULL) {
		curl_off_t ra = 0;

		if (msg->msg != CURLMSG_DONE)
			continue;
		memset(res, 0, sizeof(*res));
		if (msg->data.result == CURLE_OK) {
			curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &res->status);
			if (curl_easy_getinfo(x->easy, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0)
				res->retry_after_ms = (uint64_t)ra * 1000;
		} else {
			snprintf(res->error, sizeof(res->error), "%s",
			    x->errbuf[0] != '\0' ? x->errbuf : curl_easy_strerror(msg->data.result));
		}
		curl_multi_remove_handle(x->multi, x->easy);
		x->busy = 0;
		return 1;
	}
	return 0;
}
