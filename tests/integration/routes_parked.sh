#!/bin/bash
# routes_parked.sh: one route's queue cannot stop the others. Route
# `present` reads the queue `present`; route `absent` checks (passively)
# the queue `later`, which does not exist yet. The relay starts, becomes
# ready and relays `present` (2,000 events) while `absent` is parked:
# logged with its reason, event_relay_routes_parked is 1 per worker and
# /status names it. Once `later` is declared and holds events, the route
# consumes it within its retry time and relays them. Then `present` is
# deleted while consumed: its route parks (the broker's basic.cancel),
# `absent` keeps relaying more events, nothing is restarted, and a
# graceful stop exits 0.
set -euo pipefail

. "${srcdir:-$(dirname "$0")/../..}/tests/harness/servers.sh"
. "$ER_SRCDIR/tests/harness/relay.sh"
. "$ER_SRCDIR/tests/harness/routes.sh"

harness_require curl
harness_init
tmp=$HARNESS_TMP
start_rabbitmq
start_redis
start_kafka_mock t-present:4 t-later:4

route_file 10-two.yaml <<'EOF2'
routes:
  - name: present
    queue: {name: present, declare: true}
    topic: t-present
    id: json:event_id
    value: json:payload
  - name: absent
    queue: later
    topic: t-later
    id: json:event_id
    value: json:payload
EOF2

"$ER_PUBLISH" -u "$AMQP_URL" -q present -n 2000 --persistent --expected "$tmp/exp-present" >/dev/null
start_relay WORKER_COUNT=2
wait_metric 'event_relay_route_published_total{route="present"}' == 2000 60
grep -q 'route absent: check queue later: channel closed: 404 NOT_FOUND.*not consuming it' \
	"$tmp/relay.log" || h_fail "no line saying route absent is parked: $(grep -i absent "$tmp/relay.log" | head -n 3)"
assert_metric event_relay_routes_parked 2
status_json | grep -q '"warnings":\["amqp: route absent: check queue later' ||
	h_fail "/status does not say why route absent waits"
h_log "route present relayed 2000 events while route absent is parked"

# The queue appears: the parked route consumes it at its next try.
"$ER_PUBLISH" -u "$AMQP_URL" -q later -n 1000 -s 5000 --persistent \
	--expected "$tmp/exp-later" >/dev/null
wait_metric 'event_relay_route_published_total{route="absent"}' == 1000 90
assert_metric event_relay_routes_parked 0
grep -q 'route absent: queue later is back: consuming it' "$tmp/relay.log" ||
	h_fail "no line saying route absent consumes again"
h_log "route absent consumes once its queue exists"

# The consumed queue is deleted: that route parks, the other goes on.
rmq_ctl delete_queue present >/dev/null
wait_metric event_relay_routes_parked == 2 30
"$ER_PUBLISH" -u "$AMQP_URL" -q later -n 500 -s 9000 --persistent >/dev/null
wait_metric 'event_relay_route_published_total{route="absent"}' == 1500 60
grep -q 'route present: consume present: the broker cancelled the consumer' "$tmp/relay.log" ||
	h_fail "no line saying route present is parked after its queue was deleted"
assert_metric event_relay_restarts_total 0
assert_metric event_relay_amqp_reconnects_total 0

topic_records "$tmp/rec" t-present
[[ $(wc -l <"$tmp/rec") == 2000 ]] || h_fail "t-present holds $(wc -l <"$tmp/rec") records, want 2000"
harness_stop_pid "$RELAY_PID" 40 || h_fail "event-relayd exited with status $?"
h_log "routes_parked: a missing and a deleted queue parked their routes only"
