#!/bin/bash
# fault_kafka_fatal.sh: a fatal producer error (rd_kafka_test_fatal_error,
# raised in one worker by SIGUSR2 when EVENT_RELAY_FAULT_INJECTION is
# set) mid-run. The worker destroys and recreates its producer and
# produces every unacked record again: no exit, no restart by the
# master, no event missing.
set -euo pipefail

. "${srcdir:-$(dirname "$0")/../..}/tests/harness/servers.sh"
. "$ER_SRCDIR/tests/harness/relay.sh"

FAULT_RELAY_ENV=(EVENT_RELAY_FAULT_INJECTION=1)
fault_test_start
pids_before=$(worker_pids | sort | tr '\n' ' ')
victim=$(worker_pids | head -n 1)
[[ -n $victim ]] || h_fail "no worker process found"

kill -USR2 "$victim"
h_log "fatal producer error injected in worker pid $victim"
wait_metric event_relay_kafka_producer_restarts_total == 1 30
grep -q "recreating the Kafka producer (fatal producer error)" "$HARNESS_TMP/relay.log" ||
	h_fail "the worker did not log the producer's recreation"
recovery=$(wait_progress 120)
wait_queue_empty events 180 || h_fail "events queue not drained: $(queue_counts events)"
assert_metric event_relay_restarts_total 0
pids_after=$(worker_pids | sort | tr '\n' ' ')
[[ $pids_after == "$pids_before" ]] ||
	h_fail "worker processes changed from $pids_before to $pids_after: the worker exited"
fault_finish fault_kafka_fatal "$recovery"
