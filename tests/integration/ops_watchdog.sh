#!/bin/bash
# ops_watchdog.sh: a worker frozen with SIGSTOP sends no heartbeat; after
# `watchdog` seconds the master kills it and starts another in its slot.
# The restart is counted in /metrics and /status, the frozen process is
# gone, and no event is missing from Kafka (its unacked deliveries were
# redelivered).
set -euo pipefail

. "${srcdir:-$(dirname "$0")/../..}/tests/harness/servers.sh"
. "$ER_SRCDIR/tests/harness/relay.sh"

relay_test_start
tmp=$HARNESS_TMP
printf 'watchdog = 3;\nrabbitmq = { prefetch = 20; connect_timeout = 2; };\n' >"$tmp/relay.conf"
start_relay
wait_metric event_relay_published_total '>=' 2000 60
frozen=$(relayctl status --json | grep -o '"slot":0,"pid":[0-9]*' | grep -o '[0-9]*$')
[[ -n $frozen ]] && kill -0 "$frozen" || h_fail "no pid for worker 0 in /status"
t0=$(_h_now_ms)
kill -STOP "$frozen"
wait_for --deadline 20 grep -q "worker 0 (pid $frozen) sent no heartbeat for [0-9]* s: killing it" \
	"$tmp/relay.log" || h_fail "the watchdog did not act on the frozen worker"
h_log "frozen worker $frozen killed after $(($(_h_now_ms) - t0)) ms"
wait_for --deadline 10 eval '! kill -0 '"$frozen"' 2>/dev/null' ||
	h_fail "the frozen worker $frozen is still alive"
wait_metric event_relay_restarts_total == 1 20
wait_metric 'event_relay_worker_restarts_total{worker="0"}' == 1 5
wait_for --deadline 30 curl -sf -o /dev/null "$METRICS_URL/ready" ||
	h_fail "not ready after the restart: $(curl -s "$METRICS_URL/ready")"
status=$(relayctl status --json)
[[ $status == *'"slot":0,"pid":'* && $status != *"\"slot\":0,\"pid\":$frozen,"* ]] ||
	h_fail "/status still shows the frozen pid: $status"
grep -q '"restarts":1,' <<<"$status" || h_fail "/status does not count the restart: $status"
wait_metric event_relay_in_flight == 0 120
wait_queue_empty events 120 || h_fail "events queue not drained: $(queue_counts events)"
"$READ_TOPIC" "$KAFKA_BROKERS" events "$tmp/got"
dups=$(check_none_missing "$tmp/expected" "$tmp/got")
harness_stop_pid "$RELAY_PID" 40 || h_fail "event-relayd exited with status $?"
h_log "ops_watchdog: frozen worker replaced, restarts 1, no event missing ($dups duplicate records)"
