/*
 * kafka_sink: owns the worker's rd_kafka_t, its topic handles and the
 * wake-up pipe.
 *
 * librdkafka writes to the pipe only when its main queue goes from empty
 * to non-empty, so every wake-up drains the pipe and then polls until
 * rd_kafka_poll() returns 0; stopping early would lose the wake-up.
 * Connectivity for /ready comes from the statistics callback: the
 * producer counts as connected while at least one broker is UP.
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/host.h"
#include "common/log.h"
#include "common/redact.h"
#include "common/route.h"
#include "common/stats.h"
#include "worker/kafka_sink.h"
#include "worker/slot.h"

#define KAFKA_MAX_TOPICS ROUTE_MAX	/* one per route with a fixed topic */
#define KAFKA_POLL_MAX_MS 1000	/* poll at least this often, woken or not */

struct kafka_sink {
	const struct er_config *cfg;
	int worker_id;
	rd_kafka_t *rk;
	int pipefd[2];
	int discard;		/* destroying: reports are not the relay's any more */
	int up;			/* a broker was UP in the last statistics */
	uint64_t down_since_ms;	/* when `up` last became 0 */
	uint64_t stats_ms;	/* statistics.interval.ms (0: no statistics) */
	uint64_t polled_ms;	/* last kafka_sink_poll() */
	uint64_t now_ms;
	uint64_t outstanding;	/* produced, not yet reported */
	uint64_t progress_ms;	/* last report, or when outstanding left 0 */
	uint64_t stall_ms;	/* no report for this long while outstanding: stalled */
	const struct kafka_sink_ops *ops;
	void *arg;
	struct stats_gauges *gauges;
	rd_kafka_resp_err_t last_error;	/* to log a repeated error once */
	struct {
		const struct route *route;
		rd_kafka_topic_t *rkt;
	} topics[KAFKA_MAX_TOPICS];
	size_t ntopics;
};

/* Defaults a relay needs; kafka.properties may override all but these. */
static const char *const kafka_defaults[][2] = {
#define KAFKA_DEFAULT(name, value) {name, value},
#include "kafka_defaults.def"
#undef KAFKA_DEFAULT
};

static const char *const kafka_locked[] = {"enable.idempotence", "acks"};

int
kafka_error_is_permanent(rd_kafka_resp_err_t err)
{
	switch (err) {
	case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
	case RD_KAFKA_RESP_ERR_INVALID_RECORD:
	case RD_KAFKA_RESP_ERR_INVALID_MSG:
	case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
	case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
	case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
	case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
	case RD_KAFKA_RESP_ERR_INVALID_TIMESTAMP:	/* a timestamp the broker refuses */
	case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
	case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
	case RD_KAFKA_RESP_ERR__INVALID_ARG:
		return 1;
	default:
		return 0;
	}
}

static int
conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *err, size_t errsz)
{
	if (rd_kafka_conf_set(conf, name, value, err, errsz) != RD_KAFKA_CONF_OK)
		return -1;
	return 0;
}

/*
 * Applies defaults, the configured brokers and kafka.properties. A
 * property NAME_file=PATH sets NAME to the content of PATH as the master
 * read it (config_secret): the worker never opens the file. No message
 * quotes the value of a property that holds a secret.
 */
