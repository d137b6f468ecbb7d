#!/bin/bash
# fault_kafka_broker_down.sh: One Kafka mock broker down for 5 s mid-
# run, then up; records for its partitions wait in librdkafka and are
# retried.
# No event may be missing from Kafka; the source queue ends empty with
# nothing unacked and the poison messages dead-lettered.
set -euo pipefail

. "${srcdir:-$(dirname "$0")/../..}/tests/harness/servers.sh"
. "$ER_SRCDIR/tests/harness/relay.sh"

fault_test_start

kafka_cmd 'down 1' >/dev/null
fault_hold 5
kafka_cmd 'up 1' >/dev/null
h_log "fault injected and removed"
recovery=$(wait_progress 120)
fault_finish fault_kafka_broker_down "$recovery"
