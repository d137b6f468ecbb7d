#!/bin/bash
# ops_dlq.sh: event-relayctl dlq list, replay and purge against dead
# letters the relay made itself.
#
# 1,000 events with 5 non-JSON messages, one body without event_id and
# 10 events too big for the producer's message.max.bytes (Kafka rejects
# them: MSG_SIZE_TOO_LARGE) are relayed: 16 dead letters. `dlq list`
# shows them with their reasons, and neither it nor `replay --dry-run`
# changes the queues or their order. With the Kafka fault lifted,
# `replay --reason kafka_rejected` brings exactly those 10 events to
# Kafka, once, and leaves the other 6 in place; `purge --reason
# invalid_json` is refused without --yes (exit 2) and deletes the 5 with
# it; a copy the broker nacks leaves its dead letter in place (exit 1);
# a replayed message dead-lettered again carries x-event-relay-replays=1.
# Last, a replay of 5,000 dead letters is SIGKILLed mid-way: every
# message is then in the source queue or the dead-letter queue (a few in
# both at most), and once both are relayed every event is in Kafka.
#
# ER_CTL names the event-relayctl binary (default: the build's).
set -euo pipefail

. "${srcdir:-$(dirname "$0")/../..}/tests/harness/servers.sh"
. "$ER_SRCDIR/tests/harness/relay.sh"

[[ -x $ER_CTL ]] || h_fail "event-relayctl not built: $ER_CTL"
harness_require kcat curl

harness_init
tmp=$HARNESS_TMP
start_rabbitmq
start_redis
start_kafka_mock events:16

# ctl ARGS...: event-relayctl with the test's RabbitMQ and queue. Where
# its stderr is kept, it is in a *.log file, which the harness checks for
# sanitizer reports.
: >"$tmp/ctl.conf"
ctl() {
	RABBITMQ_URL=$AMQP_URL RABBITMQ_QUEUE=events "$ER_CTL" -c "$tmp/ctl.conf" "$@"
}

# assert_counts QUEUE "READY UNACKED"
assert_counts() {
	local got
	got=$(queue_counts "$1")
	[[ $got == "$2" ]] || h_fail "$1: got '$got', want '$2'"
}

_counts_are() {
	[[ $(queue_counts "$1") == "$2" ]]
}

# relay_until_dlq N: run the relay until the source queue is empty and
# events.dlq holds N dead letters, then stop it gracefully.
relay_until_dlq() {
	start_relay WORKER_COUNT=2
	wait_queue_empty events 120 || h_fail "events not drained: $(queue_counts events)"
	wait_for --deadline 60 _counts_are events.dlq "$1 0" ||
		h_fail "events.dlq: got $(queue_counts events.dlq), want '$1 0'"
	harness_stop_pid "$RELAY_PID" 40 || h_fail "event-relayd exited with status $?"
}

kafka_fault='kafka = { properties = [ "message.max.bytes=2000" ]; };'

# ---- 16 dead letters: 5 invalid_json, 1 missing_event_id, 10 kafka_rejected
"$ER_PUBLISH" -u "$AMQP_URL" -q events -n 1000 --poison-every 200 --persistent \
	--expected "$tmp/exp_small" >/dev/null
"$ER_PUBLISH" -u "$AMQP_URL" -q events -n 10 --start 900000 --size 3000 --persistent \
	--expected "$tmp/exp_big" >/dev/null
printf '%s\n' '{"correlation_id":"c","payload":{"seq":-1}}' >"$tmp/no_id"
"$ER_PUBLISH" -u "$AMQP_URL" -q events --raw "$tmp/no_id" --persistent >/dev/null
printf '%s\n' 'rabbitmq = { prefetch = 50; };' "$kafka_fault" >"$tmp/relay.conf"
relay_until_dlq 16

