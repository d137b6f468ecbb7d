#!/bin/bash
# fault_amqp_blackhole.sh: the network between the relay and RabbitMQ
# turns into a blackhole (tcp-proxy stops forwarding without closing
# anything) for 8 s, longer than two heartbeats (2 s each). Each worker
# notices the silence, drops its connection and reconnects once the
# path is back; the broker requeues what it had delivered; no event is
# missing and nothing stays unacked. rabbitmq.url lists a dead address
# first: every (re)connect tries it, fails, and goes on to the next URL.
set -euo pipefail

. "${srcdir:-$(dirname "$0")/../..}/tests/harness/servers.sh"
. "$ER_SRCDIR/tests/harness/relay.sh"

relay_test_start
start_tcp_proxy "$AMQP_PORT"
printf '%s\n' 'rabbitmq = { prefetch = 50; heartbeat = 2; connect_timeout = 3; };' \
	>"$HARNESS_TMP/relay.conf"
dead=$(free_port)
start_relay WORKER_COUNT=2 \
	"RABBITMQ_URL=amqp://guest:guest@127.0.0.1:$dead/%2f,amqp://guest:guest@127.0.0.1:$PROXY_PORT/%2f"
wait_metric event_relay_published_total '>=' 3000 60

t0=$(_h_now_ms)
proxy_blackhole
h_log "blackhole on"
wait_metric event_relay_amqp_connected == 0 15
h_log "both workers dropped their silent connection after $(($(_h_now_ms) - t0)) ms"
fault_hold $((8 - ($(_h_now_ms) - t0) / 1000))
proxy_restore
h_log "blackhole off"
recovery=$(wait_progress 120)
wait_metric event_relay_amqp_connected == 2 60
# rabbitmq-c notices first ("heartbeat timeout"); the worker's own check
# ("two heartbeat intervals") is the backstop.
grep -Eq "heartbeat timeout|no data from the broker for two heartbeat intervals" \
	"$HARNESS_TMP/relay.log" ||
	h_fail "the workers did not log why they dropped the connection"
grep -q "amqp_source: connect 127.0.0.1:$dead" "$HARNESS_TMP/relay.log" ||
	h_fail "the dead first URL was never tried"
fault_finish fault_amqp_blackhole "$recovery"