static int
conf_build(rd_kafka_conf_t *conf, const struct er_config *cfg, char *err, size_t errsz)
{
	for (size_t i = 0; i < sizeof(kafka_defaults) / sizeof(kafka_defaults[0]); i++)
		if (conf_set(conf, kafka_defaults[i][0], kafka_defaults[i][1], err, errsz) < 0)
			return -1;
	if (conf_set(conf, "bootstrap.servers", cfg->kafka_brokers, err, errsz) < 0)
		return -1;
	for (size_t i = 0; i < cfg->kafka_properties.n; i++) {
		const char *p = cfg->kafka_properties.v[i];
		const char *eq = strchr(p, '=');
		const char *value;
		char name[256];
		size_t n;

		if (eq == NULL || (n = (size_t)(eq - p)) == 0 || n >= sizeof(name)) {
			snprintf(err, errsz, "kafka.properties: element %zu: expected name=value", i + 1);
			return -1;
		}
		memcpy(name, p, n);
		name[n] = '\0';
		value = eq + 1;
		if (n > 5 && strcmp(name + n - 5, "_file") == 0) {
			name[n - 5] = '\0';
			value = config_secret(cfg, eq + 1, NULL);
			if (value == NULL) {	/* config_load() reads every one */
				snprintf(err, errsz, "kafka.properties: %s_file: %s was not read at start",
				    name, eq + 1);
				return -1;
			}
		}
		for (size_t j = 0; j < sizeof(kafka_locked) / sizeof(kafka_locked[0]); j++) {
			if (strcmp(name, kafka_locked[j]) == 0) {
				snprintf(err, errsz, "kafka.properties: %s: may not be changed (the relay needs %s)",
				    name, name);
				return -1;
			}
		}
		if (conf_set(conf, name, value, err, errsz) < 0) {
			char tmp[512];

			if (redact_property(name, strlen(name)) || value != eq + 1)
				snprintf(tmp, sizeof(tmp), "kafka.properties: %s: librdkafka refused the "
				    "value (not shown: it may be a secret)%s", name,
				    strstr(err, "No such configuration property") != NULL ?
				    ": no such property" : "");
			else
				snprintf(tmp, sizeof(tmp), "kafka.properties: %s: %s", name, err);
			snprintf(err, errsz, "%s", tmp);
			return -1;
		}
	}
	return 0;
}

rd_kafka_conf_t *
kafka_sink_conf(const struct er_config *cfg, char *err, size_t errsz)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();

	if (conf_build(conf, cfg, err, errsz) < 0) {
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	return conf;
}

static void
quiet_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void)rk;
	(void)level;
	(void)fac;
	(void)buf;
}

/*
 * Builds the properties, then a producer without brokers: rd_kafka_new()
 * loads the TLS files (and decrypts the key with ssl.key.password) and
 * checks the SASL settings, so that -t finds what would otherwise stop
 * every worker. It connects to nothing.
 */
int
kafka_sink_check_properties(const struct er_config *cfg, char *err, size_t errsz)
{
	rd_kafka_conf_t *conf = kafka_sink_conf(cfg, err, errsz);
	char why[512];
	rd_kafka_t *rk;

	if (conf == NULL)
		return -1;
	if (conf_set(conf, "bootstrap.servers", "", why, sizeof(why)) < 0) {
		rd_kafka_conf_destroy(conf);
		snprintf(err, errsz, "kafka.properties: %s", why);
		return -1;
	}
	rd_kafka_conf_set_log_cb(conf, quiet_log_cb);
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
	if (rk == NULL) {
		rd_kafka_conf_destroy(conf);
		snprintf(err, errsz, "kafka.properties: %s", why);
		return -1;
	}
	rd_kafka_destroy(rk);
	return 0;
}

static void
set_up(struct kafka_sink *k, int up)
{
	if (k->up && !up)
		k->down_since_ms = mono_ms();
	k->up = up;
	if (k->gauges != NULL)
		stat_set(&k->gauges->kafka_up, up);
}

static void
dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct kafka_sink *k = opaque;

	(void)rk;
	if (k->discard)
		return;
	if (k->outstanding > 0)
		k->outstanding--;
	k->progress_ms = k->now_ms;
	if (m->err == 0)
		set_up(k, 1);
	k->ops->delivered(k->arg, m->_private, m->err, m->partition, m->offset);
}

static void
error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct kafka_sink *k = opaque;

	(void)rk;
	if (k->discard)
		return;
	if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
		set_up(k, 0);
		if (k->ops->all_down != NULL)
			k->ops->all_down(k->arg);
	}
	if ((rd_kafka_resp_err_t)err == k->last_error)
		log_debug("kafka_sink: %s: %s", rd_kafka_err2name(err), reason);
	else
		log_warn("kafka_sink: %s: %s", rd_kafka_err2name(err), reason);
	k->last_error = err;
}

/*
 * The statistics JSON is librdkafka's own, fixed-format output, so a
 * scan for each broker's "source" and "state" is enough here.
 */
