/*
 * route: where the events of one source queue go and how a delivery
 * becomes a Kafka record. The implicit route comes from the settings
 * (rabbitmq.queue, kafka.topic: the replaced service's behaviour); route
 * files (the *.yaml files of routes_dir, route_file.c) add any number. The worker
 * only ever sees struct route: it holds everything, already parsed and
 * checked, and owns all its memory (route_free releases it), so that a
 * configuration may be freed or reloaded while routes built from it
 * are still in use.
 */
#ifndef ER_ROUTE_H
#define ER_ROUTE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct er_config;

/* At most this many routes at once (one stats table row each). */
#define ROUTE_MAX 64
/* A route name: [A-Za-z0-9_.-], at most this many bytes. */
#define ROUTE_NAME_MAX 64
/* Kafka headers one route may name (a prefix pattern counts once). */
#define ROUTE_MAX_HEADERS 64
/* Segments in one json: path. */
#define ROUTE_PATH_MAX_SEGMENTS 16

enum route_format {
	/*
	 * {"event_id","correlation_id","payload"}: the replaced service's
	 * format, decoded by the fast seed decoder. The implicit route, and
	 * any route file whose id/key/value/headers are exactly its mapping.
	 */
	ROUTE_FMT_SEED_JSON = 0,
	ROUTE_FMT_MAPPED,	/* the id/key/value/headers sources below */
};

enum route_src_kind {
	RSRC_NONE = 0,		/* key: none */
	RSRC_ID,		/* key: id */
	RSRC_BODY,		/* value: body */
	RSRC_JSON,		/* json:PATH */
	RSRC_PROPERTY,		/* property:NAME */
	RSRC_HEADER,		/* header:NAME, or header:PREFIX* */
	RSRC_ROUTING_KEY,	/* key: routing_key */
};

/* AMQP basic properties a source may name (property:NAME). */
#define ROUTE_PROPS(X) \
	X(MESSAGE_ID, "message_id") \
	X(CORRELATION_ID, "correlation_id") \
	X(TYPE, "type") \
	X(APP_ID, "app_id") \
	X(CONTENT_TYPE, "content_type") \
	X(CONTENT_ENCODING, "content_encoding") \
	X(USER_ID, "user_id") \
	X(REPLY_TO, "reply_to") \
	X(EXPIRATION, "expiration") \
	X(TIMESTAMP, "timestamp") \
	X(PRIORITY, "priority") \
	X(DELIVERY_MODE, "delivery_mode")

enum route_prop {
#define X(e, s) RPROP_##e,
	ROUTE_PROPS(X)
#undef X
	RPROP_COUNT
};
extern const char *const route_prop_names[RPROP_COUNT];

/*
 * A json: path, split at '.': "a.b.0" is three segments. A segment of
 * digits matches an array index as well as a member of that name.
 * `text` stays whole (NUL-terminated, as written): seg[i] points into it
 * and is NOT NUL-terminated, seglen[i] is its length.
 */
struct route_path {
	char *text;		/* as written after "json:" */
	char *seg[ROUTE_PATH_MAX_SEGMENTS];
	size_t seglen[ROUTE_PATH_MAX_SEGMENTS];
	size_t nseg;
};

struct route_src {
	enum route_src_kind kind;
	enum route_prop prop;	/* RSRC_PROPERTY */
	char *name;		/* RSRC_HEADER: header name, or the prefix before '*' */
	size_t name_len;
	int prefix;		/* RSRC_HEADER: `name` is a prefix */
	struct route_path path;	/* RSRC_JSON */
};

/*
 * One entry of `headers`: a Kafka header name and its source. For a
 * prefix pattern ("x-tenant-*": "header:x-tenant-*") every matching
 * AMQP header becomes a Kafka header named `name` (the part before the
 * '*') followed by the rest of the AMQP header's name.
 */
struct route_header {
	char *name;
	size_t name_len;
	int prefix;
	struct route_src src;
};

/* queue.declare arguments: x-queue-type: quorum, x-max-length: 1000, ... */
enum route_arg_type { RARG_STRING, RARG_INT, RARG_BOOL };
struct route_arg {
	char *key;
	enum route_arg_type type;
	char *str;		/* RARG_STRING */
	long long num;		/* RARG_INT, RARG_BOOL (0/1) */
};

struct route_binding {
	char *exchange;		/* must exist; the queue is bound to it */
	char *routing_key;
};

/* A topic template: literal text and {routing_key} {queue} {exchange} {header.NAME}. */
enum route_tpl_kind { RTPL_TEXT, RTPL_ROUTING_KEY, RTPL_QUEUE, RTPL_EXCHANGE, RTPL_HEADER };
struct route_tpl_part {
	enum route_tpl_kind kind;
	char *text;		/* RTPL_TEXT: the text; RTPL_HEADER: the header name */
	size_t len;
};

enum route_timestamp {
	RTS_NOW = 0,		/* the relay's time (librdkafka's default) */
	RTS_AMQP,		/* the AMQP timestamp property when present, else now */
};

struct route {
	char *name;		/* "default" for the implicit route */
	char *file;		/* the route file, NULL for the implicit route */
	int line;		/* where the route starts in it */
	unsigned stats_idx;	/* row of the per-route counters (set by the master) */

	/* source */
	char *queue;
	int declare;		/* declare the queue durable (else passive) */
	struct route_arg *args;
	size_t nargs;
	struct route_binding *bindings;
	size_t nbindings;

	/* destination */
	char *topic;		/* the topic, or the template as written */
	struct route_tpl_part *tpl;	/* NULL: `topic` is fixed */
	size_t ntpl;
	char *dlq;		/* dead-letter queue */
	size_t max_message_bytes;

	/* mapping */
	enum route_format format;
	struct route_src id;	/* RSRC_JSON, RSRC_PROPERTY (message_id...), RSRC_HEADER */
	struct route_src key;	/* RSRC_ID, RSRC_JSON, RSRC_ROUTING_KEY, RSRC_HEADER, RSRC_NONE */
	struct route_src value;	/* RSRC_BODY, RSRC_JSON */
	struct route_header *headers;
	size_t nheaders;
	int trace_context;	/* copy W3C traceparent/tracestate headers (default 1) */
	enum route_timestamp timestamp;
};

/* Every route the relay runs by: the implicit one, or the route files'. */
struct route_set {
	struct route *v;
	size_t n;
	int implicit;		/* 1: v[0] is the implicit route (no route files) */
};

/* Builds the implicit route from the settings; 0 or -1 (ENOMEM). */
int route_implicit(struct route *r, const struct er_config *cfg);
void route_free(struct route *r);

/*
 * Loads every *.yaml file of cfg->routes_dir in name order (route_file.c).
 * No directory, no file or no route in the files: the implicit route
 * alone. Writes every error ("file:line:column: message", or "path:
 * message" for a file or directory that cannot be read) to `errs` and
 * returns how many there were (0: `rs` is filled; otherwise `rs` is
 * empty and safe to free).
 */
int route_set_load(struct route_set *rs, const struct er_config *cfg, FILE *errs);
void route_set_free(struct route_set *rs);

/* The route named `name`, or NULL. */
const struct route *route_set_find(const struct route_set *rs, const char *name);

/*
 * Prints the routes as a route file, every key with its effective value:
 * loading the output gives the same routes (route_dump.c).
 */
void route_set_dump(const struct route_set *rs, FILE *out);

#endif
