/*
 * redis_claim: connection state machine, request FIFO and the claim
 * script.
 *
 * States: DOWN (waiting for the reconnect time) -> CONNECTING
 * (non-blocking connect in progress) -> SETUP (AUTH, SELECT and SCRIPT
 * LOAD sent) -> READY. Any error or a request older than
 * REDIS_REPLY_TIMEOUT_MS drops the connection: every pending claim is
 * answered CLAIM_ERROR, so no slot is ever forgotten. Done-marks and
 * releases hold no slot: their replies are only counted.
 *
 * With redis.sentinels, each connection starts by asking a sentinel
 * (SENT_CONNECTING -> SENT_QUERY: SENTINEL get-master-addr-by-name) for
 * the master's address, one sentinel after another until one answers;
 * then the master's set-up adds ROLE, and a server that is not a master
 * is dropped. A READONLY reply (a master demoted under us) drops the
 * connection too, so the next one asks the sentinels again.
 */
#include "autoconf.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "common/backoff.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/host.h"
#include "common/log.h"
#include "common/route.h"
#include "common/stats.h"
#include "worker/redis_claim.h"
#include "worker/slot.h"

#define REDIS_REPLY_TIMEOUT_MS 5000

/*
 * KEYS[1] event key; ARGV[1] this delivery's claim token, ARGV[2] lease
 * in ms, ARGV[3] "1" if the broker redelivered the message (a claim
 * held by another token is then stale: its holder lost the delivery).
 * Returns 0 claimed, 1 done, or the holder's token (a string) when
 * another delivery holds the claim.
 * With ARGV[3] "R" it releases the claim if this token holds it
 * (a dead-lettered delivery) and returns 0; with "X" it renews the
 * lease if this token holds it, and returns 0.
 */
static const char claim_script[] =
    "local v = redis.call('GET', KEYS[1])\n"
    "if ARGV[3] == 'R' then\n"
    "  if v == ARGV[1] then redis.call('DEL', KEYS[1]) end\n"
    "  return 0\n"
    "end\n"
    "if ARGV[3] == 'X' then\n"
    "  if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end\n"
    "  return 0\n"
    "end\n"
    "if v == 'done' then return 1 end\n"
    "if v and v ~= ARGV[1] and ARGV[3] ~= '1' then return v end\n"
    "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])\n"
    "return 0\n";

#define SENTINELS_MAX 16

enum rc_state { RC_DOWN, RC_SENT_CONNECTING, RC_SENT_QUERY, RC_CONNECTING, RC_SETUP, RC_READY };
enum req_type { REQ_AUTH, REQ_SETUP, REQ_SCRIPT, REQ_VERSION, REQ_ROLE, REQ_CLAIM, REQ_CLAIM_SET,
    REQ_MARK, REQ_RELEASE, REQ_RENEW, REQ_SENT_AUTH, REQ_SENT_MASTER };

struct sentinel {
	char host[256];
	int port;
};

struct req {
	uint8_t type;
	struct slot *slot;
	uint64_t sent_ms;
};

struct redis_claim {
	const struct er_config *cfg;
	const struct redis_claim_ops *ops;
	void *arg;
	struct stats_gauges *gauges;
	struct stats_values *counters;
	struct stats_reason *reason;	/* why not connected, for /ready; may be NULL */
	redisContext *c;
	enum rc_state state;
	int want_write;
	uint64_t next_connect_ms;
	uint64_t now_ms;
	struct backoff backoff;
	char host[256];		/* the server, or the master the sentinels named */
	int port;
	struct sentinel sentinels[SENTINELS_MAX];
	int nsentinels;
	int sentinel;		/* the one asked now or last */
	int sentinels_tried;	/* in this round, before backing off */
	char token_prefix[96];	/* host:pid */
	char sha[41];
	int set_nx_get;		/* the server takes SET ... NX GET (Redis >= 7.0) */
	char lease_ms[24];
	char ttl_ms[24];
	struct req *fifo;	/* ring of pending requests */
	size_t fifo_cap, fifo_head, fifo_len;
	size_t claims_out;	/* claims among them: a slot waits on each */
	size_t setup_pending;
	int logged_down;
	int failed;		/* the last connection or attempt failed; cleared when ready */
	/* "<key_prefix><route>:" for `key_route`, then room for an id */
	char *key;
	size_t key_cap, key_head;
	char *cmd;		/* one command in RESP, reused */
	size_t cmd_cap;
	const struct route *key_route;
};