static int
stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
	struct kafka_sink *k = opaque;
	const char *p = strstr(json, "\"brokers\":{");
	const char *end = p != NULL ? strstr(p, "\"topics\":{") : NULL;
	int up = 0;

	(void)rk;
	(void)len;
	if (k->discard)
		return 0;
	while (p != NULL && (p = strstr(p, "\"source\":\"")) != NULL && (end == NULL || p < end)) {
		const char *src = p + 10;
		const char *st = strstr(src, "\"state\":\"");

		if (st == NULL)
			break;
		if (strncmp(src, "internal", 8) != 0 && strncmp(st + 9, "UP\"", 3) == 0)
			up++;
		p = st + 9;
	}
	set_up(k, up > 0);
	if (up > 0)
		k->last_error = 0;
	return 0;	/* librdkafka frees json */
}

static void
log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void)rk;
	if (level <= 3)
		log_error("kafka_sink: %s: %s", fac, buf);
	else if (level <= 4)
		log_warn("kafka_sink: %s: %s", fac, buf);
	else
		log_debug("kafka_sink: %s: %s", fac, buf);
}

/* A property's value in milliseconds, as librdkafka has it, or `def`. */
static uint64_t
conf_ms(const rd_kafka_conf_t *conf, const char *name, uint64_t def)
{
	char buf[32];
	size_t n = sizeof(buf);
	char *end;
	unsigned long long v;

	if (rd_kafka_conf_get(conf, name, buf, &n) != RD_KAFKA_CONF_OK)
		return def;
	v = strtoull(buf, &end, 10);
	return *end == '\0' ? (uint64_t)v : def;
}

/* Creates the rd_kafka_t; 0, or -1 after logging why. */
static int
producer_start(struct kafka_sink *k)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_queue_t *q;
	char err[512], client_id[128];

	snprintf(client_id, sizeof(client_id), "event-relay-%s-w%d", host_name(), k->worker_id);
	if (conf_set(conf, "client.id", client_id, err, sizeof(err)) < 0 ||
	    conf_build(conf, k->cfg, err, sizeof(err)) < 0) {
		log_error("kafka_sink: %s", err);
		rd_kafka_conf_destroy(conf);
		return -1;
	}
	/*
	 * A healthy producer reports every record within its message
	 * timeout plus one request timeout; longer silence is a stall.
	 */
	k->stall_ms = conf_ms(conf, "message.timeout.ms", 300000) +
	    conf_ms(conf, "socket.timeout.ms", 60000) + 5000;
	k->stats_ms = conf_ms(conf, "statistics.interval.ms", 0);
	rd_kafka_conf_set_opaque(conf, k);
	rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
	rd_kafka_conf_set_error_cb(conf, error_cb);
	rd_kafka_conf_set_stats_cb(conf, stats_cb);
	rd_kafka_conf_set_log_cb(conf, log_cb);
	k->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	if (k->rk == NULL) {
		log_error("kafka_sink: rd_kafka_new: %s", err);
		rd_kafka_conf_destroy(conf);
		return -1;
	}
	q = rd_kafka_queue_get_main(k->rk);
	rd_kafka_queue_io_event_enable(q, k->pipefd[1], "1", 1);
	rd_kafka_queue_destroy(q);
	/*
	 * Events queued before io events were enabled (a refused connect
	 * is reported within microseconds) would never write the pipe, and
	 * nothing would ever drain them: wake the first poll by hand.
	 */
	if (write(k->pipefd[1], "1", 1) < 0 && errno != EAGAIN)
		log_warn("kafka_sink: pipe: %s", strerror(errno));
	k->outstanding = 0;
	k->last_error = 0;
	k->up = 0;
	k->down_since_ms = mono_ms();
	return 0;
}

/*
 * Destroys the rd_kafka_t without its reports: whatever it still held
 * is the caller's to produce again (or to leave unacked).
 */
