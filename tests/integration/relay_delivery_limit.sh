#!/bin/bash
# relay_delivery_limit.sh: the implicit route's queue declared as a quorum
# queue (rabbitmq.queue_type = quorum) and rabbitmq.delivery_limit = 2.
# Every Kafka produce fails (retriably), so 50 events stay in flight; the
# relay is stopped twice with them unacknowledged, so RabbitMQ delivers
# each a third time with x-delivery-count 2: the relay then dead-letters
# all 50 with the reason delivery_limit instead of holding them again.
# Nothing reaches Kafka; the queue ends empty, the dead-letter queue
# holds the 50.
set -euo pipefail

. "${srcdir:-$(dirname "$0")/../..}/tests/harness/servers.sh"
. "$ER_SRCDIR/tests/harness/relay.sh"
. "$ER_SRCDIR/tests/harness/routes.sh"

harness_require curl
harness_init
tmp=$HARNESS_TMP
start_rabbitmq
start_redis
start_kafka_mock events:4
printf '%s\n' 'stop_timeout = 3;' \
	'rabbitmq = { queue_type = "quorum"; delivery_limit = 2; prefetch = 100; };' >"$tmp/relay.conf"
start_relay WORKER_COUNT=1
types=$(rmq_ctl list_queues -q --no-table-headers name type)
awk -F'\t' '$1 == "events" && $2 == "quorum" { found = 1 } END { exit !found }' <<<"$types" ||
	h_fail "events is not a quorum queue: $types"

kafka_cmd "err Produce 100000 NOT_ENOUGH_REPLICAS" >/dev/null || h_fail "kafka-mock: err failed"
for i in $(seq 1 50); do
	printf '{"event_id":"dl-%03d","correlation_id":"c","payload":{"n":%d}}\n' "$i" "$i"
done >"$tmp/batch"
"$ER_SEND" -u "$AMQP_URL" -q events --lines "$tmp/batch" >/dev/null

for round in 1 2; do
	wait_metric event_relay_in_flight == 50 60
	assert_metric 'event_relay_dead_lettered_total{reason="delivery_limit"}' 0
	harness_stop_pid "$RELAY_PID" 40 || h_fail "event-relayd exited with status $?"
	h_log "round $round: 50 deliveries held, the relay stopped with them unacknowledged"
	start_relay WORKER_COUNT=1
done

wait_metric 'event_relay_dead_lettered_total{reason="delivery_limit"}' == 50 60
wait_queue_empty events 30 || h_fail "events not empty: $(queue_counts events)"
wait_for --deadline 30 test "$(queue_counts events.dlq)" == "50 0" ||
	h_fail "events.dlq: $(queue_counts events.dlq), want 50 0"
RABBITMQ_URL=$AMQP_URL relayctl dlq list >"$tmp/list" || h_fail "dlq list failed: $(cat "$tmp/list")"
[[ $(grep -Ec '^dl-[0-9]{3} +delivery_limit ' "$tmp/list") == 50 ]] ||
	h_fail "want 50 delivery_limit rows: $(head -n 5 "$tmp/list")"
assert_metric event_relay_published_total 0
harness_stop_pid "$RELAY_PID" 40 || h_fail "event-relayd exited with status $?"
h_log "relay_delivery_limit: 50 events delivered 3 times, dead-lettered as delivery_limit"
