#!/bin/bash
# fault_trace_collector.sh: the span receiver slow, then gone, never
# holds the relay up. Every message sampled (sample_ratio 1), a queue of
# 64 messages' spans per worker. Phase 1: the receiver answers 503 (with
# Retry-After: 1) for 5 s while 3,000 events are relayed: every event
# reaches Kafka exactly once, the exports are retried (503s in the
# receiver's log, then 200s) and every span is either exported or
# counted as dropped. Phase 2: the receiver is gone (connection
# refused): 1,000 more events are relayed, export errors and drops are
# counted, and a graceful stop still exits 0 within its bound. The
# endpoint comes from JAEGER_URL, as the replaced service had it.
set -euo pipefail

. "${srcdir:-$(dirname "$0")/../..}/tests/harness/servers.sh"
. "$ER_SRCDIR/tests/harness/relay.sh"
. "$ER_SRCDIR/tests/harness/routes.sh"
. "$ER_SRCDIR/tests/harness/tracing.sh"

harness_require kcat curl python3
harness_init
start_rabbitmq
start_redis
start_kafka_mock events:8
start_otlp_receiver
tmp=$HARNESS_TMP
"$ER_PUBLISH" -u "$AMQP_URL" -q events -n 3000 --persistent --expected "$tmp/expected" >/dev/null

# The endpoint comes from the replaced service's JAEGER_URL (its port
# kept, as it is not Jaeger's 14268), said once at start.
cat >"$tmp/relay.conf" <<CONF
tracing = { sample_ratio = "1.0"; queue_size = 64;
	batch_size = 32; batch_delay_ms = 100; timeout_ms = 2000; };
CONF
otlp_fail 5 1
start_relay JAEGER_URL="$OTLP_URL"
[[ $(grep -c "JAEGER_URL is set: spans go over OTLP/HTTP to $OTLP_URL/v1/traces" "$tmp/relay.log") == 1 ]] ||
	h_fail "JAEGER_URL not said once at start: $(grep -i jaeger "$tmp/relay.log")"
wait_metric event_relay_acked_total == 3000 120
h_log "3000 acked while the receiver answers 503"
# Every span accounted for: exported, or dropped (the queue was full).
spans() {
	local e d
	e=$(metric_or_zero event_relay_trace_spans_exported_total)
	d=$(metric_or_zero event_relay_trace_spans_dropped_total)
	((e + d == $1 && e > 0))
}
wait_for --deadline 60 spans 6000 || h_fail "spans: $(metric event_relay_trace_spans_exported_total) exported + $(metric event_relay_trace_spans_dropped_total) dropped, want 6000 in all, some exported"
grep -q '^[0-9]* 503 ' "$OTLP_DIR/requests.log" || h_fail "no 503 answered"
awk '$2 == 503 { f = 1 } f && $2 == 200 { ok = 1 } END { exit !ok }' "$OTLP_DIR/requests.log" ||
	h_fail "no export succeeded after the 503s"
errs=$(metric event_relay_trace_export_errors_total)
((errs >= 1)) || h_fail "export errors: got $errs, want >= 1"
dropped=$(metric event_relay_trace_spans_dropped_total)
h_log "phase 1: $(metric event_relay_trace_spans_exported_total) spans exported, $dropped dropped, $errs failed requests"
otlp_check --min-spans 1 || h_fail "the exported spans are not valid OTLP JSON"
topic_records "$tmp/records" events
awk -F'\t' '{ print $5 }' "$tmp/records" | LC_ALL=C sort >"$tmp/got"
cut -f1 "$tmp/expected" | LC_ALL=C sort >"$tmp/want"
cmp -s "$tmp/want" "$tmp/got" || h_fail "Kafka: $(wc -l <"$tmp/got") records, want each of the 3000 events once"

# Phase 2: no receiver at all.
harness_stop_pid "$OTLP_PID" 10 || true
"$ER_PUBLISH" -u "$AMQP_URL" -q events -n 1000 -s 3001 --persistent >/dev/null
wait_metric event_relay_acked_total == 4000 120
wait_for --deadline 60 spans 8000 || h_fail "spans without a receiver: $(metric event_relay_trace_spans_exported_total) exported + $(metric event_relay_trace_spans_dropped_total) dropped, want 8000"
errs2=$(metric event_relay_trace_export_errors_total)
((errs2 > errs)) || h_fail "export errors without a receiver: got $errs2, want > $errs"
((dropped2 = $(metric event_relay_trace_spans_dropped_total), dropped2 >= dropped + 2000)) ||
	h_fail "dropped without a receiver: got $dropped2, want >= $((dropped + 2000))"
wait_queue_empty events 30 || h_fail "events queue not empty: $(queue_counts events)"
h_log "phase 2: 1000 more relayed, $errs2 failed requests, $dropped2 spans dropped"

harness_stop_pid "$RELAY_PID" 40 || h_fail "event-relayd exited with status $?"
h_log "fault_trace_collector: relaying unaffected by a failing or absent receiver"
