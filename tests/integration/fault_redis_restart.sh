#!/bin/bash
# fault_redis_restart.sh: Redis killed mid-run and started again empty;
# claims are sent again after the reconnect, done-marks that failed are
# counted, duplicates are allowed.
# No event may be missing from Kafka; the source queue ends empty with
# nothing unacked and the poison messages dead-lettered.
set -euo pipefail

. "${srcdir:-$(dirname "$0")/../..}/tests/harness/servers.sh"
. "$ER_SRCDIR/tests/harness/relay.sh"

fault_test_start

stop_redis; start_redis
h_log "fault injected and removed"
recovery=$(wait_progress 120)
fault_finish fault_redis_restart "$recovery"
