#!/bin/bash
# routes_multi.sh: three routes from two route files relay three queues
# to three topics at once, with 2 workers. Each queue holds 20,000 seed
# events, every 10th published twice (22,000 messages), the same event
# ids in every queue. Route `seed` is the implicit route's mapping
# written out (key event_id, value payload, header correlation_id);
# `whole` keys by json:correlation_id and writes the whole body; `nested`
# keys by a nested number (json:payload.seq). Each topic holds exactly
# its 20,000 records once, byte-exact: de-duplication is per route, so
# the same ids in another queue are no duplicates. The per-route
# counters equal the per-queue counts and add up to the totals; /status
# lists the three routes with their file, line, queue, topic and counts;
# promtool accepts /metrics; the queues end empty, nothing is
# dead-lettered; a graceful stop exits 0.
set -euo pipefail

. "${srcdir:-$(dirname "$0")/../..}/tests/harness/servers.sh"
. "$ER_SRCDIR/tests/harness/relay.sh"
. "$ER_SRCDIR/tests/harness/routes.sh"

harness_require kcat curl jq
harness_init
tmp=$HARNESS_TMP
start_rabbitmq
start_redis
start_kafka_mock t-seed:16 t-whole:16 t-nested:16

for q in q-seed q-whole q-nested; do
	"$ER_PUBLISH" -u "$AMQP_URL" -q "$q" -n 20000 --dup-every 10 --persistent \
		--expected "$tmp/expected-$q" >/dev/null
done
h_log "66,000 messages in q-seed, q-whole and q-nested"

route_file 10-shop.yaml <<'EOF'
# Two routes in one file.
routes:
  - name: seed
    queue: q-seed
    topic: t-seed
    id: json:event_id
    key: id
    value: json:payload
    headers:
      correlation_id: json:correlation_id
  - name: whole
    queue: q-whole
    topic: t-whole
    id: json:event_id
    key: json:correlation_id
    value: body
EOF
route_file 20-nested.yaml <<'EOF'
routes:
  - name: nested
    queue: q-nested
    topic: t-nested
    id: json:event_id
    key: json:payload.seq
    value: json:payload
    headers:
      corr: json:correlation_id
EOF

# -t checks them and counts them.
: >"$tmp/relay.conf"
out=$(env RABBITMQ_URL="$AMQP_URL" ROUTES_DIR="$tmp/routes.d" WORKER_COUNT=2 \
	METRICS_LISTEN="127.0.0.1:$(free_port)" CONTROL_SOCKET="$tmp/control-t" \
	"$ER_RELAYD" -t -c "$tmp/relay.conf" 2>&1) ||
	h_fail "-t rejected the route files: $out"
grep -qF "configuration ok (3 routes from $tmp/routes.d, 2 workers)" <<<"$out" ||
	h_fail "-t output: $out"

t0=$(_h_now_ms)
start_relay WORKER_COUNT=2
wait_metric event_relay_acked_total == 66000 120
took=$(($(_h_now_ms) - t0))
wait_for --deadline 30 queues_empty q-seed q-whole q-nested ||
	h_fail "queues not empty: $(queue_table | tr '\t\n' ' ,')"
wait_metric event_relay_in_flight == 0 30

# Each topic: exactly its events, once, byte for byte.
topic_records "$tmp/seed.rec" t-seed
record_view "$tmp/seed.rec" correlation_id >"$tmp/seed.got"
check_exactly_once "$tmp/expected-q-seed" "$tmp/seed.got"
awk -F'\t' 'NF != 7' "$tmp/seed.rec" | grep -q . &&
	h_fail "t-seed: a record with other headers than correlation_id: $(awk -F'\t' 'NF != 7' "$tmp/seed.rec" | head -n 1)"

topic_records "$tmp/whole.rec" t-whole
record_view "$tmp/whole.rec" >"$tmp/whole.got"
seed_body_view "$tmp/expected-q-whole" >"$tmp/whole.want"
check_exactly_once "$tmp/whole.want" "$tmp/whole.got"
awk -F'\t' 'NF != 6' "$tmp/whole.rec" | grep -q . &&
	h_fail "t-whole: a record with headers: $(awk -F'\t' 'NF != 6' "$tmp/whole.rec" | head -n 1)"

