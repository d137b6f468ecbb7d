/*
 * event: decodes one delivery body into an event according to its
 * route. Nothing is re-serialised: the value points into the body,
 * byte-exact. Strings that may carry JSON escapes (event_id,
 * correlation_id) are unescaped into the event's own buffers.
 * A body that cannot be decoded yields a dead-letter reason.
 */
#ifndef ER_EVENT_H
#define ER_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "common/route.h"
#include "common/stats.h"

#define EVENT_ID_MAX 256		/* bytes of an unescaped event id */
#define EVENT_CORRELATION_MAX 1024	/* bytes of an unescaped correlation id */
#define EVENT_SEED_HEADERS 4		/* correlation_id, traceparent, tracestate */
#define EVENT_MAX_DEPTH 128		/* JSON nesting, the top-level value included */
#define EVENT_DETAIL_MAX 96		/* bytes of event.detail */

struct event_header {
	const char *name;
	size_t name_len;
	const void *value;	/* NULL: a header with a null value (AMQP void, JSON null) */
	size_t len;
};

/*
 * Storage a delivery's record needs beyond its body: header names and
 * values, a key or topic that is not in the body. Owned by the slot and
 * reused, so that a steady stream allocates nothing: it grows to the
 * largest delivery seen. An event's pointers into it stay valid until
 * the next decode into the same buffer or event_buf_free.
 */
struct event_buf {
	char *p;
	size_t len, cap;
	struct event_header *h;
	size_t hcap;
};

/*
 * Makes room for n more bytes at b->p + b->len; b->p may move. 0, or -1
 * (ENOMEM). Only growth allocates: a buffer that is large enough is
 * used as it is.
 */
int event_buf_reserve(struct event_buf *b, size_t n);
void event_buf_free(struct event_buf *b);

struct event {
	char id[EVENT_ID_MAX + 1];	/* NUL-terminated, unescaped */
	size_t id_len;
	const void *key;		/* Kafka key; NULL: no key */
	size_t key_len;
	const void *value;		/* Kafka value, points into the body */
	size_t value_len;
	struct event_header *hdr;	/* seed_hdr, or the slot's event_buf */
	size_t nhdr;
	const char *topic;		/* NUL-terminated; NULL: the route's fixed topic */
	int64_t timestamp_ms;		/* Kafka CreateTime; 0: the relay's time */
	unsigned bad_traceparent;	/* an invalid traceparent was not copied */
	struct event_header seed_hdr[EVENT_SEED_HEADERS];
	char correlation[EVENT_CORRELATION_MAX];
	size_t correlation_len;
	/*
	 * For a rejection past one of the bounds on hostile input (nesting,
	 * UTF-8, id length, header table): what was wrong, for the dead
	 * letter's x-event-relay-error and the log. Empty otherwise.
	 */
	char detail[EVENT_DETAIL_MAX];
};

/* A worker's decoder: it keeps nothing between messages but its bound. */
struct event_decoder {
	size_t max_bytes;	/* longest body decoded; 0: not initialised */
};

/*
 * Sets the decoder up for bodies of up to max_message_bytes (longer
 * ones are too_large, whatever the route allows). 0, or -1 (EINVAL).
 */
int event_decoder_init(struct event_decoder *d, size_t max_message_bytes);
void event_decoder_free(struct event_decoder *d);

/*
 * Decodes `body` (len bytes, not NUL-terminated) for route `r` into
 * `ev`. Returns DLQ_NONE, or the reason the message must be
 * dead-lettered. `ev` points into `body`: keep body alive as long as ev.
 */
enum dlq_reason event_decode(struct event_decoder *d, const struct route *r,
    const void *body, size_t len, struct event *ev);

/*
 * Unescapes the JSON string contents src[0..len) (without quotes) into
 * dst (cap bytes). Returns the length written, -1 if the string is not
 * valid JSON (a lone surrogate, a bad escape), or JSON_ERR_TOO_LONG if
 * it does not fit.
 */
long json_unescape(const char *src, size_t len, char *dst, size_t cap);

/* Why json_paths() (or json_unescape()) refused a body: below 0. */
#define JSON_ERR_SYNTAX (-1)	/* not JSON */
#define JSON_ERR_DEPTH (-2)	/* nested deeper than EVENT_MAX_DEPTH */
#define JSON_ERR_UTF8 (-3)	/* a string (member names too) that is not UTF-8 */
#define JSON_ERR_TOO_LONG (-4)	/* json_unescape: does not fit */

/*
 * The dead-letter reason of a JSON_ERR_* code (invalid_json,
 * json_too_deep, invalid_utf8); with `detail` (EVENT_DETAIL_MAX bytes,
 * or NULL) saying which bound.
 */
enum dlq_reason json_err_reason(int err, char *detail);

/*
 * An id of len bytes (as sent) is longer than EVENT_ID_MAX: says so in
 * ev->detail; returns DLQ_event_id_too_long.
 */
enum dlq_reason event_id_too_long(struct event *ev, size_t len);

/*
 * The length of the well-formed UTF-8 sequence (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF) at s, n bytes left,
 * s[0] >= 0x80; 0 if there is none.
 */
size_t utf8_seq(const unsigned char *s, size_t n);


/*
 * The span of one JSON value found at a route_path: the exact bytes of
 * the value (a string with its quotes), never re-serialised.
 */
enum json_kind {
	JSON_ABSENT = 0,	/* the path names nothing in this body */
	JSON_STRING, JSON_NUMBER, JSON_OBJECT, JSON_ARRAY, JSON_TRUE, JSON_FALSE, JSON_NULL,
};

struct json_span {
	const char *start;
	size_t len;
	enum json_kind kind;
	int escaped;		/* JSON_STRING: holds a backslash escape */
};

struct route_path;

/*
 * Checks the whole body (strict RFC 8259, any value at the top level,
 * strings in UTF-8, nesting at most EVENT_MAX_DEPTH deep) in one pass and fills spans[i] for
 * paths[i] (at most 64 paths). A path that occurs twice keeps its first
 * value in document order. A segment names a member as it reads once
 * unescaped ("a\u0062" is "ab"); one of digits only, without leading
 * zeros, is also an array index. A path of no segment is the whole
 * value. Returns 0, or a JSON_ERR_* code if the body is not valid JSON
 * (then every span is JSON_ABSENT). With npaths 0 (paths and spans may be NULL)
 * it only validates.
 */
int json_paths(const void *body, size_t len, const struct route_path *const *paths,
    size_t npaths, struct json_span *spans);

#endif
