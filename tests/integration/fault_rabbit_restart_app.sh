#!/bin/bash
# fault_rabbit_restart_app.sh: RabbitMQ stop_app, then start_app, mid-run; the workers reconnect with backoff and finish.
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

rmq_stop_app; rmq_start_app
h_log "fault injected and removed"
recovery=$(wait_progress 120)
fault_finish fault_rabbit_restart_app "$recovery"
