#!/bin/bash
# routes_bad_file.sh: broken route files are named precisely and change
# nothing.
#
# `event-relayd -t` on a directory with an unknown key, a bad source, a
# route name used in two files, two routes on one queue and a YAML
# syntax error reports every one as FILE:LINE:COLUMN: message, all in
# one run, and exits 1; starting for real fails the same way. A valid
# directory passes -t and prints its route count.
#
# A running relay (route r1) given a broken route file on reload (SIGHUP
# and `event-relayctl reload --wait`) keeps running generation 1 with
# its old routes: the error is logged and printed with file:line:column,
# reload --wait exits 1, /status reports the failed reload, and r1 goes
# on relaying. With the broken file gone and a valid one added (route
# r2), reload --wait replaces the workers one by one, names the added
# route, /status lists both routes, and r2 consumes: its events reach
# Kafka exactly once, as do r1's across the reloads.
set -euo pipefail

. "${srcdir:-$(dirname "$0")/../..}/tests/harness/servers.sh"
. "$ER_SRCDIR/tests/harness/relay.sh"
. "$ER_SRCDIR/tests/harness/routes.sh"

harness_require curl jq
harness_init
tmp=$HARNESS_TMP
: >"$tmp/relay.conf"

# ---- -t on a broken directory: every error, with file:line:column
bad=$tmp/bad.d
mkdir -p "$bad"
cat >"$bad/10-a.yaml" <<'EOF2'
routes:
  - name: dup
    queue: q1
    topic: t1
    id: json:event_id
    value: body
    topik: t2
  - name: badsrc
    queue: q2
    topic: t2
    id: jsn:event_id
    value: body
EOF2
cat >"$bad/20-b.yaml" <<'EOF2'
routes:
  - name: dup
    queue: q3
    topic: t3
    id: json:event_id
    value: body
  - name: sameq
    queue: q1
    topic: t4
    id: json:event_id
    value: body
