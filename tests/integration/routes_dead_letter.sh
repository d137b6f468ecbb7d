#!/bin/bash
# routes_dead_letter.sh: topic templates, and what route files
# dead-letter and why.
#
#   orders   queue declared by the route and bound to the topic exchange
#            `shop` (order.#), topic "{exchange}.{routing_key}", key the
#            routing key: messages published with the routing keys
#            order.a, order.b and order.c_d-1 land in shop.order.a,
#            shop.order.b and shop.order.c_d-1; routing keys that make no
#            valid topic ('*', '/', a non-ASCII byte, a topic of 255
#            bytes) are dead-lettered with reason bad_topic, and no other
#            topic is created
#   tenants  topic "t.{header.x-tenant}.{queue}": a string or an integer
#            header fills it; a missing header or a space is bad_topic;
#            its dead letters go to the queue named by dead_letter_queue
#   strict   json: id, key and value: no/empty/NUL event_id is
#            missing_event_id, a 257-byte one event_id_too_long (256
#            bytes is fine), no key missing_key, no value missing_value,
#            a non-JSON or cut body invalid_json
#   byid     id property:message_id, key header:x-k, max_message_bytes
#            64: no or an empty message_id is missing_event_id, no x-k
#            missing_key, a 65-byte body too_large (64 bytes pass)
# Every dead letter is the original body with x-event-relay-reason,
# -queue, -route, -time and -worker; the per-route dead-letter counters
# by reason add up to the totals; the source queues end empty.
set -euo pipefail

. "${srcdir:-$(dirname "$0")/../..}/tests/harness/servers.sh"
. "$ER_SRCDIR/tests/harness/relay.sh"
. "$ER_SRCDIR/tests/harness/routes.sh"

harness_require curl
harness_init
tmp=$HARNESS_TMP
start_rabbitmq
start_redis
start_kafka_mock shop.order.a:2 shop.order.b:2 shop.order.c_d-1:1 \
	t.acme.q-tenant:1 t.globex.q-tenant:1 t.7.q-tenant:1 t-strict:1 t-byid:1

route_file 10-templates.yaml <<'EOF'
routes:
  - name: orders
    queue:
      name: orders
      declare: true
      bindings:
        - exchange: shop
          routing_key: "order.#"
    topic: "{exchange}.{routing_key}"
    id: json:event_id
    key: routing_key
    value: body
  - name: tenants
    queue: q-tenant
    topic: "t.{header.x-tenant}.{queue}"
    id: json:event_id
    value: body
    dead_letter_queue: tenant-dead
EOF
route_file 20-strict.yaml <<'EOF'
routes:
  - name: strict
    queue: q-strict
    topic: t-strict
    id: json:event_id
    key: json:k
    value: json:v
  - name: byid
    queue: q-byid
    topic: t-byid
    id: property:message_id
    key: header:x-k
    value: body
    max_message_bytes: 64
EOF

"$ER_SEND" -u "$AMQP_URL" --declare-exchange shop:topic --declare-queue q-tenant \
	--declare-queue q-byid -n 0 >/dev/null
send() { "$ER_SEND" -u "$AMQP_URL" "$@" >/dev/null || h_fail "er-send $* failed"; }
send -q q-tenant -b '{"event_id":"t1"}' -H 'x-tenant=S:acme'
send -q q-tenant -b '{"event_id":"t2"}' -H 'x-tenant=S:globex'
send -q q-tenant -b '{"event_id":"t3"}' -H 'x-tenant=I:7'
send -q q-tenant -b '{"event_id":"t4"}'
send -q q-tenant -b '{"event_id":"t5"}' -H 'x-tenant=S:a b'

