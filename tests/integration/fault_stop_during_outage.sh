#!/bin/bash
# fault_stop_during_outage.sh: SIGTERM while every Kafka broker is down
# and the breakers are open, with records outstanding in librdkafka. The
# relay exits at once (well within stop_timeout, 5 s here: with the
# breaker open nothing held can reach Kafka) with status 0 and leaves
# every unfinished message unacked: the broker holds them ready again.
# A second relay, started once the brokers are back, relays them all.
set -euo pipefail

. "${srcdir:-$(dirname "$0")/../..}/tests/harness/servers.sh"
. "$ER_SRCDIR/tests/harness/relay.sh"

fault_test_start 'stop_timeout = 5;'
kafka_all_brokers down
wait_metric event_relay_kafka_breaker_open == 2 30
held=$(metric event_relay_in_flight)
((held > 0)) || h_fail "no deliveries held while the breakers were open"

t0=$(_h_now_ms)
rc=0
harness_stop_pid "$RELAY_PID" 30 || rc=$?
took=$(($(_h_now_ms) - t0))
((rc == 0)) || h_fail "event-relayd exited with status $rc"
((took < 4000)) || h_fail "stop took $took ms; with the breakers open it should not wait for stop_timeout (5 s)"
grep -q "ignored TERM" "$HARNESS_TMP/relay.log" && h_fail "the harness had to KILL the relay"
grep -q "Kafka circuit breaker open: leaving" "$HARNESS_TMP/relay.log" ||
	h_fail "the workers did not say why they left deliveries unacked"
read -r ready unacked < <(queue_counts events)
((unacked == 0 && ready > 0)) ||
	h_fail "after the stop: $ready ready, $unacked unacked; want some ready, none unacked"
h_log "stopped in $took ms with $held deliveries held; queue: $ready ready, 0 unacked"

kafka_all_brokers up
start_relay WORKER_COUNT=2
recovery=$(wait_progress 120)
fault_finish fault_stop_during_outage "$recovery"
