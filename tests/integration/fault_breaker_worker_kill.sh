#!/bin/bash
# fault_breaker_worker_kill.sh: every Kafka broker goes down, the
# breakers open, and a worker is SIGKILLed while its breaker is open.
# The master restarts it; the new worker's breaker opens too (its
# producer finds no broker); when the brokers return, both close and no
# event is missing (the killed worker's held deliveries come back).
set -euo pipefail

. "${srcdir:-$(dirname "$0")/../..}/tests/harness/servers.sh"
. "$ER_SRCDIR/tests/harness/relay.sh"

fault_test_start 'resilience = { breaker_open_ms = 500; breaker_open_max_ms = 2000; };'
kafka_all_brokers down
wait_metric event_relay_kafka_breaker_open == 2 30
opened=$(metric event_relay_kafka_breaker_opened_total)
victim=$(worker_pids | head -n 1)
[[ -n $victim ]] || h_fail "no worker process found"
kill -KILL "$victim"
h_log "killed worker pid $victim with its breaker open"
wait_metric event_relay_restarts_total == 1 30
wait_metric event_relay_kafka_breaker_opened_total '>' "$opened" 30
wait_metric event_relay_kafka_breaker_open == 2 30
h_log "the restarted worker's breaker opened too"
fault_hold 5

kafka_all_brokers up
h_log "brokers up"
recovery=$(wait_progress 120)
wait_metric event_relay_kafka_breaker_open == 0 60
fault_finish fault_breaker_worker_kill "$recovery"
