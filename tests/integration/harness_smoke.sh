#!/bin/bash
# harness_smoke.sh: the integration harness and its tools work.
#
# Starts a private RabbitMQ, Redis and Kafka mock; publishes 1,000 events
# (with duplicates and poison messages) with er-publish and checks what
# the queue holds, also across a broker restart; writes records to the
# mock with kcat and reads them back with read_topic.sh; drives the
# mock's fault commands; then tears everything down and checks that no
# server is left and the temporary directory is gone.
set -euo pipefail

. "${srcdir:-$(dirname "$0")/../..}/tests/harness/servers.sh"

harness_require kcat redis-server redis-cli
[[ -x $ER_PUBLISH && -x $KAFKA_MOCK ]] ||
	h_fail "test tools not built: $ER_PUBLISH $KAFKA_MOCK"

# assert_eq WHAT GOT WANT
assert_eq() {
	[[ $2 == "$3" ]] || h_fail "$1: got '$2', want '$3'"
}

harness_init
tmp=$HARNESS_TMP

start_rabbitmq
start_redis
start_kafka_mock smoke:4

# ---- RabbitMQ and er-publish
summary=$("$ER_PUBLISH" -u "$AMQP_URL" -q smoke -n 1000 --dup-every 10 \
	--poison-every 100 --persistent --expected "$tmp/expected")
assert_eq "er-publish summary" "$summary" \
	"published 1110 messages (1000 events, 100 duplicates, 10 poison)"
assert_eq "expected lines" "$(wc -l <"$tmp/expected")" 1000
pad=$(printf 'x%.0s' $(seq 119))
assert_eq "expected line 1" "$(head -n 1 "$tmp/expected")" \
	"ev-00000001	{\"seq\":1,\"pad\":\"$pad\"}	corr-1"
LC_ALL=C sort -c "$tmp/expected" || h_fail "expected file not sorted"
assert_eq "queue counts" "$(queue_counts smoke)" "1110 0"

# A hand-made body, and numbering that goes on with -s.
printf '{"event_id":"hand-1","payload":{}}\nnot json\n' >"$tmp/raw"
summary=$("$ER_PUBLISH" -u "$AMQP_URL" -q smoke --raw "$tmp/raw")
assert_eq "raw summary" "$summary" \
	"published 2 messages (2 events, 0 duplicates, 0 poison)"
"$ER_PUBLISH" -u "$AMQP_URL" -q smoke -n 3 -s 1001 --size 0 \
	--expected "$tmp/expected2" >/dev/null
assert_eq "small event" "$(head -n 1 "$tmp/expected2")" \
	"ev-00001001	{\"seq\":1001,\"pad\":\"\"}	corr-1001"
assert_eq "queue counts" "$(queue_counts smoke)" "1115 0"

# Persistent messages in a durable queue survive a restart; the
# non-persistent ones (the last five) do not.
restart_rabbitmq
assert_eq "queue counts after restart" "$(queue_counts smoke)" "1110 0"

# A failed publish (no broker) exits 1.
if "$ER_PUBLISH" -u "amqp://guest:guest@127.0.0.1:$(free_port)/%2f" \
	-q smoke -n 1 2>/dev/null; then
	h_fail "er-publish to a closed port succeeded"
fi

# Nacks make er-publish fail: a policy rejects publishes past 10.
rmq_ctl set_policy limit '^limited$' \
	'{"max-length":10,"overflow":"reject-publish"}' --apply-to queues \
	>/dev/null
if "$ER_PUBLISH" -u "$AMQP_URL" -q limited -n 25 >"$tmp/nack.out" \
	2>"$tmp/nack.err"; then
	h_fail "er-publish ignored nacks"
fi
grep -q '15 messages were nacked' "$tmp/nack.err" ||
	h_fail "nack report: $(cat "$tmp/nack.err")"
assert_eq "limited queue" "$(queue_counts limited)" "10 0"

# ---- Redis
assert_eq "redis set" "$(redis-cli -p "$REDIS_PORT" set smoke 1)" OK
assert_eq "redis get" "$(redis-cli -p "$REDIS_PORT" get smoke)" 1

# ---- Kafka mock, kcat and read_topic.sh
printf 'ev-00000002\t{"seq":2}\nev-00000001\t{"seq":1}\n' |
	awk -F'\t' '{ print $1 "\001" $2 }' >"$tmp/records"
