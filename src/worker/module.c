/*
 * module: the table worker.so exports (see module.h).
 */
#include "autoconf.h"

#include <stdio.h>

#include <amqp.h>
#include <librdkafka/rdkafka.h>

#include "common/amqp_tls.h"
#include "worker/kafka_sink.h"
#include "worker/module.h"
#include "worker/worker.h"

static const char *
library_versions(void)
{
	static char buf[128];

	snprintf(buf, sizeof(buf), "librdkafka %s, rabbitmq-c %s", rd_kafka_version_str(),
	    amqp_version());
	return buf;
}

/* What only the broker libraries can check: kafka.properties, the AMQP TLS files. */
static int
check(const struct er_config *cfg, char *err, size_t errsz)
{
	if (kafka_sink_check_properties(cfg, err, errsz) < 0)
		return -1;
	return amqp_tls_check(cfg, err, errsz);
}

extern const struct worker_module event_relay_worker_module;

const struct worker_module event_relay_worker_module = {
	PACKAGE_VERSION, worker_main, check, library_versions,
};