static int
fifo_push(struct redis_claim *r, enum req_type type, struct slot *s)
{
	if (r->fifo_len == r->fifo_cap) {
		size_t ncap = r->fifo_cap ? r->fifo_cap * 2 : 1024;
		struct req *n = malloc(ncap * sizeof(*n));

		if (n == NULL)
			return -1;
		for (size_t i = 0; i < r->fifo_len; i++)
			n[i] = r->fifo[(r->fifo_head + i) % r->fifo_cap];
		free(r->fifo);
		r->fifo = n;
		r->fifo_cap = ncap;
		r->fifo_head = 0;
	}
	r->fifo[(r->fifo_head + r->fifo_len) % r->fifo_cap] =
	    (struct req){ .type = (uint8_t)type, .slot = s, .sent_ms = r->now_ms };
	r->fifo_len++;
	if (type == REQ_CLAIM || type == REQ_CLAIM_SET)
		r->claims_out++;
	return 0;
}

static struct req
fifo_pop(struct redis_claim *r)
{
	struct req q = r->fifo[r->fifo_head];

	r->fifo_head = (r->fifo_head + 1) % r->fifo_cap;
	r->fifo_len--;
	if (q.type == REQ_CLAIM || q.type == REQ_CLAIM_SET)
		r->claims_out--;
	return q;
}

/*
 * Answers every pending request as failed and closes the connection.
 * `why` may be r->c->errstr: use it before redisFree.
 */
static void
drop_connection(struct redis_claim *r, const char *why)
{
	if (r->reason != NULL) {
		char text[sizeof(r->reason->text)];

		snprintf(text, sizeof(text), "redis: %.40s:%d: %.90s", r->host, r->port, why);
		stats_reason_set(r->reason, text);
	}
	if (r->c != NULL) {
		if (r->state == RC_READY || !r->logged_down)
			log_warn("redis_claim: %s:%d: %s", r->host, r->port, why);
		r->logged_down = 1;
		redisFree(r->c);
		r->c = NULL;
		stat_add(&r->counters->redis_errors, 1);
	}
	r->state = RC_DOWN;
	r->failed = 1;
	r->want_write = 0;
	stat_set(&r->gauges->redis_up, 0);
	r->next_connect_ms = r->now_ms + backoff_next(&r->backoff);
	while (r->fifo_len > 0) {
		struct req q = fifo_pop(r);

		if (q.type == REQ_CLAIM || q.type == REQ_CLAIM_SET)
			r->ops->claimed(r->arg, q.slot, CLAIM_ERROR, NULL, 0);
	}
	r->setup_pending = 0;
	if (r->ops->down != NULL)
		r->ops->down(r->arg);
}

static size_t build_token(const struct redis_claim *r, const struct slot *s, char *buf);

/* Appends the decimal form of v at p; returns the end. */
static char *
put_u64(char *p, uint64_t v)
{
	char tmp[20];
	size_t n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	while (n > 0)
		*p++ = tmp[--n];
	return p;
}

/*
 * Queues one command, formatted as RESP here (hiredis' own formatting
 * builds it from sds strings with a printf-like scan per argument and
 * two allocations; this costs one memcpy per argument). argvlen NULL:
 * NUL-terminated arguments.
 */
static int
append(struct redis_claim *r, int argc, const char **argv, const size_t *argvlen)
{
	size_t need = 24, len[8];
	char *p;

	if (argc > 8)
		return -1;
	for (int i = 0; i < argc; i++) {
		len[i] = argvlen != NULL ? argvlen[i] : strlen(argv[i]);
		need += len[i] + 24;
	}
	if (need > r->cmd_cap) {
		char *b = realloc(r->cmd, need);

		if (b == NULL)
			return -1;
		r->cmd = b;
		r->cmd_cap = need;
	}
	p = r->cmd;
	*p++ = '*';
	p = put_u64(p, (uint64_t)argc);
	*p++ = '\r';
	*p++ = '\n';
	for (int i = 0; i < argc; i++) {
		*p++ = '$';
		p = put_u64(p, len[i]);
		*p++ = '\r';
		*p++ = '\n';
		memcpy(p, argv[i], len[i]);
		p += len[i];
		*p++ = '\r';
		*p++ = '\n';
	}
	if (redisAppendFormattedCommand(r->c, r->cmd, (size_t)(p - r->cmd)) != REDIS_OK)
		return -1;
	r->want_write = 1;
	return 0;
}