kcat -P -b "$KAFKA_BROKERS" -t smoke -K $'\001' \
	-H correlation_id=corr-x -H traceparent=00-1-2-01 <"$tmp/records"
"$READ_TOPIC" "$KAFKA_BROKERS" smoke "$tmp/got"
printf 'ev-00000001\t{"seq":1}\tcorr-x\nev-00000002\t{"seq":2}\tcorr-x\n' \
	>"$tmp/want"
diff -u "$tmp/want" "$tmp/got" || h_fail "read_topic.sh output differs"

# An empty topic reads back as an empty file.
kafka_cmd "topic empty 2" >/dev/null
"$READ_TOPIC" "$KAFKA_BROKERS" empty "$tmp/empty"
[[ ! -s $tmp/empty ]] || h_fail "empty topic gave records"

# ---- fault commands
assert_eq "down 1" "$(kafka_cmd "down 1")" ok
assert_eq "up 1" "$(kafka_cmd "up 1")" ok
assert_eq "rtt 2 50" "$(kafka_cmd "rtt 2 50")" ok
assert_eq "err" "$(kafka_cmd "err Produce 2 REQUEST_TIMED_OUT")" ok
assert_eq "err list" "$(kafka_cmd "err InitProducerId 3 COORDINATOR_NOT_AVAILABLE _TRANSPORT")" ok
assert_eq "clear" "$(kafka_cmd clear)" ok
ans=$(kafka_cmd "down 9") && h_fail "down 9 succeeded"
[[ $ans == error:* ]] || h_fail "down 9: got '$ans'"
ans=$(kafka_cmd "err Produce 1 NO_SUCH_ERROR") && h_fail "bad error name accepted"
[[ $ans == error:* ]] || h_fail "bad error name: got '$ans'"
ans=$(kafka_cmd "topic smoke 4") && h_fail "topic created twice"
assert_eq "topic twice" "$ans" "error: TOPIC_ALREADY_EXISTS"

# ---- tcp-proxy: forwards, then stays silent in a blackhole
start_tcp_proxy "$REDIS_PORT"
assert_eq "PING through the proxy" "$(redis-cli -p "$PROXY_PORT" ping)" PONG
proxy_blackhole
ans=$(timeout 2 redis-cli -p "$PROXY_PORT" ping 2>&1) && h_fail "blackhole answered: $ans"
proxy_restore
assert_eq "PING after restore" "$(redis-cli -p "$PROXY_PORT" ping)" PONG

# ---- a sanitizer report or a refused system call in a test's log fails the test
(
	HARNESS_TMP=$tmp/sanitizer
	mkdir "$HARNESS_TMP"
	printf '==1==ERROR: AddressSanitizer: heap-use-after-free\n' >"$HARNESS_TMP/relay.log"
	_h_sanitizer_check 2>/dev/null
	[[ ${_H_SANITIZER_FAILED:-0} == 1 ]]
) || h_fail "a sanitizer report in relay.log went unnoticed"
(
	HARNESS_TMP=$tmp/seccomp
	mkdir "$HARNESS_TMP"
	printf 'master[1] error: worker 0 (pid 2) killed by signal 31 (SIGSYS): its seccomp filter refused system call 105 (setuid)\n' \
		>"$HARNESS_TMP/relay.log"
	_h_sanitizer_check 2>/dev/null
	[[ ${_H_SANITIZER_FAILED:-0} == 1 ]]
) || h_fail "a system call refused by a worker's seccomp filter went unnoticed"
(
	HARNESS_TMP=$tmp/clean
	mkdir "$HARNESS_TMP"
	printf 'info: all well\n' >"$HARNESS_TMP/relay.log"
	_h_sanitizer_check
	[[ ${_H_SANITIZER_FAILED:-0} == 0 ]]
) || h_fail "a clean relay.log was taken for a sanitizer report"

# ---- teardown: nothing left behind
pids="$RABBIT_PID $REDIS_PID $KAFKA_MOCK_PID"
harness_teardown
for pid in $pids; do
	if kill -0 "$pid" 2>/dev/null &&
		[[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) != Z ]]; then
		h_fail "pid $pid still running after teardown"
	fi
done
[[ ! -e $tmp ]] || h_fail "$tmp still exists after teardown"
echo "harness_smoke: ok"
