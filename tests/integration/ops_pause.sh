#!/bin/bash
# ops_pause.sh: `event-relayctl pause` mid-drain stops consuming without
# stopping the daemon: in-flight work finishes (nothing left unacked),
# consumed stops moving, /status and /metrics say paused; a reload while
# paused starts the new workers paused; `resume` consumes again and
# every event reaches Kafka exactly once.
set -euo pipefail

. "${srcdir:-$(dirname "$0")/../..}/tests/harness/servers.sh"
. "$ER_SRCDIR/tests/harness/relay.sh"

relay_test_start
tmp=$HARNESS_TMP
printf 'workers = 2;\nrabbitmq = { prefetch = 20; };\n' >"$tmp/relay.conf"
start_relay WORKER_COUNT=
wait_metric event_relay_published_total '>=' 2000 60

out=$(relayctl pause) || h_fail "pause failed: $out"
[[ $out == "pause: done" ]] || h_fail "pause said: $out"
wait_metric event_relay_paused == 2 10
wait_metric event_relay_in_flight == 0 30
c1=$(metric event_relay_consumed_total)
read -r ready unacked < <(queue_counts events)
((ready > 0 && unacked == 0)) || h_fail "paused: queue has $ready ready, $unacked unacked; want > 0, 0"
fault_hold 2 # the pause itself: consumed must not move while it lasts
c2=$(metric event_relay_consumed_total)
((c1 == c2)) || h_fail "consumed moved while paused: $c1 -> $c2"
[[ $(relayctl status --json) == *'"paused":true,'* ]] || h_fail "/status does not say paused"
relayctl status | grep -q PAUSED || h_fail "status table does not say PAUSED"
h_log "paused at $c1 consumed, $ready ready, 0 unacked"

# A reload while paused: the new workers start paused.
printf 'workers = 3;\nrabbitmq = { prefetch = 20; };\n' >"$tmp/relay.conf"
relayctl reload --wait >/dev/null || h_fail "reload --wait while paused failed"
wait_metric event_relay_paused == 3 10
c3=$(metric event_relay_consumed_total)
((c3 == c1)) || h_fail "consumed moved across the paused reload: $c1 -> $c3"
[[ $(queue_counts events) == "$ready 0" ]] || h_fail "queue changed while paused: $(queue_counts events)"

out=$(relayctl resume) || h_fail "resume failed: $out"
wait_metric event_relay_paused == 0 10
wait_metric event_relay_acked_total == 22020 120
wait_queue_empty events 30 || h_fail "events queue not empty: $(queue_counts events)"
"$READ_TOPIC" "$KAFKA_BROKERS" events "$tmp/got"
check_exactly_once "$tmp/expected" "$tmp/got"
harness_stop_pid "$RELAY_PID" 40 || h_fail "event-relayd exited with status $?"
h_log "ops_pause: paused at $c1 of 22020, resumed, 20000 events exactly once"