static void
send_setup(struct redis_claim *r)
{
	const struct er_config *cfg = r->cfg;
	char db[16];

	/*
	 * AUTH user password (a Redis 6 ACL user; the password may be empty
	 * for a nopass user), or AUTH password (the default user).
	 */
	if (cfg->redis_username[0] != '\0') {
		const char *argv[] = {"AUTH", cfg->redis_username, cfg->redis_password};

		append(r, 3, argv, NULL);
		fifo_push(r, REQ_AUTH, NULL);
		r->setup_pending++;
	} else if (cfg->redis_password[0] != '\0') {
		const char *argv[] = {"AUTH", cfg->redis_password};

		append(r, 2, argv, NULL);
		fifo_push(r, REQ_AUTH, NULL);
		r->setup_pending++;
	}
	if (cfg->redis_db != 0) {
		const char *argv[] = {"SELECT", db};

		snprintf(db, sizeof(db), "%ld", cfg->redis_db);
		append(r, 2, argv, NULL);
		fifo_push(r, REQ_SETUP, NULL);
		r->setup_pending++;
	}
	{
		const char *argv[] = {"SCRIPT", "LOAD", claim_script};

		append(r, 3, argv, NULL);
		fifo_push(r, REQ_SCRIPT, NULL);
		r->setup_pending++;
	}
	if (r->nsentinels > 0) {
		const char *argv[] = {"ROLE"};

		append(r, 1, argv, NULL);
		fifo_push(r, REQ_ROLE, NULL);
		r->setup_pending++;
	}
	{
		const char *argv[] = {"INFO", "server"};

		r->set_nx_get = 0;
		append(r, 2, argv, NULL);
		fifo_push(r, REQ_VERSION, NULL);
		r->setup_pending++;
	}
	r->state = RC_SETUP;
}

static void
connect_now(struct redis_claim *r)
{
	r->c = redisConnectNonBlock(r->host, r->port);
	if (r->c == NULL || r->c->err) {
		char why[160];

		snprintf(why, sizeof(why), "connect: %s", r->c ? r->c->errstr : "out of memory");
		if (r->c == NULL)
			stat_add(&r->counters->redis_errors, 1);
		drop_connection(r, why);
		return;
	}
	r->state = RC_CONNECTING;
	r->want_write = 1;
	send_setup(r);
	r->state = RC_CONNECTING;	/* until the socket is writable */
}

/*
 * A sentinel gave no master (no connection, no answer, an error, an
 * unknown name): ask the next one at once, or back off once every one
 * of them failed in this round.
 */
static void
drop_sentinel(struct redis_claim *r, const char *why)
{
	const struct sentinel *st = &r->sentinels[r->sentinel];

	if (r->reason != NULL) {
		char text[sizeof(r->reason->text)];

		snprintf(text, sizeof(text), "redis: sentinel %.40s:%d: %.90s", st->host, st->port, why);
		stats_reason_set(r->reason, text);
	}
	if (!r->logged_down)
		log_warn("redis_claim: sentinel %s:%d: %s", st->host, st->port, why);
	if (r->c != NULL) {
		redisFree(r->c);
		r->c = NULL;
	}
	stat_add(&r->counters->redis_errors, 1);
	r->fifo_head = r->fifo_len = 0;	/* sentinel requests only: no slot waits */
	r->claims_out = 0;
	r->setup_pending = 0;
	r->want_write = 0;
	r->state = RC_DOWN;
	r->failed = 1;
	stat_set(&r->gauges->redis_up, 0);
	r->sentinel = (r->sentinel + 1) % r->nsentinels;
	if (++r->sentinels_tried < r->nsentinels) {
		r->next_connect_ms = r->now_ms;
	} else {
		r->sentinels_tried = 0;
		r->logged_down = 1;
		r->next_connect_ms = r->now_ms + backoff_next(&r->backoff);
	}
	if (r->ops->down != NULL)
		r->ops->down(r->arg);
}