EOF2
cat >"$bad/30-c.yaml" <<'EOF2'
routes:
  - name: broken
    queue: [q5
    topic: t5
EOF2

# indent: stdin to stderr, indented (for the test's log).
indent() {
	sed 's/^/    /' >&2
}

# check_t DIR MODE: run event-relayd MODE with routes_dir DIR; sets rc
# and out. Its ports and socket are the test's own, should it start.
check_t() {
	rc=0
	out=$(env RABBITMQ_URL=amqp://u:p@127.0.0.1:5/%2f ROUTES_DIR="$1" WORKER_COUNT=2 \
		METRICS_LISTEN="127.0.0.1:$(free_port)" CONTROL_SOCKET="$tmp/control-t" \
		timeout 20 "$ER_RELAYD" "$2" -c "$tmp/relay.conf" 2>&1) || rc=$?
}
# want_err WHAT FILE LINE COLUMN_RE TEXT_RE: one line FILE:LINE:COLUMN: ...TEXT... in $out.
want_err() {
	grep -qE "^(.*: )?$2:$3:$4: .*$5" <<<"$out" ||
		h_fail "$1: no '$2:$3:$4: ...$5' error in: $out"
}
for mode in -t -f; do
	check_t "$bad" "$mode"
	((rc == 1)) || h_fail "event-relayd $mode on broken routes exited $rc, want 1: $out"
	want_err "unknown key ($mode)" "$bad/10-a.yaml" 7 5 'topik'
	want_err "bad source ($mode)" "$bad/10-a.yaml" 11 9 'jsn:event_id'
	want_err "duplicate route name ($mode)" "$bad/20-b.yaml" 2 11 'dup'
	want_err "two routes on one queue ($mode)" "$bad/20-b.yaml" 8 12 'q1'
	want_err "YAML syntax error ($mode)" "$bad/30-c.yaml" 4 10 "did not find expected ','"
	grep -q 'configuration ok' <<<"$out" && h_fail "$mode says ok: $out"
done
h_log "-t names all five errors:"
indent <<<"$out"

good=$tmp/good.d
mkdir -p "$good"
printf 'routes:\n  - name: only\n    queue: q1\n    topic: t1\n    id: json:event_id\n    value: body\n' \
	>"$good/10-only.yaml"
check_t "$good" -t
((rc == 0)) || h_fail "-t rejected a valid route file ($rc): $out"
grep -qF "configuration ok (1 routes from $good, 2 workers)" <<<"$out" ||
	grep -qF "configuration ok (1 route from $good, 2 workers)" <<<"$out" ||
	h_fail "-t output for a valid directory: $out"

# ---- reload: a broken file changes nothing
start_rabbitmq
start_redis
start_kafka_mock t1:4 t2:4
route_file 10-r1.yaml <<'EOF2'
routes:
  - name: r1
    queue: q1
    topic: t1
    id: json:event_id
    key: id
    value: json:payload
    headers:
      correlation_id: json:correlation_id
EOF2
"$ER_PUBLISH" -u "$AMQP_URL" -q q1 -n 1000 --dup-every 10 --persistent \
	--expected "$tmp/expected-r1a" >/dev/null
start_relay WORKER_COUNT=2
wait_metric event_relay_acked_total == 1100 60
pids1=$(worker_pids | sort | tr '\n' ' ')

route_file 30-bad.yaml <<'EOF2'
routes:
  - name: r3
    queue: q3
    topic: t3
    id: json:event_id
    value: body
    colour: blue
EOF2
kill -HUP "$RELAY_PID"
wait_for --deadline 10 grep -qE "reload: .*$tmp/routes.d/30-bad.yaml:7:5: .*colour" "$tmp/relay.log" ||
	h_fail "SIGHUP: the error is not logged with file:line:column: $(grep reload "$tmp/relay.log" | tail -n 5)"
rc=0
out=$(relayctl reload --wait 2>&1) || rc=$?
((rc == 1)) || h_fail "reload --wait with a broken route file exited $rc, want 1: $out"
grep -qE "$tmp/routes.d/30-bad.yaml:7:5: .*colour" <<<"$out" ||
	h_fail "reload --wait does not print the error: $out"
h_log "broken route file rejected on reload:"
indent <<<"$out"
status_json >"$tmp/status.json"
jq -e '.generation == 1 and .last_reload.ok == false and
	(.last_reload.errors | map(test("30-bad.yaml:7:5:")) | any) and
	([.routes[].name] == ["r1"])' "$tmp/status.json" >/dev/null ||
	h_fail "/status after the rejected reload: $(jq -c '{generation, last_reload, routes: [.routes[].name]}' "$tmp/status.json")"
[[ $(worker_pids | sort | tr '\n' ' ') == "$pids1" ]] || h_fail "the workers changed on a rejected reload"
"$ER_PUBLISH" -u "$AMQP_URL" -q q1 -n 500 -s 5001 --persistent --expected "$tmp/expected-r1b" >/dev/null
wait_metric event_relay_acked_total == 1600 60

# ---- reload: the broken file gone, a valid one added: r2 runs
rm "$tmp/routes.d/30-bad.yaml"
route_file 20-r2.yaml <<'EOF2'
routes:
  - name: r2
    queue:
      name: q2
      declare: true
    topic: t2
    id: json:event_id
    key: id
    value: json:payload
    headers:
      correlation_id: json:correlation_id
EOF2
out=$(relayctl reload --wait) || h_fail "reload --wait with r2 added failed: $out"
grep -q '^reloaded: generation 2, 2 workers replaced' <<<"$out" || h_fail "unexpected reload output: $out"
grep -q '^  route r2 (added)$' <<<"$out" || h_fail "the added route is not named: $out"
h_log "reload with r2 added:"
indent <<<"$out"
for pid in $pids1; do
	kill -0 "$pid" 2>/dev/null && h_fail "worker $pid of generation 1 still alive after reload --wait"
done
status_json >"$tmp/status.json"
jq -e --arg f "$tmp/routes.d/20-r2.yaml" '.generation == 2 and .last_reload.ok == true and
	([.routes[].name] | sort == ["r1", "r2"]) and
	(.routes[] | select(.name == "r2") | .file == $f and .line == 2 and .queue == "q2" and
	 .topic == "t2" and .dead_letter_queue == "q2.dlq")' "$tmp/status.json" >/dev/null ||
	h_fail "/status after the reload: $(jq -c '{generation, last_reload, routes}' "$tmp/status.json")"
"$ER_PUBLISH" -u "$AMQP_URL" -q q2 -n 1000 --dup-every 10 --persistent \
	--expected "$tmp/expected-r2" >/dev/null
"$ER_PUBLISH" -u "$AMQP_URL" -q q1 -n 500 -s 9001 --persistent --expected "$tmp/expected-r1c" >/dev/null
wait_metric event_relay_acked_total == 3200 60
wait_queue_empty q2 30 || h_fail "q2 not empty: $(queue_counts q2)"
[[ $(route_metric consumed_total r2) == 1100 && $(route_metric published_total r2) == 1000 ]] ||
	h_fail "route r2: consumed $(route_metric consumed_total r2), published $(route_metric published_total r2); want 1100 1000"
topic_records "$tmp/rec" t2
record_view "$tmp/rec" correlation_id >"$tmp/got"
check_exactly_once "$tmp/expected-r2" "$tmp/got"
topic_records "$tmp/rec" t1
record_view "$tmp/rec" correlation_id >"$tmp/got"
LC_ALL=C sort -m "$tmp/expected-r1a" "$tmp/expected-r1b" "$tmp/expected-r1c" >"$tmp/expected-r1"
check_exactly_once "$tmp/expected-r1" "$tmp/got"
harness_stop_pid "$RELAY_PID" 40 || h_fail "event-relayd exited with status $?"
h_log "routes_bad_file: 5 errors named by -t; a broken reload changed nothing; r2 added live"
