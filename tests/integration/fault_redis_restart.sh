#!/bin/bash
# fault_redis_restart.sh: Redis killed mid-run and started again empty; claims are sent again after the reconnect, done-marks that failed are counted, duplicates are allowed.
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

stop_redis; start_redis
h_log "fault injected and removed"
recovery=$(wait_progress 120)
fault_finish fault_redis_restart "$recovery"
