#!/bin/bash
# ops_reload.sh: a live reload loses and duplicates nothing. 20,000
# events (every 10th twice) drain through 2 workers with prefetch 20;
# mid-drain the file changes to 3 workers and prefetch 40 and
# `event-relayctl reload --wait` runs: it returns once the old workers
# have stopped, /status shows generation 2 on every worker, no process
# of generation 1 is alive, and every event is in Kafka exactly once
# with nothing left unacked. Then a broken file: SIGHUP and `reload
# --wait` both keep the daemon running unchanged, the error is logged
# with file:line, reload --wait exits 1 and prints it, and relaying goes
# on. A valid file whose new workers cannot connect (no Kafka broker)
# fails after its ready timeout (reload_timeout = 5), leaves the old
# workers relaying and the old settings in force, and the next reload
# (3 -> 2 workers) works.
set -euo pipefail

. "${srcdir:-$(dirname "$0")/../..}/tests/harness/servers.sh"
. "$ER_SRCDIR/tests/harness/relay.sh"

relay_test_start
tmp=$HARNESS_TMP
printf 'workers = 2;\nrabbitmq = { prefetch = 20; };\n' >"$tmp/relay.conf"
start_relay WORKER_COUNT=
wait_metric event_relay_published_total '>=' 2000 60
old_pids=$(worker_pids | sort | tr '\n' ' ')
[[ $(relayctl status --json) == *'"generation":1,'* ]] || h_fail "/status: not generation 1"

printf 'workers = 3;\nrabbitmq = { prefetch = 40; };\n' >"$tmp/relay.conf"
before=$(metric event_relay_acked_total)
t0=$(_h_now_ms)
out=$(relayctl reload --wait) || h_fail "reload --wait failed: $out"
took=$(($(_h_now_ms) - t0))
after=$(metric event_relay_acked_total)
h_log "reload --wait took $took ms (acked $before -> $after during it):"
sed 's/^/    /' <<<"$out" >&2
((after < 22020)) || h_log "note: the queue was drained before the reload ended"
grep -q '^reloaded: generation 2, 2 workers replaced, 1 started, 0 stopped' <<<"$out" ||
	h_fail "unexpected reload output: $out"
if ! grep -q '^  workers$' <<<"$out" || ! grep -q '^  rabbitmq.prefetch$' <<<"$out"; then
	h_fail "the changed settings are not listed: $out"
fi
for pid in $old_pids; do
	kill -0 "$pid" 2>/dev/null && h_fail "worker $pid of generation 1 still alive after reload --wait"
done
status=$(relayctl status --json)
[[ $status == *'"generation":2,'* ]] || h_fail "/status: not generation 2: $status"
[[ $(grep -o '"config_generation":2' <<<"$status" | wc -l) == 3 ]] ||
	h_fail "/status: want 3 workers of generation 2: $status"
[[ $(worker_pids | wc -l) == 3 ]] || h_fail "want 3 worker processes, got $(worker_pids | wc -l)"

wait_metric event_relay_acked_total == 22020 120
wait_queue_empty events 30 || h_fail "events queue not empty: $(queue_counts events)"
wait_metric event_relay_in_flight == 0 30
"$READ_TOPIC" "$KAFKA_BROKERS" events "$tmp/got"
check_exactly_once "$tmp/expected" "$tmp/got"
assert_metric event_relay_duplicates_total 2000
assert_metric event_relay_restarts_total 0
h_log "across the reload: 20000 events exactly once, 2000 duplicates caught, 0 restarts"

# A broken file: nothing changes, the error is named, relaying goes on.
printf 'workers = 3;\nrabbitmq = { prefetch = 0; };\n' >"$tmp/relay.conf"
kill -HUP "$RELAY_PID"
wait_for --deadline 10 grep -q "reload: $tmp/relay.conf:2: rabbitmq.prefetch: must be between 1 and 65535" \
	"$tmp/relay.log" || h_fail "SIGHUP: the error is not logged with file:line"
