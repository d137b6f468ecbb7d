#!/bin/bash
# fault_kafka_all_down.sh: every Kafka mock broker is down for 20 s while
# the AMQP connection stays up. Each worker's circuit breaker opens (all
# brokers down), the workers take no new deliveries while it is open,
# probe with backoff, and close the breaker once the brokers are back.
# No event may be missing; the breaker's state and transitions show in
# /metrics. The AMQP heartbeat is 2 s, so the connection of a worker that
# waits on Kafka must keep being serviced for 10 heartbeats: no
# reconnect is allowed. The Redis lease is 3 s: the claims of the held
# deliveries must be renewed through the outage, not expire.
set -euo pipefail

. "${srcdir:-$(dirname "$0")/../..}/tests/harness/servers.sh"
. "$ER_SRCDIR/tests/harness/relay.sh"

fault_test_start 'rabbitmq.heartbeat = 2;' 'redis.lease = 3;' \
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
fault_hold $((20 - ($(_h_now_ms) - t0) / 1000))
assert_metric event_relay_kafka_breaker_open 2
assert_metric event_relay_consumed_total "$consumed"
assert_metric event_relay_amqp_connected 2
assert_metric event_relay_amqp_reconnects_total "$reconnects"
# Claims (a token, not "done") still in Redis 20 s into the outage.
claims=$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" eval "local n = 0
	for _, k in ipairs(redis.call('KEYS', ARGV[1])) do
		if redis.call('GET', k) ~= 'done' then n = n + 1 end
	end
	return n" 0 'event-relay:*')
((claims > 0)) || h_fail "no claim outlived the 3 s lease in the outage: claims are not renewed"
renewed=$(metric event_relay_claims_renewed_total)
((renewed >= claims)) || h_fail "claims_renewed_total $renewed, want >= the $claims claims held"
h_log "$claims claims held through the outage, $renewed renewals"
h_log "breakers stayed open for the outage; $consumed consumed, nothing new taken," \
	"$(metric event_relay_in_flight) held"

kafka_all_brokers up
h_log "brokers up"
recovery=$(wait_progress 120)
wait_metric event_relay_kafka_breaker_open == 0 60
wait_metric event_relay_kafka_breaker_half_open == 0 60
wait_metric event_relay_kafka_breaker_opened_total '>=' 2 1
fault_finish fault_kafka_all_down "$recovery"
