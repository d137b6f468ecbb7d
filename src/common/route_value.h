/*
 * route_value: the inside of the route file loader, shared by
 * route_file.c (files, the key table walk, checks across routes) and
 * route_value.c (one parser for each kind of value of route_keys.def).
 * Nothing outside those two files includes this.
 */
#ifndef ER_ROUTE_VALUE_H
#define ER_ROUTE_VALUE_H

#include <stddef.h>
#include <stdio.h>

#include "common/route.h"
#include "common/route_yaml.h"

struct er_config;

/* Bounds of a route beyond route.h's. */
#define ROUTE_AMQP_NAME_MAX 255		/* queue, exchange, routing key, header name (shortstr) */
#define ROUTE_TOPIC_MAX 249		/* Kafka's limit on a topic name */
#define ROUTE_MAX_ARGS 64		/* queue.arguments entries */
#define ROUTE_MAX_BINDINGS 256		/* queue.bindings entries */
#define ROUTE_MAX_JSON_PATHS 64		/* json: sources in one route */
#define ROUTE_TEXT_MAX 1024		/* bytes of a source or topic template as written */

enum route_section {
#define ROUTE_SECTION(s, title) RSEC_##s,
#include "common/route_keys.def"
#undef ROUTE_SECTION
	RSEC_COUNT
};

enum route_kind {
#define ROUTE_KIND(k, expect) RK_##k,
#include "common/route_keys.def"
#undef ROUTE_KIND
	RK_COUNT
};

/* One row of route_keys.def. */
struct route_key {
	enum route_section section;
	const char *key;
	size_t off;		/* of the field in struct route or struct route_binding */
	enum route_kind kind;
	int required;
	const char *def;
};

/* The number of rows, for arrays indexed like route_keys[]. */
enum {
	ROUTE_NKEYS = 0
#define ROUTE_KEY(s, key, f, kind, req, def, help) + 1
#include "common/route_keys.def"
#undef ROUTE_KEY
};

extern const struct route_key route_keys[ROUTE_NKEYS];
extern const char *const route_kind_expect[RK_COUNT];

/* What a quoted value in a message may take, quotes and "..." included. */
#define ROUTE_QUOTE_MAX 80

/* The state of reading one file. */
struct route_ctx {
	const char *file;
	FILE *errs;
	int nerr;
	const struct er_config *cfg;
	struct route_set *into;		/* every route read so far, all files */
	size_t nroute;			/* routes of this file seen so far */
	/* The route being read, and where its checked-across parts are. */
	struct route *r;
	const struct ynode *at_route, *at_name, *at_queue, *at_dlq;
	size_t njson;			/* json: sources of r */
	char label[ROUTE_QUOTE_MAX + 16];	/* `route "orders"`, or `route #3`; "" outside */
	char path[256];			/* the key being read: "queue.bindings.exchange" */
	char q[2][ROUTE_QUOTE_MAX];	/* route_q's buffers */
};

/*
 * Writes "file:line:column: label: path: message" for node `at` (NULL:
 * the start of the current route, else of the file) and counts it.
 */
void route_err(struct route_ctx *c, const struct ynode *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * s[0..len) quoted for a message, in buffer `slot` (0 or 1): escapes for
 * quotes, backslashes and control bytes, cut to fit with "...".
 */
const char *route_q(struct route_ctx *c, int slot, const char *s, size_t len);

/*
 * Reads mapping `map` by the rows of section `sec`: unknown and
 * repeated keys are errors, each key found is parsed in file order,
 * then each key not found is either missing (required) or given its
 * default. `base` is the struct the section's fields are in. found[i],
 * when not NULL, gets the value node of row i (NULL: not given).
 * Returns 0, or -1 when `map` is not a mapping (reported).
 */
int route_walk(struct route_ctx *c, enum route_section sec, const struct ynode *map, void *base,
    const struct ynode **found);

/* Sources a key accepts (route_source). */
enum {
	S_ID = 1 << 0,
	S_BODY = 1 << 1,
	S_NONE = 1 << 2,
	S_ROUTING_KEY = 1 << 3,
	S_JSON = 1 << 4,
	S_PROP_STR = 1 << 5,	/* property:NAME of a string property */
	S_PROP = 1 << 6,	/* property:NAME of any property */
	S_HEADER = 1 << 7,
	S_HEADER_PREFIX = 1 << 8,	/* header:PREFIX* */
};

/* "got ..." for a message: the value quoted (buffer 1), or what the node is. */
const char *route_got(struct route_ctx *c, const struct ynode *v);

/*
 * The text of `v` if it is a string (not null, no NUL byte) of min..max
 * bytes; otherwise NULL, reported against `kind`'s expected form.
 */
const char *route_str(struct route_ctx *c, enum route_kind kind, const struct ynode *v, size_t min,
    size_t max);

/* *dst = a copy of s[0..len) (an old *dst is freed); 0, or -1 reported. */
int route_copy(struct route_ctx *c, const struct ynode *at, char **dst, const char *s, size_t len);

/*
 * Key i of a free mapping (headers, arguments): a name of 1 to 255
 * bytes, not given twice. `what`: "header" or "argument", for messages.
 */
const char *route_free_key(struct route_ctx *c, const struct ynode *map, size_t i, const char *what);

/*
 * A source of the forms in `allow` (S_*), checked against `kind`'s
 * expected form, into *out; 0, or -1 reported (*out untouched).
 */
int route_source(struct route_ctx *c, enum route_kind kind, const struct ynode *v, unsigned allow,
    struct route_src *out);

/* The headers mapping (NULL: not given) into c->r (route_source.c). */
void route_headers(struct route_ctx *c, const struct ynode *v);

/* Parses value `v` (NULL: not given) of key row `k` into `dst`. */
void route_value(struct route_ctx *c, const struct route_key *k, const struct ynode *v, void *dst);

/* The ROUTES kind: reads every route of sequence `v` (route_file.c). */
void route_read_all(struct route_ctx *c, const struct ynode *v);

/* The row of section `sec` named `key`, or NULL. */
const struct route_key *route_key_find(enum route_section sec, const char *key);

/* The bounds of max_message_bytes: those of event.max_message_bytes. */
void route_size_bounds(long *min, long *max);

#endif
