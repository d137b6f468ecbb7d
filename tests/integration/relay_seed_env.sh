#!/bin/bash
# relay_seed_env.sh: the drop-in promise to users of the replaced Go
# service. event-relayd runs with no configuration file at all, then
# with an empty one, and with ONLY that service's environment variables:
# RABBITMQ_URL in the form its README gives as the default (trailing
# slash, no vhost), no KAFKA_TOPIC, no METRICS_LISTEN (so /metrics is on
# its default, port 8080). Each run relays 2,000 events (every 10th
# published twice) to the topic processed_events, exactly once, with
# key, byte-exact value and correlation_id header.
set -euo pipefail

. "${srcdir:-$(dirname "$0")/../..}/tests/harness/servers.sh"
. "$ER_SRCDIR/tests/harness/relay.sh"

harness_require kcat curl
harness_init
tmp=$HARNESS_TMP
_h_port_in_use 8080 &&
	h_fail "port 8080 is in use: this test runs the relay on the replaced service's defaults"
start_rabbitmq
start_redis
start_kafka_mock processed_events:4
METRICS_URL=http://127.0.0.1:8080
go_url="amqp://guest:guest@127.0.0.1:$AMQP_PORT/"

# go_env CMD...: exec CMD with a clean environment holding only the
# replaced service's variables (and what the sanitizer build and a run
# as root need).
# It replaces the shell it runs in: call it in $(...) or ( ... ) &.
go_env() {
	exec env -i PATH="$PATH" HOME="$tmp" \
		${ASAN_OPTIONS:+ASAN_OPTIONS="$ASAN_OPTIONS"} \
		${UBSAN_OPTIONS:+UBSAN_OPTIONS="$UBSAN_OPTIONS"} \
		${EVENT_RELAY_ALLOW_ROOT:+EVENT_RELAY_ALLOW_ROOT="$EVENT_RELAY_ALLOW_ROOT"} \
		RABBITMQ_URL="$go_url" RABBITMQ_QUEUE=events \
		KAFKA_BROKERS="$KAFKA_BROKERS" REDIS_ADDR="$REDIS_ADDR" \
		LOG_LEVEL=info WORKER_COUNT=2 "$@"
}

# -t with no file: the defaults and the environment, topic processed_events.
out=$(go_env "$ER_RELAYD" -t 2>&1) || h_fail "event-relayd -t with no file failed: $out"
grep -q '^event-relayd: no configuration file .*: the built-in defaults and the environment are used$' \
	<<<"$out" || h_fail "-t does not say that no file was read: $out"
grep -q 'configuration ok (queue events -> topic processed_events, 2 workers)' <<<"$out" ||
	h_fail "-t: want queue events -> topic processed_events, got: $out"
# An explicit -c naming a missing file stays an error.
if out=$(go_env "$ER_RELAYD" -t -c "$tmp/missing.conf" 2>&1); then
	h_fail "-c with a missing file was accepted: $out"
fi
grep -q "missing.conf" <<<"$out" || h_fail "the error does not name the missing file: $out"

# run_once N START LOG [-c FILE]: publish N events from START, relay
# them, stop the relay.
run_once() {
	local n=$1 start=$2 log=$3 pid
	shift 3
	"$ER_PUBLISH" -u "$AMQP_URL" -q events -n "$n" -s "$start" --dup-every 10 --persistent \
		--expected "$tmp/expected-$start" >/dev/null
	(go_env "$ER_RELAYD" -f "$@") >"$log" 2>&1 &
	pid=$!
	harness_track_pid "$pid"
	wait_for --deadline 60 curl -sf -o /dev/null "$METRICS_URL/ready" ||
		h_fail "event-relayd did not become ready: $(tail -n 20 "$log")"
	wait_metric event_relay_acked_total == $((n + n / 10)) 120
	wait_queue_empty events 30 || h_fail "events queue not empty: $(queue_counts events)"
	harness_stop_pid "$pid" 40 || h_fail "event-relayd exited with status $?"
	grep -q "amqp_source: consuming events on amqp://guest:\*\*\*\*\*\*\*\*@127.0.0.1:$AMQP_PORT/ (vhost \"/\"" "$log" ||
		h_fail "no 'consuming' line naming vhost \"/\": $(grep amqp_source "$log" | head -n 3)"
	grep -q 'guest:guest@' "$log" && h_fail "the log shows the password"
	return 0
}

run_once 2000 1 "$tmp/relay-nofile.log"
grep -q 'info: no configuration file .*event-relay.conf: running on the built-in defaults and the environment' \
	"$tmp/relay-nofile.log" || h_fail "no 'no configuration file' line: $(head -n 5 "$tmp/relay-nofile.log")"
[[ $(grep -c 'no configuration file' "$tmp/relay-nofile.log") == 1 ]] ||
	h_fail "the 'no configuration file' line is not logged exactly once"
h_log "run 1 (no configuration file): 2000 events relayed"

: >"$tmp/empty.conf"
run_once 2000 2001 "$tmp/relay-empty.log" -c "$tmp/empty.conf"
grep -q 'no configuration file' "$tmp/relay-empty.log" &&
	h_fail "an empty file given with -c was taken for no file"
h_log "run 2 (empty configuration file): 2000 events relayed"

LC_ALL=C sort "$tmp/expected-1" "$tmp/expected-2001" >"$tmp/expected"
"$READ_TOPIC" "$KAFKA_BROKERS" processed_events "$tmp/got"
check_exactly_once "$tmp/expected" "$tmp/got"
h_log "relay_seed_env: 4000 events in processed_events exactly once, key, value and correlation_id header"