/* Asks the current sentinel where the master is. */
static void
connect_sentinel(struct redis_claim *r)
{
	const struct sentinel *st = &r->sentinels[r->sentinel];
	const struct er_config *cfg = r->cfg;

	r->c = redisConnectNonBlock(st->host, st->port);
	if (r->c == NULL || r->c->err) {
		char why[160];

		snprintf(why, sizeof(why), "connect: %s", r->c ? r->c->errstr : "out of memory");
		drop_sentinel(r, why);
		return;
	}
	if (cfg->redis_sentinel_password[0] != '\0') {
		const char *argv[] = {"AUTH", cfg->redis_sentinel_password};

		append(r, 2, argv, NULL);
		fifo_push(r, REQ_SENT_AUTH, NULL);
	}
	{
		const char *argv[] = {"SENTINEL", "get-master-addr-by-name", cfg->redis_master_name};

		append(r, 3, argv, NULL);
		fifo_push(r, REQ_SENT_MASTER, NULL);
	}
	r->state = RC_SENT_CONNECTING;	/* until the socket is writable */
}

/* The sentinel's answer: [host, port] of the master, or nil (unknown name). */
static void
sentinel_reply(struct redis_claim *r, const redisReply *reply)
{
	const struct sentinel *st = &r->sentinels[r->sentinel];
	char why[200];
	long port = 0;

	if (reply->type == REDIS_REPLY_ERROR) {
		snprintf(why, sizeof(why), "SENTINEL get-master-addr-by-name: %.120s", reply->str);
		drop_sentinel(r, why);
		return;
	}
	if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
	    reply->element[0]->type == REDIS_REPLY_STRING &&
	    reply->element[1]->type == REDIS_REPLY_STRING &&
	    reply->element[0]->len < sizeof(r->host))
		port = strtol(reply->element[1]->str, NULL, 10);
	if (port < 1 || port > 65535) {
		snprintf(why, sizeof(why), "knows no master named \"%.60s\" (redis.master_name)",
		    r->cfg->redis_master_name);
		drop_sentinel(r, why);
		return;
	}
	memcpy(r->host, reply->element[0]->str, reply->element[0]->len + 1);
	r->port = (int)port;
	log_debug("redis_claim: sentinel %s:%d: master \"%s\" is %s:%d", st->host, st->port,
	    r->cfg->redis_master_name, r->host, r->port);
	redisFree(r->c);
	r->c = NULL;
	r->fifo_head = r->fifo_len = 0;
	r->claims_out = 0;
	r->sentinels_tried = 0;
	connect_now(r);
}

/* The next connection: through the sentinels when there are any. */
static void
connect_next(struct redis_claim *r)
{
	if (r->nsentinels > 0)
		connect_sentinel(r);
	else
		connect_now(r);
}

/* "host:port,host:port" into r->sentinels; 0 or -1. */
static int
parse_sentinels(struct redis_claim *r, const char *list)
{
	char one[300];

	for (const char *e = list; *e != '\0';) {
		const char *end = strchr(e, ',');
		size_t len = end != NULL ? (size_t)(end - e) : strlen(e);

		if (len >= sizeof(one) || r->nsentinels == SENTINELS_MAX)
			return -1;
		memcpy(one, e, len);
		one[len] = '\0';
		if (config_split_addr(one, r->sentinels[r->nsentinels].host,
		    sizeof(r->sentinels[0].host), &r->sentinels[r->nsentinels].port) < 0)
			return -1;
		r->nsentinels++;
		if (end == NULL)
			break;
		e = end + 1;
	}
	return 0;
}

struct redis_claim *
redis_claim_new(const struct er_config *cfg, int worker_id, const struct redis_claim_ops *ops,
    void *arg, struct stats_gauges *gauges, struct stats_values *counters,
    struct stats_reason *reason)
{
	struct redis_claim *r = calloc(1, sizeof(*r));
	const char *host;

