/*
 * route: builds the routes the workers relay by. Only the implicit
 * route exists so far: the seed service's behaviour, from
 * rabbitmq.queue, rabbitmq.declare, rabbitmq.dead_letter_queue,
 * kafka.topic and event.max_message_bytes.
 *
 * A struct route owns its strings (route_free releases them); it keeps
 * no pointer into the settings, so the config may be freed or
 * reloaded while routes built from it are still in use.
 */
#include "autoconf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/route.h"

int
route_implicit(struct route *r, const struct er_config *cfg)
{
	memset(r, 0, sizeof(*r));
	if (cfg->amqp_queue == NULL || cfg->kafka_topic == NULL || cfg->max_message_bytes <= 0) {
		errno = EINVAL;
		return -1;
	}
	r->name = strdup("default");
	r->queue = strdup(cfg->amqp_queue);
	r->topic = strdup(cfg->kafka_topic);
	if (cfg->amqp_dlq != NULL && cfg->amqp_dlq[0] != '\0') {
		r->dlq = strdup(cfg->amqp_dlq);
	} else {
		size_t n = strlen(cfg->amqp_queue) + sizeof(".dlq");

		r->dlq = malloc(n);
		if (r->dlq != NULL)
			snprintf(r->dlq, n, "%s.dlq", cfg->amqp_queue);
	}
	if (r->name == NULL || r->queue == NULL || r->topic == NULL || r->dlq == NULL) {
		route_free(r);
		errno = ENOMEM;
		return -1;
	}
	r->declare = cfg->amqp_declare != 0;
	r->max_message_bytes = (size_t)cfg->max_message_bytes;
	r->format = ROUTE_FMT_SEED_JSON;
	return 0;
}

void
route_free(struct route *r)
{
	free(r->name);
	free(r->queue);
	free(r->topic);
	free(r->dlq);
	memset(r, 0, sizeof(*r));
}
