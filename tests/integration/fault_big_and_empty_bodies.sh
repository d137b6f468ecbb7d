#!/bin/bash
# fault_big_and_empty_bodies.sh: a 10 MB body and a 0-byte body arrive
# among the 20,000 events. Both are dead-lettered with their original
# bodies (too_large and invalid_json); every event still reaches Kafka.
set -euo pipefail

. "${srcdir:-$(dirname "$0")/../..}/tests/harness/servers.sh"
. "$ER_SRCDIR/tests/harness/relay.sh"

relay_test_start
{
	printf '{"event_id":"big","payload":"'
	head -c 10000000 /dev/zero | tr '\0' b
	printf '"}\n'
	printf '\n'	# the empty body
} >"$HARNESS_TMP/odd"
"$ER_PUBLISH" -u "$AMQP_URL" -q events --raw "$HARNESS_TMP/odd" >/dev/null
printf 'rabbitmq = { prefetch = 50; };\n' >"$HARNESS_TMP/relay.conf"
start_relay WORKER_COUNT=2
recovery=$(wait_progress 120)
wait_metric 'event_relay_dead_lettered_total{reason="too_large"}' == 1 120
wait_metric 'event_relay_dead_lettered_total{reason="invalid_json"}' == 21 120
"$ER_GET" -u "$AMQP_URL" -q events.dlq >"$HARNESS_TMP/dlq"
big=$(awk -F'\t' 'length($1) == 10000000 + 31 && $2 ~ /x-event-relay-reason=too_large/' "$HARNESS_TMP/dlq" | wc -l)
[[ $big == 1 ]] || h_fail "the 10 MB body was not dead-lettered whole as too_large"
grep -q '^	x-event-relay-reason=invalid_json' "$HARNESS_TMP/dlq" ||
	h_fail "the empty body was not dead-lettered as invalid_json"
[[ $(wc -l <"$HARNESS_TMP/dlq") == 22 ]] ||
	h_fail "events.dlq held $(wc -l <"$HARNESS_TMP/dlq") dead letters, want 22"
# er-get took the dead letters out of events.dlq: none are left to count.
fault_finish fault_big_and_empty_bodies "$recovery" 0
