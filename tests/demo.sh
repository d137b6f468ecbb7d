#!/bin/bash
# demo.sh: the relay end to end on this machine, from nothing.
#
# Installs what is needed (Debian 12), builds event-relay under ./build,
# starts a private RabbitMQ, Redis and a 3-broker Kafka mock cluster on
# 127.0.0.1, runs event-relayd with 2 workers, publishes sample events
# (with duplicates and a poison message), and shows them arriving in
# Kafka, the dead letter, and /metrics. Everything it started is stopped
# at the end; with --keep it waits for Ctrl-C first, so that you can
# look around (curl the metrics, publish more with er-publish).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
keep=0
[[ ${1:-} == --keep ]] && keep=1

"$top/tests/install-deps.sh"
cd "$top"
if [[ ! -x build/src/event-relayd || ! -f build/Makefile ]]; then
	autoreconf -fi
	mkdir -p build
	(cd build && ../configure -q)
fi
make -C build -j"$(nproc)" >/dev/null
make -C build -j"$(nproc)" check TESTS= >/dev/null	# builds the test tools only

export BUILDDIR=$top/build srcdir=$top
. "$top/tests/harness/servers.sh"
. "$top/tests/harness/relay.sh"
harness_init

echo "==> starting private servers"
start_rabbitmq
start_redis
start_kafka_mock events:4

echo "==> starting event-relayd (2 workers), log in $HARNESS_TMP/relay.log"
start_relay WORKER_COUNT=2

echo "==> publishing 1000 events (every 10th twice, one poison message)"
"$ER_PUBLISH" -u "$AMQP_URL" -q events -n 1000 --dup-every 10 --poison-every 1000 \
	--size 120 --expected "$HARNESS_TMP/expected"
wait_metric event_relay_acked_total == 1101 60

echo "==> the first records in Kafka topic 'events' (key, value, headers):"
kcat -C -q -e -b "$KAFKA_BROKERS" -t events -p 0 -c 5 -f '  key=%k  value=%s  headers=%h\n'
"$READ_TOPIC" "$KAFKA_BROKERS" events "$HARNESS_TMP/got"
echo "    $(wc -l <"$HARNESS_TMP/got") records in Kafka for $(wc -l <"$HARNESS_TMP/expected") distinct events"

echo "==> the dead-letter queue events.dlq:"
"$ER_GET" -u "$AMQP_URL" -q events.dlq | sed 's/^/  /'

echo "==> $METRICS_URL/metrics (totals):"
curl -s "$METRICS_URL/metrics" | grep -E '^event_relay_(consumed|published|duplicates|acked|in_flight|dead_lettered)' |
	grep -v ' 0$' | sed 's/^/  /'
echo "==> $METRICS_URL/ready: $(curl -s "$METRICS_URL/ready")"
echo "==> event-relayctl status"
relayctl status | sed 's/^/  /'

if ((keep)); then
	echo "==> running; press Ctrl-C to stop everything"
	echo "    RABBITMQ_URL=$AMQP_URL KAFKA_BROKERS=$KAFKA_BROKERS REDIS_ADDR=$REDIS_ADDR"
	wait "$RELAY_PID" || true
fi
echo "==> stopping"
