#!/bin/bash
# fault_amqp_close.sh: RabbitMQ closes every connection (rabbitmqctl
# close_all_connections) mid-run; the workers reconnect, drop the
# delivery tags of the old channel and finish.
# No event may be missing from Kafka; the source queue ends empty with
# nothing unacked and the poison messages dead-lettered.
set -euo pipefail

. "${srcdir:-$(dirname "$0")/../..}/tests/harness/servers.sh"
. "$ER_SRCDIR/tests/harness/relay.sh"

fault_test_start

rmq_ctl close_all_connections fault-test >/dev/null
h_log "fault injected and removed"
recovery=$(wait_progress 120)
fault_finish fault_amqp_close "$recovery"
