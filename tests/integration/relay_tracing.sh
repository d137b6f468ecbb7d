#!/bin/bash
# relay_tracing.sh: span export over OTLP/HTTP JSON. 2,000 events (every
# 20th published twice) from er-publish --trace: the even ones carry a
# sampled traceparent and a tracestate, those of 1 mod 4 an unsampled
# one, the rest none; sample_ratio 0. Exactly the 1,000 sampled events
# get a process span parented on their incoming span, with a send span
# below it that names the Kafka record's partition and offset, and the
# Kafka record's traceparent names that send span (tracestate kept); the
# 100 second copies are process spans with a "duplicate" event; the
# others get no span and keep their headers. The JSON follows the OTLP
# rules (tests/tools/otlp_check.py), the resource is as configured, the
# export header reaches the receiver and is shown nowhere, and each
# worker keeps its one connection. Then a graceful stop sends the spans
# still queued, and with tracing.propagation = passthrough the records
# keep their incoming traceparent.
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
"$ER_PUBLISH" -u "$AMQP_URL" -q events -n 2000 --dup-every 20 --trace --persistent >/dev/null

cat >"$tmp/relay.conf" <<CONF
tracing = { sample_ratio = "0"; batch_delay_ms = 200; batch_size = 300; };
CONF
token=tr4c3-t0k3n-$RANDOM
env=(OTEL_EXPORTER_OTLP_ENDPOINT="$OTLP_URL" OTEL_SERVICE_NAME=er-test
	OTEL_RESOURCE_ATTRIBUTES="deployment.environment=test,team=relay%20ops"
	OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer%20$token")
start_relay "${env[@]}"
wait_metric event_relay_acked_total == 2100 120
wait_metric event_relay_trace_spans_exported_total == 2100 60
assert_metric event_relay_trace_spans_dropped_total 0
assert_metric event_relay_trace_export_errors_total 0

topic_records "$tmp/records" events
[[ $(wc -l <"$tmp/records") == 2000 ]] || h_fail "Kafka holds $(wc -l <"$tmp/records") records, want 2000"
otlp_check --kafka "$tmp/records" --sampled 1000 --duplicates 100 --service er-test \
	--resource deployment.environment=test --resource "team=relay ops" ||
	h_fail "the spans are not as specified"

# The header reached the receiver; every request was JSON on one
# connection per worker (keep-alive).
awk '$5 != "application/json" || $6 != "Bearer_'"$token"'" { bad++ } END { exit bad > 0 }' \
	"$OTLP_DIR/requests.log" || h_fail "a request without the JSON type or the header: $(head -n 3 "$OTLP_DIR/requests.log")"
conns=$(awk '{ print $4 }' "$OTLP_DIR/requests.log" | sort -u | wc -l)
reqs=$(wc -l <"$OTLP_DIR/requests.log")
((conns <= 2 && reqs > conns)) || h_fail "$reqs requests on $conns connections, want at most one per worker"
h_log "$reqs export requests on $conns connections"

# The token is a secret: not in the log, not in -t.
(export "${env[@]}" && "$ER_RELAYD" -t -c "$tmp/relay.conf") >"$tmp/check.out" 2>&1 ||
	h_fail "-t failed: $(cat "$tmp/check.out")"
if grep -q "$token" "$tmp/check.out" "$tmp/relay.log"; then
	h_fail "the export token is shown"
fi

harness_stop_pid "$RELAY_PID" 40 || h_fail "event-relayd exited with status $?"

# A graceful stop sends what is queued: with a batch delay of 10
# minutes, the spans of 200 more events (100 sampled) leave only then.
# These are relayed with propagation passthrough: their Kafka records
# keep the traceparent they came with.
cat >"$tmp/relay.conf" <<CONF
tracing = { sample_ratio = "0"; propagation = "passthrough"; };
CONF
start_relay "${env[@]}" OTEL_BSP_SCHEDULE_DELAY=600000
"$ER_PUBLISH" -u "$AMQP_URL" -q events -s 2001 -n 200 --trace --persistent >/dev/null
wait_metric event_relay_acked_total == 200 60
assert_metric event_relay_trace_spans_exported_total 0
harness_stop_pid "$RELAY_PID" 40 || h_fail "event-relayd exited with status $?"
topic_records "$tmp/records" events
otlp_check --kafka "$tmp/records" --sampled 1100 --duplicates 100 --service er-test \
	--passthrough-from 2001 ||
	h_fail "the spans flushed at the stop are not as specified"
h_log "relay_tracing: 1100 sampled events traced, 2300 spans exported (200 at a graceful stop)"
