#!/bin/bash
# fault_kafka_too_large.sh: a permanent Kafka error, MSG_SIZE_TOO_LARGE,
# for ten events (each published twice) bigger than the producer's
# message.max.bytes, among the 20,000 ordinary ones. Exactly those
# twenty messages are dead-lettered as kafka_rejected with the error
# name; the second copy of each does not wait for the first copy's
# claim lease (600 s here) because dead-lettering releases the claim;
# every other event reaches Kafka exactly once.
set -euo pipefail

. "${srcdir:-$(dirname "$0")/../..}/tests/harness/servers.sh"
. "$ER_SRCDIR/tests/harness/relay.sh"

relay_test_start
"$ER_PUBLISH" -u "$AMQP_URL" -q events -n 10 --start 900000 --size 3000 --dup-every 1 \
	--persistent >/dev/null
printf '%s\n' 'rabbitmq = { prefetch = 50; };' 'redis = { lease = 600; };' \
	'kafka = { properties = [ "message.max.bytes=2000" ]; };' >"$HARNESS_TMP/relay.conf"
start_relay WORKER_COUNT=2
recovery=$(wait_progress 120)
wait_queue_empty events 120 || h_fail "events queue not drained: $(queue_counts events)"
wait_metric 'event_relay_dead_lettered_total{reason="kafka_rejected"}' == 20 30
wait_metric event_relay_in_flight == 0 30

"$ER_GET" -u "$AMQP_URL" -q events.dlq >"$HARNESS_TMP/dlq"
rejected=$(awk -F'\t' '$2 ~ /x-event-relay-reason=kafka_rejected/ &&
	$2 ~ /x-event-relay-error=MSG_SIZE_TOO_LARGE/' "$HARNESS_TMP/dlq" |
	grep -o '"event_id":"ev-009000[0-9][0-9]"' | sort | uniq -c |
	awk '$1 == 2' | wc -l)
[[ $rejected == 10 ]] ||
	h_fail "want each of the 10 big events dead-lettered twice as MSG_SIZE_TOO_LARGE, got $rejected"
[[ $(wc -l <"$HARNESS_TMP/dlq") == 40 ]] ||
	h_fail "events.dlq held $(wc -l <"$HARNESS_TMP/dlq") dead letters, want 40 (20 big + 20 poison)"
"$READ_TOPIC" "$KAFKA_BROKERS" events "$HARNESS_TMP/got"
check_exactly_once "$HARNESS_TMP/expected" "$HARNESS_TMP/got"
h_log "fault_kafka_too_large: 20 copies of 10 oversized events dead-lettered, 20000 events" \
	"exactly once in Kafka, recovery ${recovery} ms"
harness_stop_pid "$RELAY_PID" 40 || h_fail "event-relayd exited with status $?"
