#!/bin/bash
# ops_bad_vhost.sh: a RabbitMQ URL naming a vhost that does not exist is
# a configuration problem, reported as one: within seconds each worker
# logs one warning naming the URL (password masked), the user and the
# vhost and what to check, its retries are logged at debug only, and
# /ready answers 503 saying why. Once the vhost is created the same
# workers (no restart) connect and relay every event exactly once.
set -euo pipefail

. "${srcdir:-$(dirname "$0")/../..}/tests/harness/servers.sh"
. "$ER_SRCDIR/tests/harness/relay.sh"

harness_require kcat curl
harness_init
tmp=$HARNESS_TMP
start_rabbitmq
start_redis
start_kafka_mock events:4
vh_url="amqp://guest:guest@127.0.0.1:$AMQP_PORT/relay-vh"
shown="amqp://guest:********@127.0.0.1:$AMQP_PORT/relay-vh"

t0=$(_h_now_ms)
spawn_relay RABBITMQ_URL="$vh_url" LOG_LEVEL=debug RETRY_MAX_DELAY_MS=500
log=$tmp/relay.log

ready_says_why() {
	local body
	body=$(curl -s -w '%{http_code}' "$METRICS_URL/ready") || return 1
	[[ $body == *'503' ]] &&
		grep -q '^worker 0: amqp: vhost "relay-vh" not found; starting: rabbitmq=down' <<<"$body" &&
		grep -q '^worker 1: amqp: vhost "relay-vh" not found; starting: rabbitmq=down' <<<"$body"
}
wait_for --deadline 10 ready_says_why ||
	h_fail "/ready does not say why: $(curl -s "$METRICS_URL/ready")"
line="warn: amqp_source: $shown: login as user \"guest\" to vhost \"relay-vh\" refused: connection closed: 530 NOT_ALLOWED - vhost relay-vh not found; check that the vhost exists"
wait_for --deadline 10 grep -qF "$line" "$log" ||
	h_fail "no clear log line: $(grep amqp_source "$log" | head -n 3)"
h_log "bad vhost reported in $(($(_h_now_ms) - t0)) ms; /ready says:"
curl -s "$METRICS_URL/ready" | sed 's/^/    /' >&2
grep -F "$line" "$log" | head -n 1 | sed 's/^/    /' >&2

# Retries go on (at debug) while the warning is not repeated.
retries() { grep -cF "debug: amqp_source: $shown: login as user" "$log" || true; }
wait_for --deadline 20 eval '(($(retries) >= 6))' ||
	h_fail "workers did not keep retrying: $(retries) debug lines"
warns=$(grep -cF "warn: amqp_source: $shown: login" "$log" || true)
((warns == 2)) || h_fail "the login warning was logged $warns times, want once per worker (2)"
grep -q 'guest:guest@' "$log" && h_fail "the log shows the password"
h_log "$(retries) retries logged at debug, $warns warnings"

# Create the vhost: the same workers connect and relay.
pids_before=$(worker_pids | sort | tr '\n' ' ')
rmq_ctl add_vhost relay-vh >/dev/null
rmq_ctl set_permissions -p relay-vh guest '.*' '.*' '.*' >/dev/null
"$ER_PUBLISH" -u "amqp://guest:guest@127.0.0.1:$AMQP_PORT/relay-vh" -q events -n 1000 \
	--dup-every 10 --persistent --expected "$tmp/expected" >/dev/null
wait_for --deadline 30 curl -sf -o /dev/null "$METRICS_URL/ready" ||
	h_fail "not ready after the vhost was created: $(curl -s "$METRICS_URL/ready")"
wait_metric event_relay_acked_total == 1100 60
[[ $(worker_pids | sort | tr '\n' ' ') == "$pids_before" ]] ||
	h_fail "workers were restarted: $pids_before -> $(worker_pids | tr '\n' ' ')"
assert_metric event_relay_restarts_total 0
"$READ_TOPIC" "$KAFKA_BROKERS" events "$tmp/got"
check_exactly_once "$tmp/expected" "$tmp/got"
harness_stop_pid "$RELAY_PID" 40 || h_fail "event-relayd exited with status $?"
h_log "ops_bad_vhost: relayed 1000 events exactly once after the vhost was created, same workers"
