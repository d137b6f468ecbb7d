#!/bin/bash
# routes_quorum.sh: a route that declares its queue as a quorum queue
# (declare: true, arguments: {x-queue-type: quorum}) and binds it to the
# topic exchange `shop` (evt.#). The queue exists as a quorum queue
# with that binding once the relay is ready; 5,000 seed events, every
# 10th twice, published to the exchange reach Kafka exactly once (500
# duplicates caught); the route's counters say so. The relay then stops
# gracefully and starts again: declaring the queue again with the same
# arguments works, and 500 more events arrive exactly once.
set -euo pipefail

. "${srcdir:-$(dirname "$0")/../..}/tests/harness/servers.sh"
. "$ER_SRCDIR/tests/harness/relay.sh"
. "$ER_SRCDIR/tests/harness/routes.sh"

harness_require curl
harness_init
tmp=$HARNESS_TMP
start_rabbitmq
start_redis
start_kafka_mock t-qq:8

"$ER_SEND" -u "$AMQP_URL" --declare-exchange shop:topic -n 0 >/dev/null
route_file 10-quorum.yaml <<'EOF2'
routes:
  - name: quorum
    queue:
      name: qq
      declare: true
      arguments:
        x-queue-type: quorum
      bindings:
        - exchange: shop
          routing_key: "evt.#"
    topic: t-qq
    id: json:event_id
    key: id
    value: json:payload
    headers:
      correlation_id: json:correlation_id
EOF2

# events FIRST LAST: seed-format bodies (every 10th twice) to stdin of
# er-send, and the expected records (read_topic.sh's format) to
# $tmp/expected-FIRST.
events() {
	awk -v a="$1" -v b="$2" -v out="$tmp/expected-$1" 'BEGIN {
		for (i = a; i <= b; i++) {
			p = sprintf("{\"seq\":%d,\"pad\":\"quorum\"}", i)
			line = sprintf("{\"event_id\":\"ev-%08d\",\"correlation_id\":\"corr-%d\",\"payload\":%s}", i, i, p)
			print line
			if ((i - a + 1) % 10 == 0) print line
			printf "ev-%08d\t%s\tcorr-%d\n", i, p, i >out
		}
	}'
}

start_relay WORKER_COUNT=2
types=$(rmq_ctl list_queues -q --no-table-headers name type)
awk -F'\t' '$1 == "qq" && $2 == "quorum" { found = 1 } END { exit !found }' <<<"$types" ||
	h_fail "qq is not a quorum queue: $types"
binds=$(rmq_ctl list_bindings -q --no-table-headers source_name destination_name routing_key)
awk -F'\t' '$1 == "shop" && $2 == "qq" && $3 == "evt.#" { found = 1 } END { exit !found }' <<<"$binds" ||
	h_fail "qq is not bound to shop with evt.#: $binds"
h_log "qq declared as a quorum queue, bound to shop (evt.#)"

events 1 5000 >"$tmp/batch1"
"$ER_SEND" -u "$AMQP_URL" -e shop -r evt.created --lines "$tmp/batch1" >/dev/null
wait_metric event_relay_acked_total == 5500 120
wait_queue_empty qq 30 || h_fail "qq not empty: $(queue_counts qq)"
topic_records "$tmp/rec" t-qq
record_view "$tmp/rec" correlation_id >"$tmp/got"
check_exactly_once "$tmp/expected-1" "$tmp/got"
[[ $(route_metric consumed_total quorum) == 5500 && $(route_metric published_total quorum) == 5000 &&
	$(route_metric duplicates_total quorum) == 500 ]] ||
	h_fail "route quorum: consumed $(route_metric consumed_total quorum), published" \
		"$(route_metric published_total quorum), duplicates $(route_metric duplicates_total quorum);" \
		"want 5500 5000 500"
h_log "5000 events through the exchange and the quorum queue, exactly once"

harness_stop_pid "$RELAY_PID" 40 || h_fail "event-relayd exited with status $?"
start_relay WORKER_COUNT=2
events 5001 5500 >"$tmp/batch2"
"$ER_SEND" -u "$AMQP_URL" -e shop -r evt.updated --lines "$tmp/batch2" >/dev/null
wait_metric event_relay_acked_total == 550 60
wait_queue_empty qq 30 || h_fail "qq not empty: $(queue_counts qq)"
topic_records "$tmp/rec" t-qq
record_view "$tmp/rec" correlation_id >"$tmp/got"
LC_ALL=C sort -m "$tmp/expected-1" "$tmp/expected-5001" >"$tmp/expected-all"
check_exactly_once "$tmp/expected-all" "$tmp/got"
harness_stop_pid "$RELAY_PID" 40 || h_fail "event-relayd exited with status $?"
h_log "routes_quorum: 6050 deliveries through a declared quorum queue, 5500 events exactly once"