	if (r == NULL) {
		log_error("redis_claim: out of memory");
		return NULL;
	}
	r->cfg = cfg;
	r->ops = ops;
	r->arg = arg;
	r->gauges = gauges;
	r->counters = counters;
	r->reason = reason;
	if (config_split_addr(cfg->redis_addr, r->host, sizeof(r->host), &r->port) < 0) {
		log_error("redis_claim: bad address %s", cfg->redis_addr);
		free(r);
		return NULL;
	}
	if (parse_sentinels(r, cfg->redis_sentinels) < 0) {
		log_error("redis_claim: bad redis.sentinels (at most %d host:port)", SENTINELS_MAX);
		free(r);
		return NULL;
	}
	host = host_name();
	snprintf(r->token_prefix, sizeof(r->token_prefix), "%s:%ld:w%d", host, (long)getpid(), worker_id);
	snprintf(r->lease_ms, sizeof(r->lease_ms), "%ld", cfg->redis_lease * 1000);
	snprintf(r->ttl_ms, sizeof(r->ttl_ms), "%ld", cfg->redis_ttl * 1000);
	backoff_init(&r->backoff, (uint64_t)cfg->retry_initial_ms, (uint64_t)cfg->retry_max_ms,
	    (double)cfg->retry_multiplier,
	    (uint64_t)getpid() * 2654435761u);
	r->now_ms = mono_ms();
	r->state = RC_DOWN;
	r->next_connect_ms = r->now_ms;
	return r;
}

void
redis_claim_destroy(struct redis_claim *r)
{
	if (r == NULL)
		return;
	if (r->c != NULL)
		redisFree(r->c);
	free(r->fifo);
	free(r->key);
	free(r->cmd);
	free(r);
}

const char *
redis_claim_token_prefix(const struct redis_claim *r)
{
	return r->token_prefix;
}

int
redis_claim_ready(const struct redis_claim *r)
{
	return r->state == RC_READY;
}

int
redis_claim_failed(const struct redis_claim *r)
{
	return r->state != RC_READY && r->failed;
}

size_t
redis_claim_pending(const struct redis_claim *r)
{
	return r->fifo_len;
}

size_t
redis_claim_claims_pending(const struct redis_claim *r)
{
	return r->claims_out;
}

int
redis_claim_fd(const struct redis_claim *r)
{
	return r->c != NULL ? r->c->fd : -1;
}

short
redis_claim_events(const struct redis_claim *r)
{
	if (r->c == NULL)
		return 0;
	return (short)(POLLIN | (r->want_write ? POLLOUT : 0));
}

void
redis_claim_flush(struct redis_claim *r)
{
	int done = 0;

	if (r->c == NULL || !r->want_write || r->state == RC_CONNECTING ||
	    r->state == RC_SENT_CONNECTING)
		return;
	if (redisBufferWrite(r->c, &done) != REDIS_OK) {
		drop_connection(r, r->c->errstr[0] ? r->c->errstr : "write failed");
		return;
	}
	r->want_write = !done;
}

/* 1 if INFO server names Redis 7.0 or later (SET takes NX and GET together). */
static int
takes_set_nx_get(const redisReply *reply)
{
	const char *v;

	if (reply->type != REDIS_REPLY_STRING)
		return 0;
	if ((v = strstr(reply->str, "redis_version:")) == NULL)
		return 0;
	return atoi(v + strlen("redis_version:")) >= 7;
}

/*
 * The reply to SET key token NX GET PX lease: nil, the key was free and
 * is ours now; "done", a duplicate; our own token, an earlier claim of
 * this delivery got through (its reply was lost); another token, held.
 */
static void
claim_set_reply(struct redis_claim *r, struct slot *s, const redisReply *reply)
{
	char token[sizeof(r->token_prefix) + 48];

	if (reply->type == REDIS_REPLY_NIL) {
		r->ops->claimed(r->arg, s, CLAIM_OK, NULL, 0);
	} else if (reply->type == REDIS_REPLY_STRING) {
		size_t tlen = build_token(r, s, token);

		if (reply->len == 4 && memcmp(reply->str, "done", 4) == 0)
			r->ops->claimed(r->arg, s, CLAIM_DONE, NULL, 0);
		else if (reply->len == tlen && memcmp(reply->str, token, tlen) == 0)
			r->ops->claimed(r->arg, s, CLAIM_OK, NULL, 0);
		else
			r->ops->claimed(r->arg, s, CLAIM_BUSY, reply->str, reply->len);
	} else {
		stat_add(&r->counters->redis_errors, 1);
		if (reply->type == REDIS_REPLY_ERROR)
			log_warn("redis_claim: claim %s: %s", s->ev.id, reply->str);
		r->ops->claimed(r->arg, s, CLAIM_ERROR, NULL, 0);
	}
}

