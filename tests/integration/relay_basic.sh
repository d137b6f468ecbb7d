#!/bin/bash
# relay_basic.sh: 20,000 events, every 10th published twice and a
# non-JSON message after every 1000th, relayed by 2 workers. Every event
# reaches Kafka exactly once with its key, byte-exact value and
# correlation_id header; the 20 poison messages are in events.dlq with
# their reason, as are three more (no event_id, no payload, too large);
# the source queue ends empty with nothing unacked; /metrics agrees (and
# passes promtool); every claim was a SET NX GET. A graceful stop then
# exits 0.
set -euo pipefail

. "${srcdir:-$(dirname "$0")/../..}/tests/harness/servers.sh"
. "$ER_SRCDIR/tests/harness/relay.sh"

relay_test_start
tmp=$HARNESS_TMP
# Three more poison messages, one for each other decoding reason.
{
	echo '{"correlation_id":"c","payload":{"seq":-1}}'
	echo '{"event_id":"no-payload","correlation_id":"c"}'
	printf '{"event_id":"too-large","payload":"%s"}\n' "$(head -c 5000 /dev/zero | tr '\0' x)"
} >"$tmp/poison"
"$ER_PUBLISH" -u "$AMQP_URL" -q events --raw "$tmp/poison" >/dev/null

printf 'event = { max_message_bytes = 4096; };\n' >"$tmp/relay.conf"
start_relay WORKER_COUNT=2
wait_metric event_relay_acked_total == 22023 120
wait_queue_empty events 30 || h_fail "events queue not empty: $(queue_counts events)"

"$READ_TOPIC" "$KAFKA_BROKERS" events "$tmp/got"
check_exactly_once "$tmp/expected" "$tmp/got"
h_log "Kafka holds exactly the 20000 expected records"

# Dead letters: 23 copies, original bodies, reason and origin headers.
[[ $(queue_counts events.dlq) == "23 0" ]] ||
	h_fail "events.dlq: got $(queue_counts events.dlq), want '23 0'"
"$ER_GET" -u "$AMQP_URL" -q events.dlq >"$tmp/dlq"
[[ $(wc -l <"$tmp/dlq") == 23 ]] || h_fail "er-get read $(wc -l <"$tmp/dlq") dead letters"
for i in $(seq 1000 1000 20000); do
	grep -q "^poison-$i	.*x-event-relay-reason=invalid_json" "$tmp/dlq" ||
		h_fail "poison-$i not dead-lettered with its reason: $(head -n 2 "$tmp/dlq")"
done
while IFS= read -r body; do
	grep -qF "$body" "$tmp/dlq" || h_fail "dead letter with the original body missing: ${body:0:60}"
done <"$tmp/poison"
grep -q '^{"correlation_id":"c".*x-event-relay-reason=missing_event_id' "$tmp/dlq" ||
	h_fail "no missing_event_id dead letter"
grep -q '^{"event_id":"no-payload".*x-event-relay-reason=missing_payload' "$tmp/dlq" ||
	h_fail "no missing_payload dead letter"
grep -q '^{"event_id":"too-large".*x-event-relay-reason=too_large' "$tmp/dlq" ||
	h_fail "no too_large dead letter"
grep -v 'x-event-relay-queue=events' "$tmp/dlq" | grep -q . &&
	h_fail "dead letter without x-event-relay-queue"
grep -Ev 'x-event-relay-time=20[0-9]{2}-[0-9]{2}-[0-9]{2}T' "$tmp/dlq" | grep -q . &&
	h_fail "dead letter without x-event-relay-time"
grep -v 'x-event-relay-worker=.*/worker-[01]' "$tmp/dlq" | grep -q . &&
	h_fail "dead letter without x-event-relay-worker"

# Metrics agree with what happened.
assert_metric event_relay_consumed_total 22023
assert_metric event_relay_published_total 20000
assert_metric event_relay_duplicates_total 2000
assert_metric 'event_relay_dead_lettered_total{reason="invalid_json"}' 20
assert_metric 'event_relay_dead_lettered_total{reason="missing_event_id"}' 1
assert_metric 'event_relay_dead_lettered_total{reason="missing_payload"}' 1
assert_metric 'event_relay_dead_lettered_total{reason="too_large"}' 1
assert_metric event_relay_in_flight 0
assert_metric event_relay_restarts_total 0
assert_metric event_relay_processing_latency_seconds_count 22023
# One Kafka latency sample per record delivered, none for duplicates or dead letters.
assert_metric event_relay_kafka_produce_latency_seconds_count 20000
[[ $(metric 'event_relay_kafka_produce_latency_seconds_bucket{le="+Inf"}') == 20000 ]] ||
	h_fail "kafka produce latency +Inf bucket: $(metric 'event_relay_kafka_produce_latency_seconds_bucket{le="+Inf"}'), want 20000"
# One claim latency sample per record produced (its first produce).
assert_metric event_relay_claim_latency_seconds_count 20000
cs=$(metric event_relay_claim_latency_seconds_sum)
ks=$(metric event_relay_kafka_produce_latency_seconds_sum)
ps=$(metric event_relay_processing_latency_seconds_sum)
awk -v k="$ks" -v p="$ps" 'BEGIN { exit !(k > 0 && k < p) }' ||
	h_fail "kafka produce latency sum $ks is not within (0, processing latency sum $ps)"
awk -v c="$cs" -v k="$ks" -v p="$ps" 'BEGIN { exit !(c > 0 && c + k <= p) }' ||
	h_fail "claim latency sum $cs + kafka $ks is not within (0, processing latency sum $ps]"
w0=$(metric 'event_relay_worker_consumed_total{worker="0"}')
w1=$(metric 'event_relay_worker_consumed_total{worker="1"}')
((w0 + w1 == 22023)) || h_fail "per-worker consumed: $w0 + $w1 != 22023"
curl -sf "$METRICS_URL/metrics" >"$tmp/metrics"
if command -v promtool >/dev/null; then
	promtool check metrics <"$tmp/metrics" || h_fail "promtool rejects /metrics"
fi
[[ $(curl -s -o /dev/null -w '%{http_code}' "$METRICS_URL/health") == 200 ]] ||
	h_fail "/health is not 200"

# Redis 7 claims with SET NX GET: no claim ran the script (no delivery
# was a redelivery), and there is a SET for every claim and every mark.
stats=$(redis-cli -p "$REDIS_PORT" INFO commandstats)
[[ $stats != *cmdstat_evalsha:* ]] || h_fail "claims ran the script: $(grep evalsha <<<"$stats")"
sets=$(sed -n 's/^cmdstat_set:calls=\([0-9]*\),.*/\1/p' <<<"$stats")
((${sets:-0} >= 42000)) || h_fail "SET calls: got ${sets:-none}, want >= 42000 (22000 claims + 20000 marks)"
h_log "Redis: $sets SET calls, no EVALSHA"

# A graceful stop exits 0 and leaves nothing unacked.
harness_stop_pid "$RELAY_PID" 40 || h_fail "event-relayd exited with status $?"
grep -q 'master.* info: stopped' "$tmp/relay.log" || h_fail "no 'stopped' line in the log"
h_log "relay_basic: 22023 deliveries, 20000 published, 2000 duplicates, 23 dead-lettered"
