/*
 * amqp_client: blocking AMQP helpers for event-relayctl and the test and
 * bench tools (see amqp_client.h). It owns one connection and, in
 * confirm mode, the confirm bookkeeping of one channel.
 *
 * The one thing to know before changing it: rabbitmq-c 0.11 has no
 * publisher-confirm helper. Every publish on the confirm channel takes
 * the next sequence number; basic.ack / basic.nack frames (single or
 * "multiple", in any order) are read with amqp_simple_wait_frame*, and
 * at most `window` publishes stay unconfirmed, so a publisher never
 * waits for a confirm per message. Frames of other channels that arrive
 * during an RPC (a confirm during a basic.get, say) are queued by
 * rabbitmq-c and come out of the next amqp_simple_wait_frame*.
 */
#include "autoconf.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>

#include "common/amqp_tls.h"
#include "common/amqp_url.h"
#include "ctl/amqp_client.h"

#define CONNECT_TIMEOUT_MS 10000

static void __attribute__((format(printf, 2, 3)))
set_err(struct amqp_client *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
}

void
amqp_client_init(struct amqp_client *c, long timeout_ms)
{
	memset(c, 0, sizeof(*c));
	c->timeout_ms = timeout_ms;
	c->connect_timeout_ms = CONNECT_TIMEOUT_MS;
}

/* A close method's text: "<code> <text>". */
static void
close_text(const amqp_method_t *m, char *buf, size_t sz)
{
	if (m->id == AMQP_CONNECTION_CLOSE_METHOD) {
		const amqp_connection_close_t *x = m->decoded;

		snprintf(buf, sz, "connection closed by broker: %u %.*s", x->reply_code,
		    (int)x->reply_text.len, (const char *)x->reply_text.bytes);
	} else {
		const amqp_channel_close_t *x = m->decoded;

		snprintf(buf, sz, "channel closed by broker: %u %.*s", x->reply_code,
		    (int)x->reply_text.len, (const char *)x->reply_text.bytes);
	}
}

/* The broker's reply code of a close, 0 for anything else. */
static int
reply_code(amqp_rpc_reply_t r)
{
	if (r.reply_type != AMQP_RESPONSE_SERVER_EXCEPTION)
		return 0;
	if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD)
		return ((amqp_connection_close_t *)r.reply.decoded)->reply_code;
	if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD)
		return ((amqp_channel_close_t *)r.reply.decoded)->reply_code;
	return 0;
}

int
amqp_client_reply(struct amqp_client *c, amqp_rpc_reply_t r, const char *what)
{
	char why[512];

	switch (r.reply_type) {
	case AMQP_RESPONSE_NORMAL:
		return 0;
	case AMQP_RESPONSE_NONE:
		snprintf(why, sizeof(why), "missing RPC reply");
		break;
	case AMQP_RESPONSE_LIBRARY_EXCEPTION:
		snprintf(why, sizeof(why), "%s", amqp_error_string2(r.library_error));
		break;
	case AMQP_RESPONSE_SERVER_EXCEPTION:
		if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD ||
		    r.reply.id == AMQP_CHANNEL_CLOSE_METHOD)
			close_text(&r.reply, why, sizeof(why));
		else
			snprintf(why, sizeof(why), "unexpected server method 0x%08x", r.reply.id);
		break;
	default:
		snprintf(why, sizeof(why), "unknown reply type");
		break;
	}
	set_err(c, "%s: %s", what, why);
	return -1;
}

static void
ms_to_tv(long ms, struct timeval *tv)
{
	tv->tv_sec = ms / 1000;
	tv->tv_usec = (ms % 1000) * 1000;
}

