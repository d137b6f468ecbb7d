#!/bin/bash
# fault_kafka_broker_down.sh: one Kafka mock broker down for 5 s mid-run,
# then up; records for its partitions wait in librdkafka and are retried.
# No event may be missing from Kafka; the source queue ends empty with
# nothing unacked and the poison messages dead-lettered.
#
# The producer's timeouts are 10 s here, so that the stall watchdog
# (no delivery report for message.timeout.ms + socket.timeout.ms + 5 s
# with records outstanding: recreate the producer) acts within 25 s.
# librdkafka 2.0.2 against the mock has been seen to report nothing at
# all after the broker came back; the watchdog is what recovers then.
set -euo pipefail

. "${srcdir:-$(dirname "$0")/../..}/tests/harness/servers.sh"
. "$ER_SRCDIR/tests/harness/relay.sh"

fault_test_start \
	'kafka = { properties = [ "message.timeout.ms=10000", "socket.timeout.ms=10000" ]; };'

kafka_cmd 'down 1' >/dev/null
fault_hold 5
kafka_cmd 'up 1' >/dev/null
h_log "fault injected and removed"
recovery=$(wait_progress 120)
fault_finish fault_kafka_broker_down "$recovery"
restarts=$(metric_or_zero event_relay_kafka_producer_restarts_total)
h_log "producers recreated by the stall watchdog: $restarts"
