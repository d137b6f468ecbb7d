#!/bin/bash
# fault_kafka_broker_down.sh: One Kafka mock broker down for 5 s mid-run, then up; records for its partitions wait in librdkafka and are retried.
# No event may be missing from Kafka; the source queue ends empty with
# nothing unacked and the poison messages dead-lettered.
set -euo pipefail

. "${srcdir:-$(dirname "$0")/../..}/tests/harness/servers.sh"
. "$ER_SRCDIR/tests/harness/relay.sh"

relay_test_start
# A small prefetch keeps the relay mid-run when the fault comes.
printf 'rabbitmq = { prefetch = 50; };\n' >"$HARNESS_TMP/relay.conf"
start_relay WORKER_COUNT=2
wait_metric event_relay_published_total '>=' 3000 60

kafka_cmd 'down 1' >/dev/null
fault_hold 5
kafka_cmd 'up 1' >/dev/null
h_log "fault injected and removed"
recovery=$(wait_progress 120)
fault_finish fault_kafka_broker_down "$recovery"