int
amqp_client_connect(struct amqp_client *c, const struct amqp_url *u)
{
	long ms = u->connect_timeout_ms > 0 ? u->connect_timeout_ms : c->connect_timeout_ms;
	int frame_max = u->frame_max > 0 ? (int)u->frame_max : AMQP_DEFAULT_FRAME_SIZE;
	int channel_max = u->channel_max >= 0 ? (int)u->channel_max : 0;
	struct timeval tv, rpc;
	struct amqp_tls_state tls;
	amqp_socket_t *sock;
	amqp_rpc_reply_t r;
	char why[512];
	int rc, external;

	c->unreachable = 1;
	ms_to_tv(ms, &tv);
	c->conn = amqp_new_connection();
	if (c->conn == NULL) {
		set_err(c, "out of memory");
		return -1;
	}
	if (u->tls) {
		sock = amqp_tls_socket(c->conn, u, c->tls_cfg, &tls, why, sizeof(why));
		if (sock == NULL) {
			set_err(c, "%s: %s", u->shown, why);
			goto fail;
		}
	} else if ((sock = amqp_tcp_socket_new(c->conn)) == NULL) {
		set_err(c, "%s: cannot create a socket", u->shown);
		goto fail;
	}
	amqp_set_handshake_timeout(c->conn, &tv);
	if (c->timeout_ms > 0) {
		ms_to_tv(c->timeout_ms, &rpc);
		amqp_set_rpc_timeout(c->conn, &rpc);
	}
	rc = amqp_socket_open_noblock(sock, u->host, u->port, &tv);
	if (rc != AMQP_STATUS_OK) {
		if (u->tls && amqp_tls_explain(&tls, rc, why, sizeof(why)))
			set_err(c, "%s: %s", u->shown, why);
		else
			set_err(c, "connect %s:%d (%s): %s", u->host, u->port, u->shown,
			    amqp_error_string2(rc));
		goto fail;
	}
	/* No heartbeats: these programs do nothing but talk to the broker. */
	external = amqp_tls_external(u, c->tls_cfg);
	if (external)
		r = amqp_login(c->conn, u->vhost, channel_max, frame_max, 0,
		    AMQP_SASL_METHOD_EXTERNAL, AMQP_TLS_EXTERNAL_IDENTITY);
	else
		r = amqp_login(c->conn, u->vhost, channel_max, frame_max, 0, AMQP_SASL_METHOD_PLAIN,
		    u->user, u->password);
	if (r.reply_type != AMQP_RESPONSE_NORMAL) {
		/* A refusal is an answer: only a failed handshake is "unreachable". */
		c->unreachable = r.reply_type != AMQP_RESPONSE_SERVER_EXCEPTION;
		amqp_client_reply(c, r, "login");
		snprintf(why, sizeof(why), "%s", c->err + strlen("login: "));
		if (external)
			set_err(c, "%s: login with the client certificate (EXTERNAL) to vhost \"%s\" "
			    "failed: %s", u->shown, u->vhost, why);
		else
			set_err(c, "%s: login as user \"%s\" to vhost \"%s\" failed: %s", u->shown,
			    u->user, u->vhost, why);
		goto fail;
	}
	c->unreachable = 0;
	return 0;
fail:
	amqp_destroy_connection(c->conn);
	c->conn = NULL;
	return -1;
}

/* Appends s to the string in buf (size sz), cut to fit. */
static void
append(char *buf, size_t sz, const char *s)
{
	size_t n = strlen(buf), m = strlen(s);

	if (m > sz - 1 - n)
		m = sz - 1 - n;
	memcpy(buf + n, s, m);
	buf[n + m] = '\0';
}

int
amqp_client_connect_str(struct amqp_client *c, const char *urls)
{
	struct amqp_url *v;
	char msg[256], all[sizeof(c->err)] = "";
	int n, unreachable = 1;

	v = calloc(AMQP_URL_MAX, sizeof(*v));
	if (v == NULL) {
		set_err(c, "out of memory");
		return -1;
	}
	n = amqp_url_parse_list(urls, v, AMQP_URL_MAX, msg, sizeof(msg));
	if (n <= 0) {
		set_err(c, "bad URL: %s", msg);
		c->unreachable = 0;
		free(v);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		if (amqp_client_connect(c, &v[i]) == 0) {
			free(v);
			return 0;
		}
		unreachable &= c->unreachable;
		/* Every URL's failure, in order: "...; ..." */
		if (i > 0)
			append(all, sizeof(all), "; ");
		append(all, sizeof(all), c->err);
	}
	memcpy(c->err, all, sizeof(all));
	c->unreachable = unreachable;
	free(v);
	return -1;
}

int
amqp_client_channel_open(struct amqp_client *c, amqp_channel_t ch)
{
	amqp_channel_open(c->conn, ch);
	return amqp_client_reply(c, amqp_get_rpc_reply(c->conn), "channel.open");
}

int
amqp_client_queue_declare(struct amqp_client *c, amqp_channel_t ch, const char *queue,
    int passive, uint32_t *ready)
{
	amqp_queue_declare_ok_t *ok;
	amqp_rpc_reply_t r;

	ok = amqp_queue_declare(c->conn, ch, amqp_cstring_bytes(queue), passive, 1, 0, 0,
	    amqp_empty_table);
	r = amqp_get_rpc_reply(c->conn);
	if (amqp_client_reply(c, r, "queue.declare") < 0) {
		if (passive && reply_code(r) == AMQP_NOT_FOUND) {
			amqp_channel_close_ok_t close_ok;

			/* The channel is closed; answer so the connection stays usable. */
			amqp_send_method(c->conn, ch, AMQP_CHANNEL_CLOSE_OK_METHOD, &close_ok);
			return -2;
		}
		return -1;
	}
	if (ready != NULL)
		*ready = ok->message_count;
	return 0;
}

