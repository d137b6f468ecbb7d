#!/bin/bash
# fault_redis_freeze.sh: Redis frozen with SIGSTOP for 5 s mid-run; the workers time the connection out, reconnect after SIGCONT, and finish.
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

kill -STOP "$REDIS_PID"
fault_hold 5
kill -CONT "$REDIS_PID"
h_log "fault injected and removed"
recovery=$(wait_progress 120)
fault_finish fault_redis_freeze "$recovery"
