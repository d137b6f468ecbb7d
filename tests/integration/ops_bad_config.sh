#!/bin/bash
# ops_bad_config.sh: a bad configuration file and a bad environment
# value each give a clear error naming file, line and setting (or the
# variable) and exit 1, with -t and when starting for real; a good one
# passes -t with exit 0; a log file that cannot be opened fails the
# start with its path and errno. No server is needed: the relay must
# fail before it connects anywhere.
set -euo pipefail

. "${srcdir:-$(dirname "$0")/../..}/tests/harness/servers.sh"
. "$ER_SRCDIR/tests/harness/relay.sh"

harness_init
tmp=$HARNESS_TMP

# expect_fail WHAT PATTERN CMD...: CMD exits 1 and its stderr matches.
expect_fail() {
	local what=$1 pattern=$2 rc=0
	shift 2
	"$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
	((rc == 1)) || h_fail "$what: exit status $rc, want 1 (stderr: $(cat "$tmp/err"))"
	grep -qE "$pattern" "$tmp/err" || h_fail "$what: stderr lacks /$pattern/: $(cat "$tmp/err")"
}

printf '# a comment\nworkers = 2;\nrabbitmq = {\n  prefech = 10;\n};\nredis = { ttl = -5; };\n' \
	>"$tmp/bad.conf"
for mode in -t -f; do
	expect_fail "unknown setting ($mode)" "bad\.conf:4: rabbitmq\.prefech: unknown setting" \
		env -u WORKER_COUNT "$ER_RELAYD" "$mode" -c "$tmp/bad.conf"
	grep -qE "bad\.conf:6: redis\.ttl: " "$tmp/err" ||
		h_fail "the second error was not reported with the first: $(cat "$tmp/err")"
done

printf 'workers = 2;\n' >"$tmp/good.conf"
for mode in -t -f; do
	expect_fail "bad WORKER_COUNT ($mode)" "environment: WORKER_COUNT: " \
		env WORKER_COUNT=zero "$ER_RELAYD" "$mode" -c "$tmp/good.conf"
	expect_fail "bad METRICS_LISTEN ($mode)" "environment: METRICS_LISTEN: " \
		env METRICS_LISTEN=localhost "$ER_RELAYD" "$mode" -c "$tmp/good.conf"
done

expect_fail "syntax error" "bad2\.conf:2: syntax error" \
	sh -c "printf 'workers = 2;\nrabbitmq = { url = ; };\n' >'$tmp/bad2.conf' &&
		exec '$ER_RELAYD' -t -c '$tmp/bad2.conf'"
expect_fail "missing file" "nonexistent\.conf: cannot read" \
	"$ER_RELAYD" -t -c "$tmp/nonexistent.conf"
expect_fail "bad kafka property" "kafka\.properties" \
	sh -c "printf 'kafka = { properties = [\"linger.ms=banana\"]; };\n' >'$tmp/bad3.conf' &&
		exec '$ER_RELAYD' -t -c '$tmp/bad3.conf'"
expect_fail "bad option" "usage: event-relayd" "$ER_RELAYD" -x

# log.target: a relative path is a configuration error; a file that
# cannot be opened is a start-up error naming the path and the errno.
printf 'workers = 1;\nlog = {\n  target = "relay.log";\n};\n' >"$tmp/bad4.conf"
for mode in -t -f; do
	expect_fail "relative log.target ($mode)" \
		"bad4\.conf:3: log\.target: must be stderr, syslog or an absolute path" \
		"$ER_RELAYD" "$mode" -c "$tmp/bad4.conf"
done
printf 'log.target = "%s/no/such/dir/relay.log";\n' "$tmp" >"$tmp/bad5.conf"
"$ER_RELAYD" -t -c "$tmp/bad5.conf" >/dev/null || h_fail "-t rejected an absolute log.target"
expect_fail "log file that cannot be opened" \
	"log\.target: cannot open $tmp/no/such/dir/relay\.log: No such file or directory" \
	timeout 10 "$ER_RELAYD" -f -c "$tmp/bad5.conf"

# An empty file plus the seed service's variables is a valid configuration.
: >"$tmp/empty.conf"
env RABBITMQ_URL=amqp://u:p@127.0.0.1:5/%2f RABBITMQ_QUEUE=q KAFKA_BROKERS=127.0.0.1:9 \
	KAFKA_TOPIC=t REDIS_ADDR=127.0.0.1:6 LOG_LEVEL=debug WORKER_COUNT=3 \
	"$ER_RELAYD" -t -c "$tmp/empty.conf" >"$tmp/out" ||
	h_fail "empty file + env rejected: $(cat "$tmp/out")"
grep -q "queue q -> topic t, 3 workers" "$tmp/out" || h_fail "-t output: $(cat "$tmp/out")"
h_log "ops_bad_config: every bad input named and rejected with status 1"