topic_records "$tmp/nested.rec" t-nested
record_view "$tmp/nested.rec" corr >"$tmp/nested.got"
awk -F'\t' -v OFS='\t' '{ s = $1; sub(/^ev-0*/, "", s); print s, $2, $3 }' \
	"$tmp/expected-q-nested" | LC_ALL=C sort >"$tmp/nested.want"
check_exactly_once "$tmp/nested.want" "$tmp/nested.got"
h_log "t-seed, t-whole and t-nested each hold exactly their 20000 records"

# Per-route counters: the per-queue counts, adding up to the totals.
for r in seed whole nested; do
	[[ $(route_metric consumed_total "$r") == 22000 ]] ||
		h_fail "route $r consumed $(route_metric consumed_total "$r"), want 22000"
	[[ $(route_metric published_total "$r") == 20000 ]] ||
		h_fail "route $r published $(route_metric published_total "$r"), want 20000"
	[[ $(route_metric duplicates_total "$r") == 2000 ]] ||
		h_fail "route $r duplicates $(route_metric duplicates_total "$r"), want 2000"
done
assert_metric event_relay_consumed_total 66000
assert_metric event_relay_published_total 60000
assert_metric event_relay_duplicates_total 6000
curl -sf "$METRICS_URL/metrics" >"$tmp/metrics"
awk '/^event_relay_dead_lettered_total\{/ && $2 != 0 { print; bad = 1 }
	/^event_relay_route_dead_lettered_total\{/ && $2 != 0 { print; bad = 1 }
	END { exit bad }' "$tmp/metrics" || h_fail "something was dead-lettered"
for fam in consumed published duplicates; do
	sum=$(awk -v f="event_relay_route_${fam}_total{" 'index($1, f) == 1 { s += $2 } END { print s + 0 }' "$tmp/metrics")
	[[ $sum == "$(metric "event_relay_${fam}_total")" ]] ||
		h_fail "route ${fam} counters add up to $sum, total is $(metric "event_relay_${fam}_total")"
done
if command -v promtool >/dev/null; then
	promtool check metrics <"$tmp/metrics" || h_fail "promtool rejects /metrics"
fi

# /status: the three routes, where they come from, their counts.
status_json >"$tmp/status.json" || h_fail "no /status"
jq -e '.routes | length == 3' "$tmp/status.json" >/dev/null ||
	h_fail "/status does not list 3 routes: $(jq -c .routes "$tmp/status.json")"
want_route() { # NAME FILE LINE QUEUE TOPIC
	jq -e --arg n "$1" --arg f "$tmp/routes.d/$2" --argjson l "$3" --arg q "$4" --arg t "$5" \
		'.routes[] | select(.name == $n) | select(.file == $f and .line == $l and
		.queue == $q and .topic == $t and .dead_letter_queue == ($q + ".dlq") and
		.consumed == 22000 and .published == 20000 and .duplicates == 2000 and
		.dead_lettered == 0)' "$tmp/status.json" >/dev/null ||
		h_fail "/status route $1: want file $2 line $3, $4 -> $5, 22000/20000/2000/0;" \
			"got $(jq -c --arg n "$1" '.routes[] | select(.name == $n)' "$tmp/status.json")"
}
want_route seed 10-shop.yaml 3 q-seed t-seed
want_route whole 10-shop.yaml 11 q-whole t-whole
want_route nested 20-nested.yaml 2 q-nested t-nested
queues_empty q-seed.dlq q-whole.dlq q-nested.dlq ||
	h_fail "dead-letter queues not empty: $(queue_table | tr '\t\n' ' ,')"
assert_metric event_relay_restarts_total 0

harness_stop_pid "$RELAY_PID" 40 || h_fail "event-relayd exited with status $?"
h_log "routes_multi: 66000 deliveries over 3 routes in $took ms, 60000 published, 6000 duplicates"