static void
producer_stop(struct kafka_sink *k)
{
	rd_kafka_queue_t *q;

	if (k->rk == NULL)
		return;
	k->discard = 1;
	for (size_t i = 0; i < k->ntopics; i++)
		rd_kafka_topic_destroy(k->topics[i].rkt);
	k->ntopics = 0;
	q = rd_kafka_queue_get_main(k->rk);
	rd_kafka_queue_io_event_enable(q, -1, NULL, 0);
	rd_kafka_queue_destroy(q);
	rd_kafka_purge(k->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
	rd_kafka_destroy(k->rk);
	k->rk = NULL;
	k->discard = 0;
	k->outstanding = 0;
}

struct kafka_sink *
kafka_sink_new(const struct er_config *cfg, int worker_id, const struct kafka_sink_ops *ops,
    void *arg, struct stats_gauges *gauges)
{
	struct kafka_sink *k = calloc(1, sizeof(*k));

	if (k == NULL) {
		log_error("kafka_sink: out of memory");
		return NULL;
	}
	k->cfg = cfg;
	k->worker_id = worker_id;
	k->ops = ops;
	k->arg = arg;
	k->gauges = gauges;
	k->pipefd[0] = k->pipefd[1] = -1;
	if (pipe2(k->pipefd, O_NONBLOCK | O_CLOEXEC) < 0) {
		log_error("kafka_sink: pipe: %s", strerror(errno));
		free(k);
		return NULL;
	}
	if (producer_start(k) < 0) {
		kafka_sink_destroy(k);
		return NULL;
	}
	return k;
}

int
kafka_sink_restart(struct kafka_sink *k)
{
	producer_stop(k);
	set_up(k, 0);
	return producer_start(k);
}

uint64_t
kafka_sink_next_poll(const struct kafka_sink *k)
{
	return k->polled_ms + KAFKA_POLL_MAX_MS;
}

int
kafka_sink_stalled(struct kafka_sink *k, uint64_t now_ms)
{
	k->now_ms = now_ms;
	return k->outstanding > 0 && now_ms > k->progress_ms + k->stall_ms;
}

uint64_t
kafka_sink_stall_ms(const struct kafka_sink *k)
{
	return k->stall_ms;
}

int
kafka_sink_up(const struct kafka_sink *k)
{
	return k->stats_ms == 0 ? 1 : k->up;	/* no statistics: cannot tell */
}

int
kafka_sink_down_too_long(const struct kafka_sink *k, uint64_t now_ms)
{
	/* Two statistics without a broker up, and a second's grace. */
	return k->stats_ms > 0 && !k->up && now_ms > k->down_since_ms + 2 * k->stats_ms + 1000;
}

void
kafka_sink_inject_fatal(struct kafka_sink *k)
{
	rd_kafka_resp_err_t err = rd_kafka_test_fatal_error(k->rk,
	    RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, "injected for a fault test (SIGUSR2)");

	if (err != 0)
		log_warn("kafka_sink: could not inject a fatal error: %s", rd_kafka_err2str(err));
}

void
kafka_sink_destroy(struct kafka_sink *k)
{
	if (k == NULL)
		return;
	producer_stop(k);
	if (k->pipefd[0] >= 0)
		close(k->pipefd[0]);
	if (k->pipefd[1] >= 0)
		close(k->pipefd[1]);
	free(k);
}

int
kafka_sink_fd(const struct kafka_sink *k)
{
	return k->pipefd[0];
}

static rd_kafka_topic_t *
topic_for(struct kafka_sink *k, const struct route *r)
{
	for (size_t i = 0; i < k->ntopics; i++)
		if (k->topics[i].route == r)
			return k->topics[i].rkt;
	if (k->ntopics == KAFKA_MAX_TOPICS)
		return NULL;
	k->topics[k->ntopics].route = r;
	k->topics[k->ntopics].rkt = rd_kafka_topic_new(k->rk, r->topic, NULL);
	if (k->topics[k->ntopics].rkt == NULL) {
		log_error("kafka_sink: rd_kafka_topic_new %s: %s", r->topic,
		    rd_kafka_err2str(rd_kafka_last_error()));
		return NULL;
	}
	return k->topics[k->ntopics++].rkt;
}

/*
 * A fixed topic goes by its topic object (made once per route); a topic
 * from a template by name (librdkafka looks its object up).
 */
rd_kafka_resp_err_t
kafka_sink_produce(struct kafka_sink *k, struct slot *s)
{
	const struct event *ev = &s->ev;
	rd_kafka_topic_t *rkt = ev->topic == NULL ? topic_for(k, s->route) : NULL;
	rd_kafka_headers_t *hdrs = NULL;
	rd_kafka_resp_err_t err;

	if (rkt == NULL && ev->topic == NULL)
		return RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
	if (s->tr.sampled && s->tr.rewrite) {
		hdrs = rd_kafka_headers_new(ev->nhdr + 1);
		for (size_t i = 0; i < ev->nhdr; i++)
			if (ev->hdr[i].name_len != 11 || memcmp(ev->hdr[i].name, "traceparent", 11) != 0)
				rd_kafka_header_add(hdrs, ev->hdr[i].name, (ssize_t)ev->hdr[i].name_len,
				    ev->hdr[i].value, (ssize_t)ev->hdr[i].len);
		rd_kafka_header_add(hdrs, "traceparent", 11, s->tr.traceparent, TRACEPARENT_LEN);
	} else if (ev->nhdr > 0) {
		hdrs = rd_kafka_headers_new(ev->nhdr);
		for (size_t i = 0; i < ev->nhdr; i++)
			rd_kafka_header_add(hdrs, ev->hdr[i].name, (ssize_t)ev->hdr[i].name_len,
			    ev->hdr[i].value, (ssize_t)ev->hdr[i].len);
	}
	if (rkt != NULL)
		err = rd_kafka_producev(k->rk,
		    RD_KAFKA_V_RKT(rkt),
		    RD_KAFKA_V_PARTITION(RD_KAFKA_PARTITION_UA),
		    RD_KAFKA_V_MSGFLAGS(0),	/* value stays in the slot until the report */
		    RD_KAFKA_V_VALUE((void *)ev->value, ev->value_len),
		    RD_KAFKA_V_KEY(ev->key, ev->key_len),
		    RD_KAFKA_V_TIMESTAMP(ev->timestamp_ms),
		    RD_KAFKA_V_HEADERS(hdrs),
		    RD_KAFKA_V_OPAQUE(s),
		    RD_KAFKA_V_END);
	else
		err = rd_kafka_producev(k->rk,
		    RD_KAFKA_V_TOPIC(ev->topic),
		    RD_KAFKA_V_PARTITION(RD_KAFKA_PARTITION_UA),
		    RD_KAFKA_V_MSGFLAGS(0),
		    RD_KAFKA_V_VALUE((void *)ev->value, ev->value_len),
		    RD_KAFKA_V_KEY(ev->key, ev->key_len),
		    RD_KAFKA_V_TIMESTAMP(ev->timestamp_ms),
		    RD_KAFKA_V_HEADERS(hdrs),
		    RD_KAFKA_V_OPAQUE(s),
		    RD_KAFKA_V_END);
	if (err != 0) {
		if (hdrs != NULL)
			rd_kafka_headers_destroy(hdrs);
		return err;
	}
	if (k->outstanding++ == 0)
		k->progress_ms = k->now_ms;
	return 0;
}

int
kafka_sink_poll(struct kafka_sink *k, uint64_t now_ms)
{
	char buf[256];

	k->now_ms = now_ms;
	k->polled_ms = now_ms;
	while (read(k->pipefd[0], buf, sizeof(buf)) > 0)
		;
	while (rd_kafka_poll(k->rk, 0) > 0)
		;
	if (rd_kafka_fatal_error(k->rk, NULL, 0) != 0) {
		char err[512];

		rd_kafka_fatal_error(k->rk, err, sizeof(err));
		log_error("kafka_sink: fatal producer error: %s", err);
		return 1;
	}
	return 0;
}

int
kafka_sink_flush(struct kafka_sink *k, int timeout_ms)
{
	if (k->rk == NULL)
		return 0;
	rd_kafka_flush(k->rk, timeout_ms);
	return rd_kafka_outq_len(k->rk);
}

int
kafka_sink_outq(const struct kafka_sink *k)
{
	return k->rk != NULL ? rd_kafka_outq_len(k->rk) : 0;
}

uint64_t
kafka_sink_outstanding(const struct kafka_sink *k)
{
	return k->outstanding;
}