# ---- list: every dead letter with its reason; nothing changes
ctl dlq list >"$tmp/list" || h_fail "dlq list failed: $(cat "$tmp/list")"
head -n 1 "$tmp/list" | grep -q '^EVENT ID  *REASON  *SIZE  *TIME  *WORKER  *ERROR$' ||
	h_fail "dlq list header: $(head -n 1 "$tmp/list")"
for i in $(seq 900000 900009); do
	grep -Eq "^ev-00$i +kafka_rejected +[0-9]+ +20[0-9-]{8}T[0-9:.]+Z +[^ ]+/worker-[01] +MSG_SIZE_TOO_LARGE" \
		"$tmp/list" || h_fail "ev-00$i not listed as kafka_rejected: $(sed -n 2p "$tmp/list")"
done
[[ $(grep -Ec '^- +invalid_json ' "$tmp/list") == 5 ]] ||
	h_fail "want 5 invalid_json rows: $(cat "$tmp/list")"
[[ $(grep -Ec '^- +missing_event_id ' "$tmp/list") == 1 ]] ||
	h_fail "want 1 missing_event_id row: $(cat "$tmp/list")"
[[ $(tail -n 1 "$tmp/list") == "16 of 16 dead letters in events.dlq listed" ]] ||
	h_fail "dlq list summary: $(tail -n 1 "$tmp/list")"
[[ $(ctl dlq list --limit 3 | wc -l) == 5 ]] || h_fail "dlq list --limit 3: not 3 rows"
ctl dlq list --json >"$tmp/list1.json"
[[ $(wc -l <"$tmp/list1.json") == 16 ]] || h_fail "dlq list --json: $(wc -l <"$tmp/list1.json") lines"
jq -e . "$tmp/list1.json" >/dev/null || h_fail "dlq list --json is not JSON"
[[ $(jq -r 'select(.reason == "kafka_rejected") | .event_id' "$tmp/list1.json" | sort |
	tr '\n' ' ') == "$(seq -f 'ev-00%g' 900000 900009 | tr '\n' ' ')" ]] ||
	h_fail "dlq list --json: kafka_rejected ids differ"
jq -s -e 'map(select(.reason == "invalid_json")) | length == 5 and all(.event_id == null)' \
	"$tmp/list1.json" >/dev/null || h_fail "dlq list --json: invalid_json rows"
assert_counts events.dlq "16 0"
h_log "dlq list: 16 dead letters with reasons, queue unchanged"

# ---- replay --dry-run changes nothing, order included
ctl dlq replay --dry-run >"$tmp/dry" || h_fail "dlq replay --dry-run failed"
[[ $(grep -c '^would replay .* ([a-z_]*)$' "$tmp/dry") == 16 ]] || h_fail "dry run: $(cat "$tmp/dry")"
[[ $(tail -n 1 "$tmp/dry") == "would replay 16, skipped 0 (dry run: nothing changed)" ]] ||
	h_fail "dry run summary: $(tail -n 1 "$tmp/dry")"
ctl dlq replay --dry-run --reason kafka_rejected | tail -n 1 | grep -qx \
	'would replay 10, skipped 6 (dry run: nothing changed)' || h_fail "dry run --reason"
assert_counts events "0 0"
assert_counts events.dlq "16 0"
ctl dlq list --json >"$tmp/list2.json"
cmp -s "$tmp/list1.json" "$tmp/list2.json" ||
	h_fail "the dead letters or their order changed: $(diff "$tmp/list1.json" "$tmp/list2.json" | head -n 4)"
h_log "dlq replay --dry-run: queues, contents and order unchanged"

# ---- the fault lifted: replay the Kafka rejects only, each once in Kafka
printf '%s\n' 'rabbitmq = { prefetch = 50; };' >"$tmp/relay.conf"
start_relay WORKER_COUNT=2
ctl dlq replay --reason kafka_rejected >"$tmp/replay" || h_fail "dlq replay failed: $(cat "$tmp/replay")"
[[ $(tail -n 1 "$tmp/replay") == "replayed 10, skipped 6" ]] ||
	h_fail "replay summary: $(tail -n 1 "$tmp/replay")"
