#!/bin/bash
# relay_sigterm.sh: SIGTERM mid-run. The relay exits 0 within
# stop_timeout, leaves nothing unacked, and a second run finishes the
# queue with no event missing.
set -euo pipefail

. "${srcdir:-$(dirname "$0")/../..}/tests/harness/servers.sh"
. "$ER_SRCDIR/tests/harness/relay.sh"

relay_test_start
tmp=$HARNESS_TMP

printf 'stop_timeout = 10;\nrabbitmq = { prefetch = 50; };\n' >"$tmp/relay.conf"
start_relay WORKER_COUNT=2
wait_metric event_relay_published_total '>=' 2000 60

t0=$(_h_now_ms)
rc=0
harness_stop_pid "$RELAY_PID" 15 || rc=$?
elapsed=$(($(_h_now_ms) - t0))
((rc == 0)) || h_fail "event-relayd exited with status $rc after SIGTERM"
((elapsed <= 10000)) || h_fail "graceful stop took ${elapsed} ms, stop_timeout is 10 s"
grep -q 'killing it' "$tmp/relay.log" && h_fail "a worker had to be killed"
read -r ready unacked < <(queue_counts events)
((unacked == 0)) || h_fail "$unacked deliveries still unacked after the stop"
((ready > 0)) || h_fail "the queue was drained before the stop: the test proves nothing"
h_log "stopped in ${elapsed} ms with $ready messages left in the queue"

start_relay WORKER_COUNT=2
wait_queue_empty events 120 || h_fail "events queue not drained: $(queue_counts events)"
wait_metric event_relay_in_flight == 0 30
"$READ_TOPIC" "$KAFKA_BROKERS" events "$tmp/got"
dups=$(check_none_missing "$tmp/expected" "$tmp/got")
[[ $(queue_counts events.dlq) == "20 0" ]] ||
	h_fail "events.dlq: got $(queue_counts events.dlq), want '20 0'"
h_log "relay_sigterm: no event missing across the restart; $dups duplicate records"
harness_stop_pid "$RELAY_PID" 40 || h_fail "event-relayd exited with status $?"
