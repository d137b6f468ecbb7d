#!/bin/bash
# relay_worker_kill.sh: a worker is SIGKILLed mid-run. The master logs
# the death, restarts the worker, the counters stay monotonic across the
# restart, and no event is missing from Kafka (the killed worker's
# unacked deliveries come back; duplicates are allowed and reported).
set -euo pipefail

. "${srcdir:-$(dirname "$0")/../..}/tests/harness/servers.sh"
. "$ER_SRCDIR/tests/harness/relay.sh"

relay_test_start
tmp=$HARNESS_TMP

# A small prefetch keeps the relay mid-run long enough to kill a worker.
printf 'rabbitmq = { prefetch = 50; };\n' >"$tmp/relay.conf"
start_relay WORKER_COUNT=2
wait_metric event_relay_published_total '>=' 2000 60

victim=$(worker_pids | head -n 1)
[[ -n $victim ]] || h_fail "no worker process found"
before=$(metric event_relay_consumed_total)
kill -KILL "$victim"
h_log "killed worker pid $victim after $before deliveries"
wait_metric event_relay_restarts_total == 1 30
grep -q "killed by signal 9" "$tmp/relay.log" || h_fail "the master did not log the worker's death"
after=$(metric event_relay_consumed_total)
((after >= before)) || h_fail "consumed_total went back from $before to $after"

wait_queue_empty events 120 || h_fail "events queue not drained: $(queue_counts events)"
wait_metric event_relay_in_flight == 0 30
"$READ_TOPIC" "$KAFKA_BROKERS" events "$tmp/got"
dups=$(check_none_missing "$tmp/expected" "$tmp/got")
# The 20 poison messages, each dead-lettered at least once: a worker
# killed between a dead letter's confirm and the original's ack leaves
# the original to be dead-lettered again (at most once per delivery it
# held: prefetch 50).
read -r dlq_ready dlq_unacked <<<"$(queue_counts events.dlq)"
((dlq_ready >= 20 && dlq_ready <= 70 && dlq_unacked == 0)) ||
	h_fail "events.dlq: got $dlq_ready ready, $dlq_unacked unacked; want 20 to 70, 0"
ready=$(curl -s -o /dev/null -w '%{http_code}' "$METRICS_URL/ready")
[[ $ready == 200 ]] || h_fail "/ready is $ready after the restart"
h_log "relay_worker_kill: no event missing; $dups duplicate records in Kafka;" \
	"$(metric event_relay_duplicates_total) duplicates caught by Redis; $dlq_ready dead letters for 20 poison messages"
harness_stop_pid "$RELAY_PID" 40 || h_fail "event-relayd exited with status $?"