static int
in_sentinel(const struct redis_claim *r)
{
	return r->state == RC_SENT_CONNECTING || r->state == RC_SENT_QUERY;
}

static void
handle_reply(struct redis_claim *r, redisReply *reply)
{
	struct req q;

	if (r->fifo_len == 0) {
		drop_connection(r, "unexpected reply");
		return;
	}
	q = fifo_pop(r);
	switch (q.type) {
	case REQ_SENT_AUTH:
		if (reply->type == REDIS_REPLY_ERROR) {
			char why[200];

			snprintf(why, sizeof(why), "AUTH refused: %.100s (redis.sentinel_password)",
			    reply->str);
			drop_sentinel(r, why);
		}
		return;
	case REQ_SENT_MASTER:
		sentinel_reply(r, reply);
		return;
	case REQ_ROLE:
		if (reply->type == REDIS_REPLY_ERROR) {
			char why[200];

			snprintf(why, sizeof(why), "ROLE refused: %.100s (with redis.sentinels the "
			    "user needs the ROLE command)", reply->str);
			drop_connection(r, why);
			return;
		}
		if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
		    reply->element[0]->type != REDIS_REPLY_STRING ||
		    strcmp(reply->element[0]->str, "master") != 0) {
			char why[200];

			snprintf(why, sizeof(why), "ROLE: not a master (%.20s): asking the sentinels "
			    "again", reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 &&
			    reply->element[0]->type == REDIS_REPLY_STRING ?
			    reply->element[0]->str : "no answer");
			drop_connection(r, why);
			return;
		}
		/* FALLTHROUGH */
	case REQ_AUTH:
	case REQ_SETUP:
	case REQ_SCRIPT:
	case REQ_VERSION:
		/* An INFO refused (renamed away) leaves every claim to the script. */
		if (q.type == REQ_VERSION)
			r->set_nx_get = takes_set_nx_get(reply);
		if (reply->type == REDIS_REPLY_ERROR && q.type != REQ_VERSION && q.type != REQ_ROLE) {
			char why[200];

			if (q.type == REQ_AUTH && r->cfg->redis_username[0] != '\0')
				snprintf(why, sizeof(why), "AUTH as user \"%.40s\" refused: %.100s",
				    r->cfg->redis_username, reply->str);
			else if (q.type == REQ_AUTH)
				snprintf(why, sizeof(why), "AUTH refused: %.100s", reply->str);
			else if (strncmp(reply->str, "NOAUTH", 6) == 0)
				snprintf(why, sizeof(why), "the server wants a password (AUTH): set "
				    "redis.password_file (and redis.username for an ACL user)");
			else
				snprintf(why, sizeof(why), "set-up: %s", reply->str);
			drop_connection(r, why);
			return;
		}
		if (q.type == REQ_SCRIPT && reply->type == REDIS_REPLY_STRING)
			snprintf(r->sha, sizeof(r->sha), "%s", reply->str);
		if (r->setup_pending > 0 && --r->setup_pending == 0 && r->state == RC_SETUP) {
			r->state = RC_READY;
			r->failed = 0;
			backoff_reset(&r->backoff);
			stat_set(&r->gauges->redis_up, 1);
			if (r->reason != NULL)
				stats_reason_set(r->reason, NULL);
			if (r->logged_down && r->nsentinels > 0)
				log_info("redis_claim: %s:%d: connected to master \"%s\" (sentinel %s:%d)",
				    r->host, r->port, r->cfg->redis_master_name,
				    r->sentinels[r->sentinel].host, r->sentinels[r->sentinel].port);
			else if (r->logged_down)
				log_info("redis_claim: %s:%d: connected", r->host, r->port);
			r->logged_down = 0;
			r->ops->ready(r->arg);
		}
		break;
	case REQ_CLAIM:
		if (reply->type == REDIS_REPLY_INTEGER && (reply->integer == 0 || reply->integer == 1)) {
			r->ops->claimed(r->arg, q.slot, reply->integer == 0 ? CLAIM_OK : CLAIM_DONE, NULL, 0);
		} else if (reply->type == REDIS_REPLY_STRING) {
			r->ops->claimed(r->arg, q.slot, CLAIM_BUSY, reply->str, reply->len);
		} else {
			stat_add(&r->counters->redis_errors, 1);
			if (reply->type == REDIS_REPLY_ERROR) {
				log_warn("redis_claim: claim %s: %s", q.slot->ev.id, reply->str);
				if (strncmp(reply->str, "NOSCRIPT", 8) == 0) {
					const char *argv[] = {"SCRIPT", "LOAD", claim_script};

					append(r, 3, argv, NULL);
					fifo_push(r, REQ_SCRIPT, NULL);
				}
			}
			r->ops->claimed(r->arg, q.slot, CLAIM_ERROR, NULL, 0);
		}
		break;
	case REQ_CLAIM_SET:
		claim_set_reply(r, q.slot, reply);
		break;
	case REQ_MARK:
		if (reply->type == REDIS_REPLY_ERROR) {
			log_warn("redis_claim: done-mark: %s", reply->str);
			stat_add(&r->counters->redis_errors, 1);
		}
		break;
	case REQ_RELEASE:
	case REQ_RENEW:
		if (reply->type == REDIS_REPLY_ERROR) {
			/* The lease ends it anyway. */
			log_warn("redis_claim: %s: %s", q.type == REQ_RENEW ? "renew" : "release",
			    reply->str);
			stat_add(&r->counters->redis_errors, 1);
		}
		break;
	}
	/*
	 * A replica answers writes READONLY: the master we knew was demoted
	 * (a failover). Every pending request fails now; the next connection
	 * finds the master again.
	 */
	if (reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "READONLY", 8) == 0 &&
	    r->c != NULL)
		drop_connection(r, "READONLY: the server is a replica now");
}

