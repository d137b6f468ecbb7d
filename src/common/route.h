/*
 * route: where events of one source queue go and how they are decoded.
 * Only the implicit route exists so far (from rabbitmq.queue and
 * kafka.topic); route files will add more without changing the worker,
 * which only ever sees struct route.
 */
#ifndef ER_ROUTE_H
#define ER_ROUTE_H

#include <stddef.h>

struct er_config;

enum route_format {
	ROUTE_FMT_SEED_JSON = 0,	/* {"event_id","correlation_id","payload"} */
};

struct route {
	char *name;		/* "default" for the implicit route */
	char *queue;		/* source queue */
	int declare;		/* declare the queue durable (else passive) */
	char *topic;		/* Kafka topic */
	char *dlq;		/* dead-letter queue */
	size_t max_message_bytes;
	enum route_format format;
};

/* Builds the implicit route from the settings; 0 or -1 (ENOMEM). */
int route_implicit(struct route *r, const struct er_config *cfg);
void route_free(struct route *r);

#endif