id256=$(printf 'i%.0s' {1..256})
cat >"$tmp/strict.in" <<EOF
{"k":"a","v":1}
{"event_id":"","k":"a","v":1}
{"event_id":"${id256}x","k":"a","v":1}
{"event_id":"a\\u0000b","k":"a","v":1}
{"event_id":"e5","v":1}
{"event_id":"e6","k":"a"}
not json
{"event_id":"e8","k":"a","v":1
{"event_id":"e9","k":"a","v":{"x":1}}
{"event_id":"$id256","k":"b","v":2}
EOF
"$ER_PUBLISH" -u "$AMQP_URL" -q q-strict --raw "$tmp/strict.in" >/dev/null

send -q q-byid -b b1 -H 'x-k=S:k1'
send -q q-byid -b b2 -p message_id= -H 'x-k=S:k2'
send -q q-byid -b b3 -p message_id=m3
send -q q-byid -b b4 -p message_id=m4 -H 'x-k=S:k4'
send -q q-byid -b "b5$(printf 'z%.0s' {1..63})" -p message_id=m5 -H 'x-k=S:k5'
send -q q-byid -b "b6$(printf 'z%.0s' {1..62})" -p message_id=m6 -H 'x-k=S:k6'

start_relay WORKER_COUNT=2
# The route declared `orders` and bound it: publish through the exchange.
long=order.$(printf 'x%.0s' {1..244})
for rk in order.a order.a order.a order.b order.b order.c_d-1 'order.x*y' order.a/b "$long" $'order.\xc3\xa9'; do
	n=$((${n:-0} + 1))
	send -e shop -r "$rk" -b "{\"event_id\":\"o$n\",\"rk\":\"${rk:0:12}\"}"
done
wait_metric event_relay_acked_total == 31 60
wait_for --deadline 30 queues_empty orders q-tenant q-strict q-byid ||
	h_fail "queues not empty: $(queue_table | tr '\t\n' ' ,')"

# ---- what reached Kafka
for t in shop.order.a:3 shop.order.b:2 shop.order.c_d-1:1 t.acme.q-tenant:1 \
	t.globex.q-tenant:1 t.7.q-tenant:1 t-strict:2 t-byid:2; do
	topic_records "$tmp/rec" "${t%:*}"
	[[ $(wc -l <"$tmp/rec") == "${t#*:}" ]] ||
		h_fail "${t%:*}: $(wc -l <"$tmp/rec") records, want ${t#*:}: $(cut -f5,6 "$tmp/rec")"
done
# shellcheck disable=SC2031
"$ER_TOPIC" -b "$KAFKA_BROKERS" -l | grep '^shop\.' | sort >"$tmp/topics"
[[ $(tr '\n' ' ' <"$tmp/topics") == "shop.order.a shop.order.b shop.order.c_d-1 " ]] ||
	h_fail "shop.* topics: $(tr '\n' ' ' <"$tmp/topics")"
topic_records "$tmp/rec" shop.order.b
[[ $(record_view "$tmp/rec" | cut -f1 | sort -u) == order.b ]] ||
	h_fail "shop.order.b: keys $(record_view "$tmp/rec" | cut -f1 | tr '\n' ' '), want the routing key order.b"
topic_records "$tmp/rec" t-strict
[[ $(record_view "$tmp/rec" | tr '\t\n' '| ') == "a|{\"x\":1} b|2 " ]] ||
	h_fail "t-strict: $(record_view "$tmp/rec")"
topic_records "$tmp/rec" t-byid
[[ $(record_view "$tmp/rec" | tr '\t\n' '| ') == "k4|b4 k6|b6$(printf 'z%.0s' {1..62}) " ]] ||
	h_fail "t-byid: $(record_view "$tmp/rec")"
h_log "templates: 9 records in 6 topics chosen by exchange, routing key, header and queue"

# ---- dead letters: the original body, the reason, where it came from
# want_dead QUEUE ROUTE SOURCE_QUEUE COUNT, then "BODY_START|REASON" lines
# on stdin: QUEUE holds COUNT dead letters, one whose body starts with
# each BODY_START with its reason, all from ROUTE and SOURCE_QUEUE.
want_dead() {
	local q=$1 route=$2 src=$3 n=$4 start reason
	"$ER_GET" -u "$AMQP_URL" -q "$q" >"$tmp/dead-$q"
	[[ $(wc -l <"$tmp/dead-$q") == "$n" ]] ||
		h_fail "$q: $(wc -l <"$tmp/dead-$q") dead letters, want $n: $(cut -c1-80 "$tmp/dead-$q")"
	while IFS='|' read -r start reason; do
		# ENVIRON, not -v: awk would read the backslashes as escapes.
		S=$start R="x-event-relay-reason=$reason" awk 'index($0, ENVIRON["S"]) == 1 &&
			index($0, ENVIRON["R"]) { found = 1 } END { exit !found }' "$tmp/dead-$q" ||
			h_fail "$q: no dead letter '$start' with reason $reason:" \
				"$(S=$start awk 'index($0, ENVIRON["S"]) == 1' "$tmp/dead-$q" | cut -c1-300)"
	done
	grep -v "x-event-relay-route=$route\(,\|$\)" "$tmp/dead-$q" | grep -q . &&
		h_fail "$q: a dead letter without x-event-relay-route=$route: $(head -n 1 "$tmp/dead-$q")"
	grep -v "x-event-relay-queue=$src\(,\|$\)" "$tmp/dead-$q" | grep -q . &&
		h_fail "$q: a dead letter without x-event-relay-queue=$src"
	grep -Ev 'x-event-relay-time=20[0-9]{2}-[0-9]{2}-[0-9]{2}T' "$tmp/dead-$q" | grep -q . &&
		h_fail "$q: a dead letter without x-event-relay-time"
	grep -v 'x-event-relay-worker=.*/worker-[01]' "$tmp/dead-$q" | grep -q . &&
		h_fail "$q: a dead letter without x-event-relay-worker"
	return 0
}
want_dead orders.dlq orders orders 4 <<'EOF'
{"event_id":"o7","rk":"order.x*y"}|bad_topic
{"event_id":"o8","rk":"order.a/b"}|bad_topic
{"event_id":"o9","rk":"order.xxxxxx"}|bad_topic
{"event_id":"o10","rk":"order.é"}|bad_topic
EOF
want_dead tenant-dead tenants q-tenant 2 <<'EOF'
{"event_id":"t4"}|bad_topic
{"event_id":"t5"}|bad_topic
EOF
want_dead q-strict.dlq strict q-strict 8 <<EOF
{"k":"a","v":1}|missing_event_id
{"event_id":"","k":"a","v":1}|missing_event_id
{"event_id":"${id256}x"|event_id_too_long
{"event_id":"a\\u0000b"|missing_event_id
{"event_id":"e5","v":1}|missing_key
{"event_id":"e6","k":"a"}|missing_value
not json|invalid_json
{"event_id":"e8","k":"a","v":1|invalid_json
EOF
want_dead q-byid.dlq byid q-byid 4 <<'EOF'
b1|missing_event_id
b2|missing_event_id
b3|missing_key
b5zzz|too_large
EOF
[[ $(queue_counts q-tenant.dlq 2>/dev/null || echo none) =~ ^(none|0\ 0)$ ]] ||
	h_fail "q-tenant.dlq has messages: dead_letter_queue was not followed"
h_log "dead letters: 18, each with its reason, route, queue, time and worker"

# ---- counters: per route and reason, adding up to the totals
for r in orders:bad_topic:4 tenants:bad_topic:2 strict:missing_event_id:3 \
	strict:event_id_too_long:1 strict:missing_key:1 \
	strict:missing_value:1 strict:invalid_json:2 byid:missing_event_id:2 byid:missing_key:1 \
	byid:too_large:1; do
	IFS=: read -r name reason n <<<"$r"
	[[ $(route_metric dead_lettered_total "$name" "$reason") == "$n" ]] ||
		h_fail "route $name dead-lettered $(route_metric dead_lettered_total "$name" "$reason" || echo none) for $reason, want $n"
done
for r in bad_topic:6 missing_event_id:5 event_id_too_long:1 missing_key:2 missing_value:1 \
	invalid_json:2 too_large:1; do
	assert_metric "event_relay_dead_lettered_total{reason=\"${r%:*}\"}" "${r#*:}"
done
assert_metric event_relay_published_total 13
for r in orders:10:6 tenants:5:3 strict:10:2 byid:6:2; do
	IFS=: read -r name c p <<<"$r"
	[[ $(route_metric consumed_total "$name") == "$c" && $(route_metric published_total "$name") == "$p" ]] ||
		h_fail "route $name: consumed $(route_metric consumed_total "$name") published" \
			"$(route_metric published_total "$name"), want $c $p"
done
harness_stop_pid "$RELAY_PID" 40 || h_fail "event-relayd exited with status $?"
h_log "routes_dead_letter: 31 deliveries, 13 published, 18 dead-lettered with their reasons"
