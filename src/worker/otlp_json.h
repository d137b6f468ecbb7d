/*
 * otlp_json: encodes finished spans as an OTLP/HTTP JSON export request
 * (ExportTraceServiceRequest in the protobuf JSON mapping that OTLP
 * specifies: trace and span ids as lowercase hex, 64-bit integers as
 * decimal strings, enums as integers, lowerCamelCase field names).
 *
 * One span record holds one message's spans: the CONSUMER span
 * `process <queue>` and, unless the message was a duplicate or poison,
 * the PRODUCER span `send <topic>` below it.
 */
#ifndef ER_OTLP_JSON_H
#define ER_OTLP_JSON_H

#include <stddef.h>
#include <stdint.h>

/*
 * A record's strings share one area: most are short, and the ring of
 * records is allocated whole at start. A string that does not fit what
 * is left is left out (its attribute is missing), in the order below,
 * most useful first; the ids of the spans are never left out.
 */
#define SPAN_TEXT_BYTES 768

enum span_text {
	SPAN_EVENT_ID,		/* event_relay.event.id */
	SPAN_ROUTING_KEY,	/* messaging.rabbitmq.destination.routing_key */
	SPAN_MESSAGE_ID,	/* messaging.message.id (the message_id property) */
	SPAN_TOPIC,		/* a topic from a template (else the route's, by pointer) */
	SPAN_KEY,		/* messaging.kafka.message.key, if it is UTF-8 text */
	SPAN_TRACESTATE,	/* traceState of both spans */
	SPAN_TEXT_COUNT
};

struct span_rec {
	uint8_t trace_id[16];
	uint8_t parent_id[8];		/* of the process span; all zero: none */
	uint8_t process_id[8];
	uint8_t send_id[8];
	uint8_t has_parent;
	uint8_t has_send;		/* a send span (not for a duplicate or poison) */
	uint8_t has_offset;		/* the report gave partition and offset */
	uint8_t duplicate;		/* event "duplicate" on the process span */
	uint64_t start_ns, end_ns;	/* process span, Unix time */
	uint64_t send_start_ns, send_end_ns;
	uint64_t event_ns;		/* time of the duplicate or dead-letter event */
	uint64_t delivery_tag;
	int32_t partition;
	int64_t offset;
	const char *queue;		/* the route's: lives as long as the worker */
	const char *send_error;		/* librdkafka error name (static) of a failed send, or NULL */
	const char *dead_letter;	/* dead-letter reason name (static), or NULL */
	const char *dead_letter_detail;	/* static detail (a Kafka error name), or NULL */
	const char *topic;		/* the route's fixed topic, or NULL: SPAN_TOPIC */
	uint64_t finished_ms;		/* CLOCK_MONOTONIC ms at the end: batch delay */
	uint16_t text_used;
	uint16_t text_off[SPAN_TEXT_COUNT];
	uint16_t text_len[SPAN_TEXT_COUNT];	/* SPAN_TEXT_ABSENT: not stored */
	char text[SPAN_TEXT_BYTES];
};

#define SPAN_TEXT_ABSENT UINT16_MAX

/* Empties a record's strings. */
void span_text_reset(struct span_rec *r);
/* Stores p[0..n) as string `which`; 0, or -1 if it does not fit (then absent). */
int span_text_put(struct span_rec *r, enum span_text which, const void *p, size_t n);
/* String `which`, or NULL if absent; *n its length. */
const char *span_text_get(const struct span_rec *r, enum span_text which, size_t *n);

/* A growing output buffer, reused from batch to batch. */
struct otlp_buf {
	char *p;
	size_t len, cap;
	int failed;		/* an allocation failed: the content is incomplete */
};

/* The resource's identity, encoded once (otlp_resource). */
struct otlp_resource {
	const char *service_name;
	const char *service_version;
	const char *host_name;
	long pid;
	int worker;
	const char *extra;	/* OTEL_RESOURCE_ATTRIBUTES (checked), or NULL */
};

/*
 * The JSON of the resource object, into b (reset first). 0, or -1 (no
 * memory).
 */
int otlp_resource(struct otlp_buf *b, const struct otlp_resource *r);

/* Starts a request into b (reset first): resource JSON, scope name and version. */
void otlp_begin(struct otlp_buf *b, const char *resource_json, const char *scope_version);
/* Appends a record's spans (one or two). */
void otlp_add(struct otlp_buf *b, const struct span_rec *r);
/* Ends the request; 0, or -1 if some allocation failed. */
int otlp_end(struct otlp_buf *b);

void otlp_buf_free(struct otlp_buf *b);

/* The number of spans in a record. */
static inline unsigned
span_rec_spans(const struct span_rec *r)
{
	return r->has_send ? 2u : 1u;
}

#endif
