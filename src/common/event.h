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

#include "common/route.h"
#include "common/stats.h"

#define EVENT_ID_MAX 256		/* bytes of an unescaped event id */
#define EVENT_CORRELATION_MAX 1024	/* bytes of an unescaped correlation id */
#define EVENT_MAX_HEADERS 4

struct event_header {
	const char *name;	/* static string */
	const void *value;
	size_t len;
};

struct event {
	char id[EVENT_ID_MAX + 1];	/* NUL-terminated, unescaped */
	size_t id_len;
	const void *key;		/* Kafka key (the id for the seed format) */
	size_t key_len;
	const void *value;		/* Kafka value, points into the body */
	size_t value_len;
	struct event_header hdr[EVENT_MAX_HEADERS];
	size_t nhdr;
	char correlation[EVENT_CORRELATION_MAX];
	size_t correlation_len;
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
 * dst (cap bytes). Returns the length written, or -1 if the string is
 * not valid JSON or does not fit.
 */
long json_unescape(const char *src, size_t len, char *dst, size_t cap);

#endif
