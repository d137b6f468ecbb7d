#!/bin/bash
# ops_log_reopen.sh: log.target = a file, log.format = json. Mid-run the
# file is renamed (as logrotate does) and the master gets SIGUSR1, then
# renamed again and `event-relayctl log-reopen` runs: each time the
# master and both workers go on writing to a new file at the same path,
# every line of both files is one JSON object with time, level,
# process, pid and msg, nothing goes to stderr, and every event relayed
# before and after reaches Kafka exactly once.
set -euo pipefail

. "${srcdir:-$(dirname "$0")/../..}/tests/harness/servers.sh"
. "$ER_SRCDIR/tests/harness/relay.sh"

harness_require jq
relay_test_start
tmp=$HARNESS_TMP
log=$tmp/relay-json.log
printf 'rabbitmq = { prefetch = 50; };\nlog = { target = "%s"; format = "json"; };\n' "$log" \
	>"$tmp/relay.conf"

# json_check FILE: prints each line of FILE that is not one JSON object
# with exactly the members time (UTC, ms), level, process, pid and msg.
json_check() {
	jq -R -r '. as $line | try (fromjson |
		if type == "object" and (keys == ["level", "msg", "pid", "process", "time"]) and
		   (.time | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$")) and
		   (.level | IN("error", "warn", "info", "debug")) and
		   (.process | type == "string") and (.pid | type == "number") and
		   (.msg | type == "string")
		then empty else "bad members: \($line)" end)
		catch "not JSON: \($line)"' "$1"
}

# has_line FILE PROCESS MSG: FILE has a line of PROCESS saying MSG. (One
# result from all lines: jq 1.6's -e exits 4 after `fromjson?` otherwise.)
has_line() {
	jq -n -R -e --arg p "$2" --arg m "$3" \
		'[inputs | fromjson? | select(.process == $p and .msg == $m)] | length > 0' "$1" \
		>/dev/null
}

# reopened_by_all: the new file has each process's "reopened" line.
reopened_by_all() {
	local p
	for p in master "worker 0" "worker 1"; do
		has_line "$log" "$p" "log file $log reopened" || return 1
	done
}

start_relay WORKER_COUNT=2
wait_metric event_relay_published_total '>=' 3000 60

mv "$log" "$log.1"
kill -USR1 "$RELAY_PID"
wait_for --deadline 10 reopened_by_all ||
	h_fail "not every process reopened $log: $(cat "$log" 2>/dev/null)"
h_log "master and both workers reopened the log file"
(((8#$(stat -c %a "$log") & ~8#640) == 0)) || h_fail "$log: mode $(stat -c %a "$log"), want 0640"

# Again, through the control socket.
mv "$log" "$log.2"
out=$(relayctl log-reopen) || h_fail "event-relayctl log-reopen failed: $out"
wait_for --deadline 10 reopened_by_all ||
	h_fail "log-reopen: not every process reopened $log: $(cat "$log" 2>/dev/null)"
h_log "event-relayctl log-reopen: master and both workers reopened the log file"

# More events after the reopen, so that relaying goes on into the new file.
"$ER_PUBLISH" -u "$AMQP_URL" -q events -s 20001 -n 2000 --persistent \
	--expected "$tmp/expected2"
LC_ALL=C sort -m "$tmp/expected" "$tmp/expected2" >"$tmp/expected.all"
wait_metric event_relay_acked_total == 24020 120
wait_queue_empty events 30 || h_fail "events queue not empty: $(queue_counts events)"
# shellcheck disable=SC2031 # set by start_kafka_mock in this shell
"$READ_TOPIC" "$KAFKA_BROKERS" events "$tmp/got"
check_exactly_once "$tmp/expected.all" "$tmp/got"
h_log "Kafka holds exactly the 22000 expected records"

harness_stop_pid "$RELAY_PID" 40 || h_fail "event-relayd exited with status $?"

# The stop is logged by every process in the new file only.
for p in master "worker 0" "worker 1"; do
	has_line "$log" "$p" stopped || h_fail "$log: no \"stopped\" from $p"
	has_line "$log.1" "$p" stopped && h_fail "$log.1: \"stopped\" from $p after the reopen"
	has_line "$log.2" "$p" stopped && h_fail "$log.2: \"stopped\" from $p after the reopen"
done
has_line "$log.1" "worker 1" "started: queue events -> topic events" ||
	h_fail "$log.1: no start line of worker 1"
jq -n -R -e --argjson pid "$RELAY_PID" \
	'[inputs | fromjson? | select(.process == "master" and .pid != $pid)] | length > 0' \
	"$log" "$log.1" >/dev/null && h_fail "a master line with a pid other than $RELAY_PID"

for f in "$log.1" "$log.2" "$log"; do
	[[ -s $f && $(tail -c 1 "$f" | od -An -c | tr -d ' ') == '\n' ]] ||
		h_fail "$f: empty or not ending in a newline"
	bad=$(json_check "$f")
	[[ -z $bad ]] || h_fail "$f: $(head -n 3 <<<"$bad")"
done
[[ -s $tmp/relay.log ]] && h_fail "stderr is not empty: $(head -n 3 "$tmp/relay.log")"
h_log "ops_log_reopen: $(wc -l <"$log.1") + $(wc -l <"$log.2") + $(wc -l <"$log") JSON lines, every event once"