if out=$(relayctl reload --wait 2>&1); then
	h_fail "reload --wait accepted a broken file: $out"
fi
grep -q "relay.conf:2: rabbitmq.prefetch: must be between 1 and 65535" <<<"$out" ||
	h_fail "reload --wait does not print the error: $out"
h_log "broken file rejected:"
sed 's/^/    /' <<<"$out" >&2
rc=0
out=$(relayctl check-config 2>&1) || rc=$?
((rc == 1)) || h_fail "check-config of a broken file exited $rc, want 1: $out"
grep -q "relay.conf:2: rabbitmq.prefetch: must be between 1 and 65535" <<<"$out" ||
	h_fail "check-config does not name the error: $out"
status=$(relayctl status --json)
[[ $status == *'"generation":2,'* && $status == *'"ok":false'* ]] ||
	h_fail "/status after a rejected reload: $status"
"$ER_PUBLISH" -u "$AMQP_URL" -q events -n 1000 -s 30001 --persistent \
	--expected "$tmp/expected2" >/dev/null
wait_metric event_relay_acked_total == 23020 60
"$READ_TOPIC" "$KAFKA_BROKERS" events "$tmp/got"
LC_ALL=C sort -m "$tmp/expected" "$tmp/expected2" >"$tmp/expected-all"
check_exactly_once "$tmp/expected-all" "$tmp/got"

# A valid file whose new workers cannot get ready (no Kafka broker): the
# reload gives up on worker 0, the old processes keep relaying, the
# settings before it are back in force, and the next reload works.
pids_before=$(worker_pids | sort | tr '\n' ' ')
printf 'workers = 3;\nreload_timeout = 5;\nrabbitmq = { prefetch = 40; connect_timeout = 1; };\nkafka.properties = [ "bootstrap.servers=127.0.0.1:1" ];\n' \
	>"$tmp/relay.conf"
rc=0
out=$(relayctl reload --wait 2>&1) || rc=$?
((rc == 1)) || h_fail "a reload whose workers cannot get ready exited $rc, want 1: $out"
grep -q 'worker 0: the new process was not ready within 5 s (reload_timeout)' <<<"$out" ||
	h_fail "the failed reload does not say why: $out"
h_log "reload with no Kafka broker refused after the ready timeout:"
sed 's/^/    /' <<<"$out" >&2
# The reply comes when the new process is told to stop: it may still be
# leaving.
same_workers() {
	[[ $(worker_pids | sort | tr '\n' ' ') == "$pids_before" ]]
}
wait_for --deadline 20 same_workers ||
	h_fail "workers changed across the failed reload: $pids_before -> $(worker_pids | tr '\n' ' ')"
status=$(relayctl status --json)
[[ $status == *'"generation":2,'* ]] || h_fail "/status after the failed reload: not generation 2: $status"
"$ER_PUBLISH" -u "$AMQP_URL" -q events -n 500 -s 40001 --persistent \
	--expected "$tmp/expected3" >/dev/null
wait_metric event_relay_acked_total == 23520 60
printf 'workers = 2;\nrabbitmq = { prefetch = 40; };\n' >"$tmp/relay.conf"
out=$(relayctl reload --wait) || h_fail "the reload after a failed one failed: $out"
grep -q '^reloaded: generation 3, 2 workers replaced, 0 started, 1 stopped' <<<"$out" ||
	h_fail "unexpected reload output: $out"
"$READ_TOPIC" "$KAFKA_BROKERS" events "$tmp/got"
LC_ALL=C sort -m "$tmp/expected-all" "$tmp/expected3" >"$tmp/expected-all3"
check_exactly_once "$tmp/expected-all3" "$tmp/got"
harness_stop_pid "$RELAY_PID" 40 || h_fail "event-relayd exited with status $?"
h_log "ops_reload: reload in $took ms; 21500 events exactly once; broken and failing reloads changed nothing, relaying went on"