int
amqp_client_confirm_select(struct amqp_client *c, amqp_channel_t ch, unsigned window,
    amqp_client_confirm_fn on_confirm, void *arg)
{
	if (window == 0)
		window = 1;
	free(c->done);
	c->done = calloc(window, 1);
	if (c->done == NULL) {
		set_err(c, "out of memory");
		return -1;
	}
	amqp_confirm_select(c->conn, ch);
	if (amqp_client_reply(c, amqp_get_rpc_reply(c->conn), "confirm.select") < 0)
		return -1;
	c->confirm_ch = ch;
	c->window = window;
	c->next_seq = c->lowest = 1;
	c->nacked = 0;
	c->on_confirm = on_confirm;
	c->confirm_arg = arg;
	return 0;
}

uint64_t
amqp_client_unconfirmed(const struct amqp_client *c)
{
	return c->confirm_ch != 0 ? c->next_seq - c->lowest : 0;
}

static int
confirm(struct amqp_client *c, uint64_t seq, int multiple, int ok)
{
	uint64_t s;

	if (seq >= c->next_seq) {
		set_err(c, "broker confirmed tag %" PRIu64 " never published", seq);
		return -1;
	}
	/* Below lowest: already covered by an earlier "multiple" confirm. */
	for (s = multiple ? c->lowest : seq; s <= seq && s >= c->lowest; s++) {
		if (c->done[s % c->window])
			continue;
		c->done[s % c->window] = 1;
		if (!ok)
			c->nacked++;
		if (c->on_confirm != NULL)
			c->on_confirm(c->confirm_arg, s, ok);
	}
	while (c->lowest < c->next_seq && c->done[c->lowest % c->window]) {
		c->done[c->lowest % c->window] = 0;
		c->lowest++;
	}
	return 0;
}

/*
 * Reads one frame and handles it: 1 handled, 0 none ready (block 0) or
 * none within c->timeout_ms, -1 on error. A close from the broker and a
 * returned publish are errors.
 */
static int
handle_frame(struct amqp_client *c, int block)
{
	struct timeval tv = { 0, 0 };
	amqp_frame_t f;
	int rc;

	if (block && c->timeout_ms <= 0) {
		rc = amqp_simple_wait_frame(c->conn, &f);
	} else {
		if (block)
			ms_to_tv(c->timeout_ms, &tv);
		rc = amqp_simple_wait_frame_noblock(c->conn, &f, &tv);
	}
	if (rc == AMQP_STATUS_TIMEOUT) {
		if (block)
			set_err(c, "no confirm from the broker within %ld s (a resource alarm "
			    "blocking publishers?)", c->timeout_ms / 1000);
		return block ? -1 : 0;
	}
	if (rc != AMQP_STATUS_OK) {
		set_err(c, "reading confirms: %s", amqp_error_string2(rc));
		return -1;
	}
	if (f.frame_type != AMQP_FRAME_METHOD)
		return 1;
	switch (f.payload.method.id) {
	case AMQP_BASIC_ACK_METHOD: {
		amqp_basic_ack_t *m = f.payload.method.decoded;

		if (f.channel == c->confirm_ch && confirm(c, m->delivery_tag, m->multiple, 1) < 0)
			return -1;
		break;
	}
	case AMQP_BASIC_NACK_METHOD: {
		amqp_basic_nack_t *m = f.payload.method.decoded;

		if (f.channel == c->confirm_ch && confirm(c, m->delivery_tag, m->multiple, 0) < 0)
			return -1;
		break;
	}
	case AMQP_BASIC_RETURN_METHOD: {
		amqp_basic_return_t *m = f.payload.method.decoded;

		set_err(c, "a message was returned by the broker: %u %.*s", m->reply_code,
		    (int)m->reply_text.len, (const char *)m->reply_text.bytes);
		return -1;
	}
	case AMQP_CHANNEL_CLOSE_METHOD:
	case AMQP_CONNECTION_CLOSE_METHOD:
		close_text(&f.payload.method, c->err, sizeof(c->err));
		return -1;
	default:
		break;
	}
	amqp_maybe_release_buffers(c->conn);
	return 1;
}

int
amqp_client_take_confirms(struct amqp_client *c)
{
	int rc;

	while ((rc = handle_frame(c, 0)) > 0)
		;
	return rc;
}

int
amqp_client_wait_confirms(struct amqp_client *c)
{
	while (c->lowest < c->next_seq)
		if (handle_frame(c, 1) < 0)
			return -1;
	return 0;
}

