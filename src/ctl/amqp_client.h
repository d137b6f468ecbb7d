/*
 * amqp_client: the small blocking AMQP 0-9-1 client shared by
 * event-relayctl's dead-letter commands and the test and bench tools
 * (er-publish, er-get, bare-consumer): connect and log in, open
 * channels, declare or check a queue, basic.get, publish with publisher
 * confirms, ack / nack / reject, close. Never linked into the master
 * (it maps no broker library) nor into the workers, whose reader is a
 * non-blocking state machine of its own (src/worker/amqp_source.c).
 *
 * Errors are not printed here: a function that fails returns -1 and
 * leaves one line in c->err ("what: why"; a URL in it always has its
 * password masked), for the program to print with its own name.
 */
#ifndef ER_AMQP_CLIENT_H
#define ER_AMQP_CLIENT_H

#include <stdint.h>

#include <amqp.h>

struct amqp_url;
struct er_config;

/*
 * Called once per publish the broker confirmed: seq is the publish's
 * number on the confirm channel (1, 2, ...), ok 1 for basic.ack, 0 for
 * basic.nack. A "multiple" confirm is expanded, in increasing seq order.
 */
typedef void (*amqp_client_confirm_fn)(void *arg, uint64_t seq, int ok);

struct amqp_client {
	amqp_connection_state_t conn;
	char err[768];
	int unreachable;	/* the last connect failed before the login */
	long timeout_ms;	/* replies and confirms; 0: wait for ever */
	long connect_timeout_ms;	/* unless the URL says: 10 s after init */
	/*
	 * rabbitmq.tls_* and rabbitmq.auth_mechanism for amqps:// URLs (a
	 * URL's own parameters override them); NULL after init: the URL's
	 * parameters alone, verification on, the system's trust store.
	 */
	const struct er_config *tls_cfg;

	/* publisher confirms, on one channel */
	amqp_channel_t confirm_ch;	/* 0: not in confirm mode */
	uint64_t next_seq;	/* seq of the next publish */
	uint64_t lowest;	/* lowest seq not yet confirmed */
	unsigned window;	/* at most this many unconfirmed publishes */
	unsigned char *done;	/* [seq % window]: confirmed (seq >= lowest) */
	uint64_t nacked;
	amqp_client_confirm_fn on_confirm;
	void *confirm_arg;
};

/* A message taken with basic.get; amqp_client_msg_free releases it. */
struct amqp_client_msg {
	amqp_message_t m;	/* m.properties, m.body */
	uint64_t tag;
	int redelivered;
};

/* Zeroes c; timeout_ms as in struct amqp_client. Connects nothing. */
void amqp_client_init(struct amqp_client *c, long timeout_ms);

/*
 * Connects and logs in (no heartbeats), with the URL's
 * connection_timeout (else c->connect_timeout_ms), frame_max and
 * channel_max; amqps:// as c->tls_cfg and the URL say (see
 * src/common/amqp_tls.h). 0, or -1 (c->unreachable set when no
 * connection to the broker was made at all).
 */
int amqp_client_connect(struct amqp_client *c, const struct amqp_url *u);

/*
 * The same for a rabbitmq.url string, read by src/common/amqp_url.h: a
 * comma-separated list is tried in turn until one logs in.
 */
int amqp_client_connect_str(struct amqp_client *c, const char *urls);

/* 0 for a NORMAL reply, else -1 with c->err "what: why". */
int amqp_client_reply(struct amqp_client *c, amqp_rpc_reply_t r, const char *what);

int amqp_client_channel_open(struct amqp_client *c, amqp_channel_t ch);

/*
 * queue.declare, durable, or passive (a check that it exists, -2 with
 * c->err when it does not; the broker then closes the channel). Sets
 * *ready (if not NULL) to the queue's ready message count.
 */
int amqp_client_queue_declare(struct amqp_client *c, amqp_channel_t ch, const char *queue,
    int passive, uint32_t *ready);

/*
 * confirm.select on `ch`; at most `window` publishes stay unconfirmed
 * (publish waits for confirms beyond that). on_confirm may be NULL;
 * nacks are counted in c->nacked either way.
 */
int amqp_client_confirm_select(struct amqp_client *c, amqp_channel_t ch, unsigned window,
    amqp_client_confirm_fn on_confirm, void *arg);

/*
 * basic.publish; in confirm mode on the confirm channel, *seq (if not
 * NULL) gets its number, and confirms already received are taken (see
 * amqp_client_take_confirms). A basic.return of any publish on the
 * confirm channel is an error: the program cannot tell which one it was.
 */
int amqp_client_publish(struct amqp_client *c, amqp_channel_t ch, const char *exchange,
    const char *routing_key, int mandatory, const amqp_basic_properties_t *props,
    const void *body, size_t len, uint64_t *seq);

/* Takes the confirms that have arrived, without waiting. 0 or -1. */
int amqp_client_take_confirms(struct amqp_client *c);

/* Waits until every publish is confirmed. 0 or -1. */
int amqp_client_wait_confirms(struct amqp_client *c);

/* Publishes sent and not yet confirmed. */
uint64_t amqp_client_unconfirmed(const struct amqp_client *c);

/*
 * basic.get: 1 with *msg filled (free it with amqp_client_msg_free), 0
 * when the queue is empty, -1 on error.
 */
int amqp_client_get(struct amqp_client *c, amqp_channel_t ch, const char *queue, int no_ack,
    struct amqp_client_msg *msg);
void amqp_client_msg_free(struct amqp_client *c, struct amqp_client_msg *msg);

/* basic.ack / basic.nack / basic.reject (sent; the broker answers only errors). */
int amqp_client_ack(struct amqp_client *c, amqp_channel_t ch, uint64_t tag, int multiple);
int amqp_client_nack(struct amqp_client *c, amqp_channel_t ch, uint64_t tag, int multiple,
    int requeue);
int amqp_client_reject(struct amqp_client *c, amqp_channel_t ch, uint64_t tag, int requeue);

/* The header `name` of a message's properties, or NULL. */
const amqp_field_value_t *amqp_client_header(const amqp_basic_properties_t *p,
    const char *name);

/*
 * Closes channel `ch` (0: none) and the connection cleanly, then frees
 * it: 0, or -1 if the broker did not answer as it should (the
 * connection is freed either way).
 */
int amqp_client_close(struct amqp_client *c, amqp_channel_t ch);

/* Frees the connection without a word to the broker (after an error). */
void amqp_client_destroy(struct amqp_client *c);

#endif
