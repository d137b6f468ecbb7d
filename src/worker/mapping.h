/*
 * mapping: turns one AMQP delivery (body, properties, exchange, routing
 * key) into the Kafka record its route asks for: id, key, value,
 * headers, topic and timestamp, W3C trace context included.
 */
#ifndef ER_MAPPING_H
#define ER_MAPPING_H

#include <stddef.h>

#include <amqp.h>

#include "common/event.h"
#include "common/stats.h"

struct route;

/* What rabbitmq-c gave with the delivery; all of it is recycled after the call. */
struct delivery_meta {
	const amqp_basic_properties_t *props;	/* NULL: none */
	amqp_bytes_t exchange, routing_key;
};

/*
 * Decodes one delivery for route r into ev; what is not in the body
 * goes to buf. Returns DLQ_NONE or the dead-letter reason.
 *
 * ev->value points into `body`; ev->key, ev->topic and the headers'
 * names and values point into body, into buf, into ev itself or into
 * the route's strings: keep body, buf and r alive and unchanged as long
 * as ev. buf is reset and reused (grown when too small, never shrunk):
 * no allocation once it is as large as the largest delivery needs.
 * An allocation failure is logged and gives DLQ_too_large (the record
 * would not fit in memory), so that nothing is silently dropped.
 */
enum dlq_reason mapping_decode(struct event_decoder *d, const struct route *r,
    const void *body, size_t len, const struct delivery_meta *m, struct event *ev,
    struct event_buf *buf);

#endif
