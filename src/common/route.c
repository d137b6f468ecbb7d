/*
 * route: the implicit route (the replaced service's behaviour, from
 * rabbitmq.queue, rabbitmq.declare, rabbitmq.dead_letter_queue,
 * kafka.topic and event.max_message_bytes), and what every route needs
 * whoever built it: freeing, lookup by name.
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

const char *const route_prop_names[RPROP_COUNT] = {
#define X(e, s) [RPROP_##e] = s,
	ROUTE_PROPS(X)
#undef X
};

/* json:NAME of one segment; 0 or -1 (ENOMEM). */
static int
path_one(struct route_path *p, const char *name)
{
	p->text = strdup(name);
	if (p->text == NULL)
		return -1;
	p->seg[0] = p->text;
	p->seglen[0] = strlen(name);
	p->nseg = 1;
	return 0;
}

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
	r->headers = calloc(1, sizeof(*r->headers));
	if (r->name == NULL || r->queue == NULL || r->topic == NULL || r->dlq == NULL ||
	    r->headers == NULL)
		goto nomem;
	r->declare = cfg->amqp_declare != 0;
	if (cfg->amqp_queue_type != NULL && strcmp(cfg->amqp_queue_type, "quorum") == 0) {
		r->args = calloc(1, sizeof(*r->args));
		if (r->args == NULL)
			goto nomem;
		r->nargs = 1;
		r->args[0].key = strdup("x-queue-type");
		r->args[0].type = RARG_STRING;
		r->args[0].str = strdup("quorum");
		if (r->args[0].key == NULL || r->args[0].str == NULL)
			goto nomem;
	}
	r->max_message_bytes = (size_t)cfg->max_message_bytes;
	r->format = ROUTE_FMT_SEED_JSON;
	/* The same mapping written out, as a route file would give it. */
	r->id.kind = RSRC_JSON;
	r->key.kind = RSRC_ID;
	r->value.kind = RSRC_JSON;
	r->nheaders = 1;
	r->headers[0].name = strdup("correlation_id");
	r->headers[0].src.kind = RSRC_JSON;
	if (r->headers[0].name == NULL || path_one(&r->id.path, "event_id") < 0 ||
	    path_one(&r->value.path, "payload") < 0 ||
	    path_one(&r->headers[0].src.path, "correlation_id") < 0)
		goto nomem;
	r->headers[0].name_len = strlen(r->headers[0].name);
	r->trace_context = 1;
	r->timestamp = RTS_NOW;
	return 0;
nomem:
	route_free(r);
	errno = ENOMEM;
	return -1;
}

static void
src_free(struct route_src *s)
{
	free(s->name);
	free(s->path.text);
}

void
route_free(struct route *r)
{
	free(r->name);
	free(r->file);
	free(r->queue);
	for (size_t i = 0; i < r->nargs; i++) {
		free(r->args[i].key);
		free(r->args[i].str);
	}
	free(r->args);
	for (size_t i = 0; i < r->nbindings; i++) {
		free(r->bindings[i].exchange);
		free(r->bindings[i].routing_key);
	}
	free(r->bindings);
	free(r->topic);
	for (size_t i = 0; i < r->ntpl; i++)
		free(r->tpl[i].text);
	free(r->tpl);
	free(r->dlq);
	src_free(&r->id);
	src_free(&r->key);
	src_free(&r->value);
	for (size_t i = 0; i < r->nheaders; i++) {
		free(r->headers[i].name);
		src_free(&r->headers[i].src);
	}
	free(r->headers);
	memset(r, 0, sizeof(*r));
}

void
route_set_free(struct route_set *rs)
{
	for (size_t i = 0; i < rs->n; i++)
		route_free(&rs->v[i]);
	free(rs->v);
	memset(rs, 0, sizeof(*rs));
}

const struct route *
route_set_find(const struct route_set *rs, const char *name)
{
	for (size_t i = 0; i < rs->n; i++)
		if (strcmp(rs->v[i].name, name) == 0)
			return &rs->v[i];
	return NULL;
}
