#!/bin/bash
# fault_redis_bypass.sh: with redis.on_failure = bypass, Redis is killed
# mid-run. The workers keep relaying without de-duplication (counted in
# dedup_bypassed_total, logged once per transition) instead of blocking,
# and resume de-duplication when Redis is back (empty). No event is
# missing; duplicates are allowed and reported.
set -euo pipefail

. "${srcdir:-$(dirname "$0")/../..}/tests/harness/servers.sh"
. "$ER_SRCDIR/tests/harness/relay.sh"

fault_test_start 'redis = { on_failure = "bypass"; };'
stop_redis
h_log "Redis stopped"
wait_metric event_relay_redis_connected == 0 30
acked=$(metric event_relay_acked_total)
wait_metric event_relay_dedup_bypassed_total '>' 0 30
wait_metric event_relay_acked_total '>' "$((acked + 1000))" 60
h_log "relayed $(($(metric event_relay_acked_total) - acked)) deliveries with Redis down"
start_redis
h_log "Redis started again, empty"
recovery=$(wait_progress 120)
wait_metric event_relay_redis_connected == 2 60
down=$(grep -c "relaying without de-duplication" "$HARNESS_TMP/relay.log" || true)
((down >= 1 && down <= 2)) ||
	h_fail "want one 'relaying without de-duplication' line per worker, got $down"
grep -q "de-duplication resumed" "$HARNESS_TMP/relay.log" ||
	h_fail "no 'de-duplication resumed' line after Redis came back"
h_log "$(metric event_relay_dedup_bypassed_total) deliveries bypassed de-duplication"
fault_finish fault_redis_bypass "$recovery"