[[ $(grep -c '^replayed ev-009000[0-9][0-9] (kafka_rejected)$' "$tmp/replay") == 10 ]] ||
	h_fail "replay lines: $(head -n 3 "$tmp/replay")"
wait_metric event_relay_published_total == 10 60
wait_queue_empty events 60 || h_fail "events not drained: $(queue_counts events)"
assert_counts events.dlq "6 0"
harness_stop_pid "$RELAY_PID" 40 || h_fail "event-relayd exited with status $?"
"$READ_TOPIC" "$KAFKA_BROKERS" events "$tmp/got"
LC_ALL=C sort "$tmp/exp_small" "$tmp/exp_big" >"$tmp/expected"
check_exactly_once "$tmp/expected" "$tmp/got"
h_log "dlq replay --reason kafka_rejected: 10 events once in Kafka, 6 dead letters left"

# ---- purge: refused without --yes, then only invalid_json
if ctl dlq purge --reason invalid_json >"$tmp/purge" 2>"$tmp/ctl-purge.log"; then
	h_fail "dlq purge without --yes succeeded"
else
	rc=$?
fi
((rc == 2)) || h_fail "dlq purge without --yes: exit $rc, want 2"
grep -q -- '--yes' "$tmp/ctl-purge.log" || h_fail "no word of --yes: $(cat "$tmp/ctl-purge.log")"
assert_counts events.dlq "6 0"
ctl dlq purge --reason invalid_json --yes >"$tmp/purge" || h_fail "dlq purge failed"
[[ $(tail -n 1 "$tmp/purge") == "purged 5, skipped 1" ]] ||
	h_fail "purge summary: $(tail -n 1 "$tmp/purge")"
assert_counts events.dlq "1 0"
ctl dlq list --json | jq -e '.reason == "missing_event_id"' >/dev/null ||
	h_fail "purge took the wrong dead letter"
h_log "dlq purge: refused without --yes (exit 2), then 5 invalid_json deleted"

# ---- a copy the broker refuses (basic.nack) leaves its dead letter in place
_policy_is() {
	rmq_ctl list_queues -q --no-table-headers name policy |
		awk -F'\t' -v p="$1" '$1 == "events" && $2 == p { f = 1 } END { exit !f }'
}
rmq_ctl set_policy full '^events$' '{"max-length":0,"overflow":"reject-publish"}' \
	--apply-to queues >/dev/null
wait_for --deadline 30 _policy_is full || h_fail "policy not applied"
if ctl dlq replay >"$tmp/nack" 2>"$tmp/ctl-nack.log"; then
	h_fail "dlq replay into a queue that refuses everything succeeded"
fi
[[ $(tail -n 1 "$tmp/nack") == "replayed 0, skipped 0, failed 1" ]] ||
	h_fail "nacked replay summary: $(cat "$tmp/nack")"
grep -q 'basic.nack' "$tmp/ctl-nack.log" || h_fail "nack not reported: $(cat "$tmp/ctl-nack.log")"
assert_counts events "0 0"
assert_counts events.dlq "1 0"
rmq_ctl clear_policy full >/dev/null
wait_for --deadline 30 _policy_is '' || h_fail "policy not cleared"
h_log "a copy nacked by the broker: replay exits 1, the dead letter stays"

# ---- a replayed message dead-lettered again counts its replays
ctl dlq replay >"$tmp/replay2" || h_fail "dlq replay of missing_event_id failed"
[[ $(tail -n 1 "$tmp/replay2") == "replayed 1, skipped 0" ]] || h_fail "$(cat "$tmp/replay2")"
relay_until_dlq 1
"$ER_GET" -u "$AMQP_URL" -q events.dlq >"$tmp/dlq"
grep -q 'x-event-relay-replays=1,x-event-relay-reason=missing_event_id' "$tmp/dlq" ||
	h_fail "want x-event-relay-replays=1 before the new reason: $(cat "$tmp/dlq")"
