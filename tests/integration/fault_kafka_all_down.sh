#!/bin/bash
# fault_kafka_all_down.sh: every Kafka mock broker is down for 30 s while
# the AMQP connection stays up. Each worker's circuit breaker opens (all
# brokers down), the workers take no new deliveries while it is open,
# probe with backoff, and close the breaker once the brokers are back.
# No event may be missing; the breaker's state and transitions show in
# /metrics. The AMQP heartbeat is 2 s, so the connection of a worker that
# waits on Kafka must keep being serviced for 15 heartbeats: no
# reconnect is allowed.
set -euo pipefail

. "${srcdir:-$(dirname "$0")/../..}/tests/harness/servers.sh"
. "$ER_SRCDIR/tests/harness/relay.sh"

fault_test_start 'rabbitmq.heartbeat = 2;' \
	'resilience = { breaker_open_ms = 500; breaker_open_max_ms = 2000; };'
reconnects=$(metric_or_zero event_relay_amqp_reconnects_total)

t0=$(_h_now_ms)
kafka_all_brokers down
wait_metric event_relay_kafka_breaker_open == 2 30
h_log "both breakers open $(($(_h_now_ms) - t0)) ms after the brokers went down"
# Deliveries the broker sent before it saw basic.cancel arrive at once;
# after that, nothing more may come while the breaker is open.
wait_metric event_relay_in_flight '>' 0 10
sleep 2 # let deliveries already on the wire arrive (not a poll)
consumed=$(metric event_relay_consumed_total)
fault_hold $((30 - ($(_h_now_ms) - t0) / 1000))
assert_metric event_relay_kafka_breaker_open 2
assert_metric event_relay_consumed_total "$consumed"
assert_metric event_relay_amqp_connected 2
assert_metric event_relay_amqp_reconnects_total "$reconnects"
h_log "breakers stayed open for the outage; $consumed consumed, nothing new taken," \
	"$(metric event_relay_in_flight) held"

kafka_all_brokers up
h_log "brokers up"
recovery=$(wait_progress 120)
wait_metric event_relay_kafka_breaker_open == 0 60
wait_metric event_relay_kafka_breaker_half_open == 0 60
wait_metric event_relay_kafka_breaker_opened_total '>=' 2 1
fault_finish fault_kafka_all_down "$recovery"