int
amqp_client_publish(struct amqp_client *c, amqp_channel_t ch, const char *exchange,
    const char *routing_key, int mandatory, const amqp_basic_properties_t *props,
    const void *body, size_t len, uint64_t *seq)
{
	amqp_bytes_t b = { .len = len, .bytes = (void *)body };
	int confirming = ch == c->confirm_ch && ch != 0;
	int rc;

	/* Keep the window: wait for confirms while it is full. */
	while (confirming && c->next_seq - c->lowest >= c->window)
		if (handle_frame(c, 1) < 0)
			return -1;
	rc = amqp_basic_publish(c->conn, ch, amqp_cstring_bytes(exchange),
	    amqp_cstring_bytes(routing_key), mandatory, 0, props, b);
	if (rc != AMQP_STATUS_OK) {
		set_err(c, "basic.publish: %s", amqp_error_string2(rc));
		return -1;
	}
	if (!confirming)
		return 0;
	if (seq != NULL)
		*seq = c->next_seq;
	c->next_seq++;
	/*
	 * Take the confirms that have arrived, without blocking: always when
	 * they are already buffered, otherwise (a read system call) only once
	 * half the window is in flight.
	 */
	if (amqp_frames_enqueued(c->conn) || amqp_data_in_buffer(c->conn) ||
	    c->next_seq - c->lowest >= c->window / 2)
		return amqp_client_take_confirms(c);
	return 0;
}

int
amqp_client_get(struct amqp_client *c, amqp_channel_t ch, const char *queue, int no_ack,
    struct amqp_client_msg *msg)
{
	amqp_rpc_reply_t r;
	amqp_basic_get_ok_t *ok;

	memset(msg, 0, sizeof(*msg));
	r = amqp_basic_get(c->conn, ch, amqp_cstring_bytes(queue), no_ack);
	if (amqp_client_reply(c, r, "basic.get") < 0)
		return -1;
	if (r.reply.id == AMQP_BASIC_GET_EMPTY_METHOD)
		return 0;
	ok = r.reply.decoded;
	msg->tag = ok->delivery_tag;
	msg->redelivered = ok->redelivered;
	if (amqp_client_reply(c, amqp_read_message(c->conn, ch, &msg->m, 0), "read message") < 0)
		return -1;
	amqp_maybe_release_buffers(c->conn);
	return 1;
}

void
amqp_client_msg_free(struct amqp_client *c, struct amqp_client_msg *msg)
{
	amqp_destroy_message(&msg->m);
	memset(msg, 0, sizeof(*msg));
	if (c->conn != NULL)
		amqp_maybe_release_buffers(c->conn);
}

static int
sent(struct amqp_client *c, int rc, const char *what)
{
	if (rc == AMQP_STATUS_OK)
		return 0;
	set_err(c, "%s: %s", what, amqp_error_string2(rc));
	return -1;
}

int
amqp_client_ack(struct amqp_client *c, amqp_channel_t ch, uint64_t tag, int multiple)
{
	return sent(c, amqp_basic_ack(c->conn, ch, tag, multiple), "basic.ack");
}

int
amqp_client_nack(struct amqp_client *c, amqp_channel_t ch, uint64_t tag, int multiple,
    int requeue)
{
	return sent(c, amqp_basic_nack(c->conn, ch, tag, multiple, requeue), "basic.nack");
}

int
amqp_client_reject(struct amqp_client *c, amqp_channel_t ch, uint64_t tag, int requeue)
{
	return sent(c, amqp_basic_reject(c->conn, ch, tag, requeue), "basic.reject");
}

const amqp_field_value_t *
amqp_client_header(const amqp_basic_properties_t *p, const char *name)
{
	size_t n = strlen(name);

	if (!(p->_flags & AMQP_BASIC_HEADERS_FLAG))
		return NULL;
	for (int i = 0; i < p->headers.num_entries; i++) {
		const amqp_table_entry_t *e = &p->headers.entries[i];

		if (e->key.len == n && memcmp(e->key.bytes, name, n) == 0)
			return &e->value;
	}
	return NULL;
}

int
amqp_client_close(struct amqp_client *c, amqp_channel_t ch)
{
	int rc = 0;

	if (c->conn == NULL)
		return 0;
	if (ch != 0)
		rc = amqp_client_reply(c, amqp_channel_close(c->conn, ch, AMQP_REPLY_SUCCESS),
		    "channel.close");
	if (rc == 0)
		rc = amqp_client_reply(c, amqp_connection_close(c->conn, AMQP_REPLY_SUCCESS),
		    "connection.close");
	amqp_client_destroy(c);
	return rc;
}

void
amqp_client_destroy(struct amqp_client *c)
{
	if (c->conn != NULL)
		amqp_destroy_connection(c->conn);
	c->conn = NULL;
	free(c->done);
	c->done = NULL;
	c->confirm_ch = 0;
}
