#!/bin/bash
# fault_rabbit_restart_app.sh: RabbitMQ stop_app, then start_app, mid-
# run; the workers reconnect with backoff and finish.
# No event may be missing from Kafka; the source queue ends empty with
# nothing unacked and the poison messages dead-lettered.
set -euo pipefail

. "${srcdir:-$(dirname "$0")/../..}/tests/harness/servers.sh"
. "$ER_SRCDIR/tests/harness/relay.sh"

fault_test_start

rmq_stop_app; rmq_start_app
h_log "fault injected and removed"
recovery=$(wait_progress 120)
fault_finish fault_rabbit_restart_app "$recovery"
