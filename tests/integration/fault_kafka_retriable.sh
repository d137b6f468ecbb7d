#!/bin/bash
# fault_kafka_retriable.sh: the Kafka mock answers produce requests with
# retriable errors (REQUEST_TIMED_OUT, NOT_ENOUGH_REPLICAS) mid-run;
# librdkafka and the worker retry, and no event is missing.
#
# The relay runs with max.in.flight.requests.per.connection=1 here: with
# more requests in flight, librdkafka 2.0.2 counts a failed request as
# written when a later one succeeds (a real broker enforces the
# idempotence sequence, so that is sound there), but the 2.0.2 mock
# cluster checks no sequence at all and really drops the failed request:
# a loss that only the mock can cause.
set -euo pipefail

. "${srcdir:-$(dirname "$0")/../..}/tests/harness/servers.sh"
. "$ER_SRCDIR/tests/harness/relay.sh"

fault_test_start 'kafka = { properties = [ "max.in.flight.requests.per.connection=1" ]; };'

kafka_cmd "err Produce 100 REQUEST_TIMED_OUT" >/dev/null
kafka_cmd "err Produce 100 NOT_ENOUGH_REPLICAS" >/dev/null
h_log "fault injected: 200 produce requests fail"
recovery=$(wait_progress 120)
fault_finish fault_kafka_retriable "$recovery"
