/*
 * header_encode: an AMQP field value (a header-table entry) as the text
 * of a Kafka header, key or topic part.
 */
#ifndef ER_HEADER_ENCODE_H
#define ER_HEADER_ENCODE_H

#include <stddef.h>

#include <amqp.h>

#include "common/event.h"

/* Tables and arrays nested deeper than this are not encoded. */
#define HEADER_MAX_DEPTH 64
/* Fields (entries and array elements at every depth) of a delivery's header table. */
#define HEADER_MAX_FIELDS 1024

/*
 * Appends the encoding of v to buf (header_encode.c says which):
 * strings and byte arrays raw, integers decimal, booleans true/false,
 * floats the shortest decimal that reads back the same (NaN, Infinity,
 * -Infinity), decimals exact, timestamps epoch seconds, tables and
 * arrays JSON that keeps the types.
 *
 * Returns 1 with the text at buf->p + *off, *len bytes (an offset: buf
 * may move as it grows); 0 for a null-valued header (AMQP void),
 * nothing written; -1, buf->len unchanged, if v cannot be encoded:
 * tables or arrays nested deeper than HEADER_MAX_DEPTH, or a kind
 * rabbitmq-c does not define (errno EINVAL), or no memory (ENOMEM).
 */
int header_encode(const amqp_field_value_t *v, struct event_buf *buf, size_t *off,
    size_t *len);

/*
 * Whether a delivery's header table keeps to the bounds: at most
 * HEADER_MAX_FIELDS fields in all and tables or arrays nested at most
 * HEADER_MAX_DEPTH deep in any header's value (so that header_encode
 * takes every value). 0, or -1 with a line saying which bound into
 * detail (detail_sz bytes).
 */
int header_table_check(const amqp_table_t *t, char *detail, size_t detail_sz);

#endif
