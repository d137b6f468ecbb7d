/*
 * kafka_sink: the worker's idempotent librdkafka producer (acks=all).
 * Records are produced asynchronously with the slot as opaque; delivery
 * reports come back through kafka_sink_poll(), driven by a pipe that
 * librdkafka writes when its queue becomes non-empty.
 */
#ifndef ER_KAFKA_SINK_H
#define ER_KAFKA_SINK_H

#include <stddef.h>
#include <stdint.h>
#include <librdkafka/rdkafka.h>

struct er_config;
struct slot;
struct stats_gauges;

struct kafka_sink_ops {
	/*
	 * A delivery report: err 0 means Kafka has the record, at
	 * `partition` and `offset` (-1 when not known).
	 */
	void (*delivered)(void *arg, struct slot *s, rd_kafka_resp_err_t err, int32_t partition,
	    int64_t offset);
	/* librdkafka lost its connection to every broker. */
	void (*all_down)(void *arg);
};

struct kafka_sink;

/* Creates the producer; NULL after logging why. */
struct kafka_sink *kafka_sink_new(const struct er_config *cfg, int worker_id,
    const struct kafka_sink_ops *ops, void *arg, struct stats_gauges *gauges);
void kafka_sink_destroy(struct kafka_sink *k);

/* The read end of the wake-up pipe: poll it for POLLIN. */
int kafka_sink_fd(const struct kafka_sink *k);

/*
 * Produces the slot's event to its route's topic. The value is not
 * copied: the slot's body must stay until the report. A sampled slot
 * whose trace says so (s->tr.rewrite) gets its send span's traceparent
 * instead of the one the event carries. Returns 0, or the
 * error (RD_KAFKA_RESP_ERR__QUEUE_FULL: try again after a poll).
 */
rd_kafka_resp_err_t kafka_sink_produce(struct kafka_sink *k, struct slot *s);

/*
 * Serves delivery reports and other callbacks. Returns 1 if the
 * producer raised a fatal error (it must be recreated), else 0.
 */
int kafka_sink_poll(struct kafka_sink *k, uint64_t now_ms);
/*
 * When kafka_sink_poll() is due even without a wake-up: the pipe is
 * written only when librdkafka's queue goes from empty to non-empty, so
 * one missed transition would otherwise leave reports unserved forever.
 */
uint64_t kafka_sink_next_poll(const struct kafka_sink *k);

/*
 * Destroys the producer, dropping every record it still holds without a
 * report, and creates a fresh one: the caller produces those records
 * again. 0, or -1 if the new producer could not be created.
 */
int kafka_sink_restart(struct kafka_sink *k);

/*
 * 1 if records are outstanding and none was reported for longer than
 * message.timeout.ms + socket.timeout.ms + 5 s (kafka_sink_stall_ms):
 * librdkafka should have reported them by then, so the producer is stuck.
 */
int kafka_sink_stalled(struct kafka_sink *k, uint64_t now_ms);
uint64_t kafka_sink_stall_ms(const struct kafka_sink *k);

/*
 * 1 if a broker was up in the last statistics or a record was delivered
 * since (always 1 when statistics.interval.ms is 0: it cannot tell).
 */
int kafka_sink_up(const struct kafka_sink *k);
/*
 * 1 if no broker has been up for two statistics intervals and a second
 * (never when statistics are off). librdkafka reports "all brokers down"
 * only when brokers it was connected to go down; this also covers a
 * producer that never reached any.
 */
int kafka_sink_down_too_long(const struct kafka_sink *k, uint64_t now_ms);

/* For fault tests: raises a fatal producer error (rd_kafka_test_fatal_error). */
void kafka_sink_inject_fatal(struct kafka_sink *k);

/* Waits up to timeout_ms for outstanding records; returns those left. */
int kafka_sink_flush(struct kafka_sink *k, int timeout_ms);

/* librdkafka's queue length (records, requests and callbacks). */
int kafka_sink_outq(const struct kafka_sink *k);
/* Records produced and not yet reported. */
uint64_t kafka_sink_outstanding(const struct kafka_sink *k);

/* Errors that producing again can never fix: dead-letter instead. */
int kafka_error_is_permanent(rd_kafka_resp_err_t err);

/*
 * Checks kafka.properties against librdkafka, and creates (then
 * destroys) a producer with them and no broker, which loads the TLS
 * files and checks the SASL settings; 0, or -1 with the reason in err.
 */
int kafka_sink_check_properties(const struct er_config *cfg, char *err, size_t errsz);

/*
 * The producer's properties as the worker sets them (the defaults,
 * kafka.brokers, kafka.properties with each NAME_file resolved), for
 * the tests; NULL with the reason in err. The caller destroys it.
 */
rd_kafka_conf_t *kafka_sink_conf(const struct er_config *cfg, char *err, size_t errsz);

#endif
