/*
 * trace_context: the W3C Trace Context (level 1) a delivery carries in
 * its AMQP headers `traceparent` and `tracestate`.
 */
#ifndef ER_TRACE_CONTEXT_H
#define ER_TRACE_CONTEXT_H

#include <stddef.h>
#include <stdint.h>

#include <amqp.h>

struct trace_context {
	const amqp_bytes_t *traceparent;	/* valid, or NULL */
	const amqp_bytes_t *tracestate;		/* only with a valid traceparent; NULL: none */
	int invalid;				/* a traceparent was there and is not valid */
};

/*
 * Reads the trace context from a header table (NULL: none), in one pass;
 * the first entry of each name counts. A traceparent must be a string
 * or byte array valid per traceparent_valid(); a tracestate a string or
 * byte array, carried byte-exact (its list syntax is not checked). The
 * pointers refer into t.
 */
void trace_context_find(const amqp_table_t *t, struct trace_context *tc);

/*
 * Whether s[0..n) is a valid traceparent: version "-" trace-id "-"
 * parent-id "-" flags in lowercase hex (2, 32, 16, 2 digits); version
 * ff is invalid, an all-zero trace-id or parent-id too; version 00 is
 * exactly 55 bytes, a later version at least 55 with a '-' after them.
 */
int traceparent_valid(const void *s, size_t n);

/* A parsed traceparent: what a span needs of its parent. */
struct traceparent {
	uint8_t trace_id[16];
	uint8_t span_id[8];
	uint8_t flags;		/* bit 0: sampled */
};

#define TRACEPARENT_LEN 55	/* version 00 */

/* Parses s[0..n) if traceparent_valid(); 0, or -1. */
int traceparent_parse(const void *s, size_t n, struct traceparent *tp);

/* Writes the version-00 traceparent of tp into out (TRACEPARENT_LEN bytes, no NUL). */
void traceparent_format(const struct traceparent *tp, char *out);

/* Lowercase hex of b[0..n) into out (2n bytes, no NUL). */
void trace_hex(const uint8_t *b, size_t n, char *out);

#endif
