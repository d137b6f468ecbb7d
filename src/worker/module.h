/*
 * module: the worker as a loadable module (worker.so).
 *
 * The master forks each worker and the child loads worker.so, so the
 * master itself never maps librdkafka, rabbitmq-c, hiredis or OpenSSL:
 * it stays small (its resident size is mostly shared libraries) and
 * cannot be disturbed by them. The module exports one table; it leaves
 * the common code (settings, log, stats) to the executable, which
 * exports it, so master and worker share one copy of it.
 */
#ifndef ER_MODULE_H
#define ER_MODULE_H

#include <stddef.h>

struct er_config;
struct route_set;
struct worker_slot;

#define WORKER_MODULE_SYMBOL "event_relay_worker_module"
#define WORKER_MODULE_FILE "worker.so"

struct worker_module {
	const char *version;	/* PACKAGE_VERSION it was built as */
	/* worker_main(), see worker.h */
	int (*main)(const struct er_config *cfg, const struct route_set *routes, int id,
	    struct worker_slot *ws, int lifeline);
	/*
	 * kafka_sink_check_properties() (kafka_sink.h), then amqp_tls_check()
	 * (common/amqp_tls.h): 0, or -1 with the first problem in err.
	 */
	int (*check_properties)(const struct er_config *cfg, char *err, size_t errsz);
	/* "librdkafka X, rabbitmq-c Y" */
	const char *(*library_versions)(void);
};

#endif
