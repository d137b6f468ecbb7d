#!/bin/bash
# sec_hostile_input.sh: hostile messages among valid events are each
# dead-lettered with their reason; the valid ones reach Kafka once; the
# workers neither crash nor grow.
#
# tests/tools/er-hostile publishes 10,000 messages to `events` while two
# workers relay them: 7,500 valid events (UTF-8 text in their payloads)
# and 2,500 hostile ones, 500 of each kind:
#   JSON nested 200 deep                          json_too_deep
#   an event id of 64 KiB                         event_id_too_long
#   a header table of 10,000 entries, or tables
#   nested 100 deep (RabbitMQ's frame_max, 128 KiB,
#   bounds what rabbitmq-c decodes before us)     bad_headers
#   strings that are not UTF-8                    invalid_utf8
#   truncated JSON                                invalid_json
# Asserts: Kafka holds every valid event exactly once, byte for byte;
# events.dlq holds every hostile message exactly once with the reason of
# its kind, and x-event-relay-error saying which bound for all but the
# truncated ones; the dead-letter counters agree; no worker restarted
# (same pids, restarts_total 0); each worker's peak RSS (VmHWM) stays
# under RSS_BOUND_MB (see below).
set -euo pipefail

. "${srcdir:-$(dirname "$0")/../..}/tests/harness/servers.sh"
. "$ER_SRCDIR/tests/harness/relay.sh"

harness_require kcat curl
ER_HOSTILE=$ER_BUILDDIR/tests/tools/er-hostile
[[ -x $ER_HOSTILE && -x $ER_GET ]] || h_fail "test tools not built: $ER_HOSTILE $ER_GET"
harness_init
tmp=$HARNESS_TMP
start_rabbitmq
start_redis
start_kafka_mock events:8

# A worker's peak RSS bound. A worker runs in about 12 MiB (measured:
# librdkafka, rabbitmq-c, hiredis, the slots) and holds at most
# rabbitmq.prefetch (200 here) deliveries: a hostile one is at most its
# 64 KiB body plus what rabbitmq-c decodes of its header frame (a
# 10,000-entry table is about 0.5 MB of entries, freed once the delivery
# is read; the slot keeps no copy of a table past its bounds). 12 MiB +
# 200 x 70 KiB = 26 MiB; 40 MiB leaves room for allocator slack. A copy
# of each table in the slots would need 200 x 0.5 MB more, a leaked body
# 500 x 64 KiB, a leaked table 500 x 0.5 MB: each goes over.
# AddressSanitizer's shadow memory and quarantine (256 MiB by default)
# need a bound of their own.
# (grep reads all of nm's output: with pipefail, grep -q quitting early
# would fail the pipeline by nm's SIGPIPE.)
if [[ $(nm -D "$ER_BUILDDIR/src/event-relayd" 2>/dev/null | grep -c __asan_init) != 0 ]]; then
	RSS_BOUND_MB=${RSS_BOUND_MB:-512}
else
	RSS_BOUND_MB=${RSS_BOUND_MB:-40}
fi

printf '%s\n' 'rabbitmq = { prefetch = 200; };' >"$tmp/relay.conf"
start_relay WORKER_COUNT=2
pids_before=$(worker_pids | sort | tr '\n' ' ')

t0=$SECONDS
summary=$("$ER_HOSTILE" -u "$AMQP_URL" -q events -n 10000 -e "$tmp/expected" -d "$tmp/dead")
h_log "$summary in $((SECONDS - t0)) s"
[[ $(wc -l <"$tmp/expected") == 7500 && $(wc -l <"$tmp/dead") == 2500 ]] ||
	h_fail "er-hostile wrote $(wc -l <"$tmp/expected") valid and $(wc -l <"$tmp/dead") hostile lines"

wait_queue_empty events 120 || h_fail "events not drained: $(queue_counts events)"
wait_metric event_relay_in_flight == 0 60
wait_metric event_relay_consumed_total == 10000 30
h_log "drained in $((SECONDS - t0)) s"

# ---- no restart, bounded memory
pids_after=$(worker_pids | sort | tr '\n' ' ')
[[ $pids_after == "$pids_before" ]] || h_fail "workers changed: $pids_before -> $pids_after"
assert_metric event_relay_restarts_total 0
for pid in $pids_after; do
	hwm=$(awk '/^VmHWM:/ { print int($2 / 1024) }' "/proc/$pid/status")
	h_log "worker $pid: peak RSS $hwm MiB (bound $RSS_BOUND_MB MiB)"
	((hwm < RSS_BOUND_MB)) || h_fail "worker $pid peaked at $hwm MiB, over $RSS_BOUND_MB MiB"
done

# ---- every valid event once in Kafka
"$READ_TOPIC" "$KAFKA_BROKERS" events "$tmp/got"
check_exactly_once "$tmp/expected" "$tmp/got"
h_log "Kafka: the 7500 valid events, each once"

# ---- every hostile message once in events.dlq, with its reason
read -r ready unacked < <(queue_counts events.dlq)
((ready == 2500 && unacked == 0)) || h_fail "events.dlq: $ready ready, $unacked unacked; want 2500, 0"
"$ER_GET" -u "$AMQP_URL" -q events.dlq >"$tmp/dlq"
# "<tag>\t<reason>" from each dead letter, and its x-event-relay-error.
LC_ALL=C awk -F'\t' '{
	tag = ""; reason = ""; err = ""
	if (match($1, /"tag":"h[a-z]-[0-9]+"/)) tag = substr($1, RSTART + 7, RLENGTH - 8)
	n = split($2, h, ",")
	for (i = 1; i <= n; i++) {
		if (h[i] ~ /^x-event-relay-reason=/) reason = substr(h[i], 22)
		if (h[i] ~ /^x-event-relay-error=/) err = substr(h[i], 21)
	}
	print tag "\t" reason >> "'"$tmp/dead-got"'"
	if (reason != "invalid_json" && err == "") print "no x-event-relay-error: " tag " " reason
	if (reason == "invalid_json" && err != "") print "an error for invalid_json: " tag " " err
}' "$tmp/dlq" >"$tmp/dlq-problems"
[[ ! -s $tmp/dlq-problems ]] || h_fail "dead letters: $(head -n 5 "$tmp/dlq-problems")"
LC_ALL=C sort -o "$tmp/dead-got" "$tmp/dead-got"
if ! cmp -s "$tmp/dead" "$tmp/dead-got"; then
	{ diff "$tmp/dead" "$tmp/dead-got" || true; } | head -n 10 >&2
	h_fail "events.dlq does not hold each hostile message once with its reason"
fi
for r in json_too_deep event_id_too_long bad_headers invalid_utf8 invalid_json; do
	want=$(awk -F'\t' -v r="$r" '$2 == r' "$tmp/dead" | wc -l)
	assert_metric "event_relay_dead_lettered_total{reason=\"$r\"}" "$want"
	h_log "$r: $want dead letters; x-event-relay-error:" "$(LC_ALL=C awk -F'\t' -v r="$r" '
		$2 ~ "x-event-relay-reason=" r "(,|$)" { n = split($2, h, ","); for (i = 1; i <= n; i++)
		if (h[i] ~ /^x-event-relay-error=/) print substr(h[i], 21) }' "$tmp/dlq" |
		sort | uniq -c | sort -rn | head -n 2 | awk '{ $1 = $1 " x"; print }' | paste -sd ';')"
done
assert_metric event_relay_published_total 7500
h_log "PASS"
