#!/bin/bash
# fault_redis_freeze.sh: Redis frozen with SIGSTOP for 5 s mid-run; the
# workers hold their claims and done-marks (a reply overdue by 5 s drops
# the connection, answered again after a reconnect) and finish after SIGCONT.
# No event may be missing from Kafka; the source queue ends empty with
# nothing unacked and the poison messages dead-lettered.
set -euo pipefail

. "${srcdir:-$(dirname "$0")/../..}/tests/harness/servers.sh"
. "$ER_SRCDIR/tests/harness/relay.sh"

fault_test_start

kill -STOP "$REDIS_PID"
fault_hold 5
kill -CONT "$REDIS_PID"
h_log "fault injected and removed"
recovery=$(wait_progress 120)
fault_finish fault_redis_freeze "$recovery"