void
redis_claim_handle(struct redis_claim *r, short revents, uint64_t now_ms)
{
	r->now_ms = now_ms;
	if (r->c == NULL)
		return;
	if ((r->state == RC_CONNECTING || r->state == RC_SENT_CONNECTING) &&
	    (revents & (POLLOUT | POLLERR | POLLHUP))) {
		int err = 0;
		socklen_t len = sizeof(err);

		if (getsockopt(r->c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err != 0) {
			char why[160];

			snprintf(why, sizeof(why), "connect: %s", strerror(err));
			if (r->state == RC_SENT_CONNECTING)
				drop_sentinel(r, why);
			else
				drop_connection(r, why);
			return;
		}
		r->state = r->state == RC_SENT_CONNECTING ? RC_SENT_QUERY : RC_SETUP;
	}
	if (revents & (POLLIN | POLLERR | POLLHUP)) {
		void *reply = NULL;

		if (redisBufferRead(r->c) != REDIS_OK) {
			const char *why = r->c->errstr[0] ? r->c->errstr : "connection closed";

			if (in_sentinel(r))
				drop_sentinel(r, why);
			else
				drop_connection(r, why);
			return;
		}
		for (;;) {
			if (redisGetReplyFromReader(r->c, &reply) != REDIS_OK) {
				if (in_sentinel(r))
					drop_sentinel(r, "protocol error");
				else
					drop_connection(r, "protocol error");
				return;
			}
			if (reply == NULL)
				break;
			handle_reply(r, reply);
			freeReplyObject(reply);
			if (r->c == NULL)
				return;
		}
	}
	if (revents & POLLOUT)
		redis_claim_flush(r);
}

void
redis_claim_tick(struct redis_claim *r, uint64_t now_ms)
{
	r->now_ms = now_ms;
	if (r->state == RC_DOWN && now_ms >= r->next_connect_ms) {
		connect_next(r);
		return;
	}
	if (r->c != NULL && r->fifo_len > 0 &&
	    now_ms - r->fifo[r->fifo_head].sent_ms > REDIS_REPLY_TIMEOUT_MS) {
		if (in_sentinel(r))
			drop_sentinel(r, "no reply within 5 s");
		else
			drop_connection(r, "no reply within 5 s");
	}
}

uint64_t
redis_claim_next_due(const struct redis_claim *r)
{
	if (r->state == RC_DOWN)
		return r->next_connect_ms;
	if (r->fifo_len > 0)
		return r->fifo[r->fifo_head].sent_ms + REDIS_REPLY_TIMEOUT_MS + 1;
	return UINT64_MAX;
}

/*
 * The slot's key, prefix + route + ':' + id, in r->key; its length, or
 * 0 (ENOMEM). The head is built once per route, not per message.
 */
static size_t
build_key(struct redis_claim *r, const struct slot *s)
{
	if (r->key_route != s->route) {
		size_t head = strlen(r->cfg->redis_key_prefix) + strlen(s->route->name) + 1;
		char *k = realloc(r->key, head + EVENT_ID_MAX + 1);

		if (k == NULL)
			return 0;
		r->key = k;
		r->key_cap = head + EVENT_ID_MAX + 1;
		r->key_head = (size_t)sprintf(k, "%s%s:", r->cfg->redis_key_prefix, s->route->name);
		r->key_route = s->route;
	}
	if (s->ev.id_len > EVENT_ID_MAX)
		return 0;
	memcpy(r->key + r->key_head, s->ev.id, s->ev.id_len);
	return r->key_head + s->ev.id_len;
}

/* The slot's claim token "<token_prefix>:<generation>:<tag>" in buf; its length. */
static size_t
build_token(const struct redis_claim *r, const struct slot *s, char *buf)
{
	size_t plen = strlen(r->token_prefix);
	char *t = buf;

	memcpy(t, r->token_prefix, plen);
	t += plen;
	*t++ = ':';
	t = put_u64(t, s->generation);
	*t++ = ':';
	t = put_u64(t, s->tag);
	return (size_t)(t - buf);
}

/* EVALSHA of the claim script; mode "0", "1" (redelivered) or "R" (release). */
static int
eval_claim(struct redis_claim *r, struct slot *s, const char *mode, enum req_type type)
{
	char token[sizeof(r->token_prefix) + 48];
	size_t klen, tlen;

	if (r->state != RC_READY)
		return -1;
	klen = build_key(r, s);
	tlen = build_token(r, s, token);
	{
		const char *argv[] = {"EVALSHA", r->sha, "1", r->key, token, r->lease_ms, mode};
		size_t argvlen[] = {7, strlen(r->sha), 1, klen, tlen, strlen(r->lease_ms), 1};

		if (klen == 0 || append(r, 7, argv, argvlen) < 0 ||
		    fifo_push(r, type, type == REQ_CLAIM ? s : NULL) < 0)
			return -1;
	}
	return 0;
}

/*
 * SET key token NX GET PX lease: claims a free key and returns what holds
 * it otherwise, in one command (1.9 us of Redis' time per call against
 * 6.0-6.2 for the EVALSHA, INFO commandstats over a 220,000-message
 * drain). It cannot take over a stale claim, so a redelivery still runs
 * the script; so does every claim on a server older than 7.0.
 */
static int
set_claim(struct redis_claim *r, struct slot *s)
{
	char token[sizeof(r->token_prefix) + 48];
	size_t klen, tlen;

	if (r->state != RC_READY)
		return -1;
	klen = build_key(r, s);
	tlen = build_token(r, s, token);
	{
		const char *argv[] = {"SET", r->key, token, "NX", "GET", "PX", r->lease_ms};
		size_t argvlen[] = {3, klen, tlen, 2, 3, 2, strlen(r->lease_ms)};

		if (klen == 0 || append(r, 7, argv, argvlen) < 0 || fifo_push(r, REQ_CLAIM_SET, s) < 0)
			return -1;
	}
	return 0;
}

int
redis_claim_claim(struct redis_claim *r, struct slot *s)
{
	if (!s->redelivered && r->set_nx_get)
		return set_claim(r, s);
	return eval_claim(r, s, s->redelivered ? "1" : "0", REQ_CLAIM);
}

int
redis_claim_release(struct redis_claim *r, struct slot *s)
{
	return eval_claim(r, s, "R", REQ_RELEASE);
}

int
redis_claim_renew(struct redis_claim *r, struct slot *s)
{
	return eval_claim(r, s, "X", REQ_RENEW);
}

int
redis_claim_mark(struct redis_claim *r, struct slot *s)
{
	size_t klen;

	if (r->state != RC_READY)
		return -1;
	klen = build_key(r, s);
	{
		const char *argv[] = {"SET", r->key, "done", "PX", r->ttl_ms};
		size_t argvlen[] = {3, klen, 4, 2, strlen(r->ttl_ms)};

		if (klen == 0 || append(r, 5, argv, argvlen) < 0 || fifo_push(r, REQ_MARK, NULL) < 0)
			return -1;
	}
	return 0;
}