[[ $(grep -o 'x-event-relay-reason=' "$tmp/dlq" | wc -l) == 1 ]] ||
	h_fail "old x-event-relay-* headers were kept: $(cat "$tmp/dlq")"
h_log "a replayed dead letter comes back with x-event-relay-replays=1"

# ---- SIGKILL mid-replay loses nothing
n=5000
"$ER_PUBLISH" -u "$AMQP_URL" -q events -n $n --start 800000 --size 3000 --persistent \
	--expected "$tmp/exp_many" >/dev/null
printf '%s\n' 'rabbitmq = { prefetch = 50; };' "$kafka_fault" >"$tmp/relay.conf"
relay_until_dlq $n
# The replay writes a line per message into a pipe nobody reads: once the
# pipe is full (64 KiB, far less than 5,000 lines) it blocks, so it cannot
# finish before the kill, whatever the machine's speed.
mkfifo "$tmp/replay.fifo"
exec {hold}<>"$tmp/replay.fifo"
# shellcheck disable=SC2030,SC2031
(
	exec {hold}>&- # the tool must not hold a reading end itself
	export RABBITMQ_URL=$AMQP_URL RABBITMQ_QUEUE=events
	exec "$ER_CTL" -c "$tmp/ctl.conf" dlq replay --reason kafka_rejected
) >"$tmp/replay.fifo" 2>"$tmp/ctl-replay-killed.log" &
ctl_pid=$!
harness_track_pid "$ctl_pid"
_dlq_dropping() {
	local ready unacked
	read -r ready unacked < <(queue_counts events.dlq)
	((ready + unacked < n))
}
wait_for --deadline 60 _dlq_dropping || h_fail "the replay did not start: $(queue_counts events.dlq)"
kill -KILL "$ctl_pid"
wait "$ctl_pid" 2>/dev/null || true
exec {hold}>&-
_nothing_unacked() {
	[[ $(queue_counts events.dlq) == *" 0" && $(queue_counts events) == *" 0" ]]
}
wait_for --deadline 30 _nothing_unacked || h_fail "unacked left after the kill"
read -r src _ < <(queue_counts events)
read -r dlq _ < <(queue_counts events.dlq)
((src > 0 && dlq > 0)) || h_fail "not killed mid-way: events $src, events.dlq $dlq"
((src + dlq >= n && src + dlq <= n + 64)) ||
	h_fail "after the kill: events $src + events.dlq $dlq, want $n to $((n + 64))"
h_log "replay SIGKILLed: events $src + events.dlq $dlq = $((src + dlq)) of $n" \
	"($((src + dlq - n)) in both)"

# The relay takes the source queue; a second replay brings the rest.
printf '%s\n' 'rabbitmq = { prefetch = 50; };' >"$tmp/relay.conf"
start_relay WORKER_COUNT=2
ctl dlq replay --reason kafka_rejected >"$tmp/replay4" || h_fail "second replay failed"
wait_queue_empty events 120 || h_fail "events not drained: $(queue_counts events)"
assert_counts events.dlq "0 0"
wait_metric event_relay_in_flight == 0 30
"$READ_TOPIC" "$KAFKA_BROKERS" events "$tmp/got"
LC_ALL=C sort "$tmp/exp_small" "$tmp/exp_big" "$tmp/exp_many" >"$tmp/expected"
dups=$(check_none_missing "$tmp/expected" "$tmp/got")
h_log "ops_dlq: all $((n + 1010)) events in Kafka after the interrupted replay," \
	"$dups duplicate records, $(metric event_relay_duplicates_total) caught by Redis"
harness_stop_pid "$RELAY_PID" 40 || h_fail "event-relayd exited with status $?"
