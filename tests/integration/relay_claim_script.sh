#!/bin/bash
# relay_claim_script.sh: a Redis whose INFO is renamed away, as a server
# older than 7.0 (or a locked-down one) looks to the relay: every claim
# then runs the Lua script instead of SET NX GET. 20,000 events, every
# 10th published twice, relayed by 2 workers: each reaches Kafka exactly
# once, the 2,000 copies are acknowledged as duplicates, the queue ends
# empty, and Redis counted an EVALSHA for every claim.
set -euo pipefail

. "${srcdir:-$(dirname "$0")/../..}/tests/harness/servers.sh"
. "$ER_SRCDIR/tests/harness/relay.sh"

harness_require kcat curl redis-cli
harness_init
tmp=$HARNESS_TMP
start_rabbitmq
start_redis --rename-command INFO er-test-info
start_kafka_mock events:16
"$ER_PUBLISH" -u "$AMQP_URL" -q events -n 20000 --dup-every 10 --persistent \
	--expected "$tmp/expected" >/dev/null

start_relay WORKER_COUNT=2
wait_metric event_relay_acked_total == 22000 120
wait_queue_empty events 30 || h_fail "events queue not empty: $(queue_counts events)"

"$READ_TOPIC" "$KAFKA_BROKERS" events "$tmp/got"
check_exactly_once "$tmp/expected" "$tmp/got"
h_log "Kafka holds exactly the 20000 expected records"
assert_metric event_relay_published_total 20000
assert_metric event_relay_duplicates_total 2000
assert_metric event_relay_redis_errors_total 0

stats=$(redis-cli -p "$REDIS_PORT" er-test-info commandstats)
evals=$(sed -n 's/^cmdstat_evalsha:calls=\([0-9]*\),.*/\1/p' <<<"$stats")
((${evals:-0} >= 22000)) ||
	h_fail "EVALSHA calls: got ${evals:-none}, want >= 22000 (one per claim)"
h_log "Redis: $evals EVALSHA calls"

harness_stop_pid "$RELAY_PID" 40 || h_fail "event-relayd exited with status $?"
h_log "relay_claim_script: 22000 deliveries, 20000 published, 2000 duplicates, every claim by script"
