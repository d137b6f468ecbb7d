#!/bin/bash
# fault_two_instances.sh: two independent relays (two masters, 2 workers
# each) consume the same queue and share one Redis. Every event reaches
# Kafka exactly once: the Redis claims keep the instances from producing
# the same event twice, and nothing is lost.
set -euo pipefail

. "${srcdir:-$(dirname "$0")/../..}/tests/harness/servers.sh"
. "$ER_SRCDIR/tests/harness/relay.sh"

relay_test_start
start_relay WORKER_COUNT=2
first_pid=$RELAY_PID first_url=$METRICS_URL
start_relay WORKER_COUNT=2
wait_queue_empty events 180 || h_fail "events queue not drained: $(queue_counts events)"
for url in "$first_url" "$METRICS_URL"; do
	METRICS_URL=$url wait_metric event_relay_in_flight == 0 60
done
a=$(METRICS_URL=$first_url metric event_relay_consumed_total)
b=$(metric event_relay_consumed_total)
((a > 0 && b > 0)) || h_fail "one instance consumed nothing ($a, $b): the test proves nothing"
"$READ_TOPIC" "$KAFKA_BROKERS" events "$HARNESS_TMP/got"
check_exactly_once "$HARNESS_TMP/expected" "$HARNESS_TMP/got"
[[ $(queue_counts events.dlq) == "20 0" ]] || h_fail "events.dlq: $(queue_counts events.dlq)"
h_log "fault_two_instances: 20000 events exactly once; instances consumed $a and $b deliveries"
harness_stop_pid "$first_pid" 40 || h_fail "the first event-relayd exited with status $?"
harness_stop_pid "$RELAY_PID" 40 || h_fail "the second event-relayd exited with status $?"
