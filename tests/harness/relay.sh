# shellcheck shell=bash
# relay.sh: helpers for tests that run event-relayd against the harness's
# servers (source servers.sh first).
#
#   relay_test_start             servers + 20,000 events pre-loaded
#   start_relay [VAR=VALUE...]   run event-relayd -f with the seed env
#                                variables pointing at the private servers;
#                                waits for /ready; sets RELAY_PID, METRICS_URL,
#                                CONTROL_SOCKET
#   spawn_relay [VAR=VALUE...]   the same without waiting for /ready;
#                                with ER_RELAY_WRAP set (e.g. "strace -D -f
#                                -o FILE"), event-relayd runs under that
#                                command, keeping its pid (tests/tools/
#                                seccomp_trace.py)
#   metric SERIES                print the value of one /metrics series
#   wait_metric SERIES OP VALUE [DEADLINE_S]
#   worker_pids                  the relay's worker processes
#   check_exactly_once EXPECTED GOT / check_none_missing EXPECTED GOT
#
# The relay reads $HARNESS_TMP/relay.conf (empty unless the test writes
# it) and logs to $HARNESS_TMP/relay.log (appended across restarts).

ER_RELAYD=${ER_RELAYD:-$ER_BUILDDIR/src/event-relayd}
ER_GET=${ER_GET:-$ER_BUILDDIR/tests/tools/er-get}
ER_CTL=${ER_CTL:-$ER_BUILDDIR/src/event-relayctl}
RELAY_QUEUE=${RELAY_QUEUE:-events}
RELAY_TOPIC=${RELAY_TOPIC:-events}

# relay_test_start: the standard start of a relay test: private
# RabbitMQ, Redis and a 16-partition topic `events`, and the queue
# pre-loaded with 20,000 events, every 10th published twice and a
# non-JSON message after every 1000th (22,020 messages). The distinct
# events are in $HARNESS_TMP/expected, in read_topic.sh's format.
relay_test_start() {
	harness_require kcat curl
	harness_init
	start_rabbitmq
	start_redis
	start_kafka_mock events:16
	"$ER_PUBLISH" -u "$AMQP_URL" -q events -n 20000 --dup-every 10 \
		--poison-every 1000 --persistent --expected "$HARNESS_TMP/expected"
}

start_relay() {
	spawn_relay "$@"
	wait_for --deadline 60 curl -sf -o /dev/null "$METRICS_URL/ready" ||
		h_fail "event-relayd did not become ready: $(tail -n 20 "$HARNESS_TMP/relay.log")"
	h_log "event-relayd $RELAY_PID ready on $METRICS_URL"
}

spawn_relay() {
	local port
	[[ -f $HARNESS_TMP/relay.conf ]] || : >"$HARNESS_TMP/relay.conf"
	port=$(free_port)
	METRICS_URL=http://127.0.0.1:$port
	CONTROL_SOCKET=$HARNESS_TMP/control-$port
	# shellcheck disable=SC2030,SC2031
	(
		export RABBITMQ_URL=$AMQP_URL RABBITMQ_QUEUE=$RELAY_QUEUE \
			KAFKA_BROKERS=$KAFKA_BROKERS KAFKA_TOPIC=$RELAY_TOPIC \
			REDIS_ADDR=$REDIS_ADDR METRICS_LISTEN=127.0.0.1:$port \
			CONTROL_SOCKET=$HARNESS_TMP/control-$port \
			ROUTES_DIR=$HARNESS_TMP/routes.d \
			WORKER_COUNT=${WORKER_COUNT:-2}
		for kv in "$@"; do
			export "${kv?}"
		done
		# shellcheck disable=SC2086
		exec ${ER_RELAY_WRAP-} "$ER_RELAYD" -f -c "$HARNESS_TMP/relay.conf"
	) >>"$HARNESS_TMP/relay.log" 2>&1 &
	RELAY_PID=$!
	harness_track_pid "$RELAY_PID"
}

# relayctl ARGS...: event-relayctl for the relay started last (its
# configuration file, control socket and HTTP port).
relayctl() {
	CONTROL_SOCKET=$CONTROL_SOCKET METRICS_LISTEN=${METRICS_URL#http://} \
		"$ER_CTL" -c "$HARNESS_TMP/relay.conf" "$@"
}

# metric SERIES: the value of the series named exactly SERIES (with its
# labels, e.g. 'event_relay_dead_lettered_total{reason="invalid_json"}').
metric() {
	curl -sf "$METRICS_URL/metrics" | awk -v s="$1" '$1 == s { print $2; found = 1 }
		END { if (!found) exit 1 }'
}

# For a failed test's report (servers.sh): the relay's own view.
harness_fail_state() {
	[[ -n ${METRICS_URL:-} ]] || return 0
	echo "relay $METRICS_URL/metrics (worker totals):"
	curl -s -m 5 "$METRICS_URL/metrics" | grep -E '^event_relay_[a-z_]+ ' | head -n 40
	echo "relay $METRICS_URL/status:"
	curl -s -m 5 "$METRICS_URL/status" | head -c 4000
	echo
}

_metric_cmp() {
	local v
	v=$(metric "$1") || return 1
	awk -v a="$v" -v b="$3" -v op="$2" 'BEGIN {
		if (op == "==") exit !(a == b); if (op == ">=") exit !(a >= b);
		if (op == ">") exit !(a > b); exit 1 }'
}

# wait_metric SERIES OP VALUE [DEADLINE_S]
wait_metric() {
	wait_for --deadline "${4:-120}" _metric_cmp "$1" "$2" "$3" ||
		h_fail "metric $1 $2 $3 not reached: it is $(metric "$1" || echo absent)"
}

# assert_metric SERIES VALUE
assert_metric() {
	local v
	v=$(metric "$1") || h_fail "metric $1 absent"
	[[ $v == "$2" ]] || h_fail "metric $1: got $v, want $2"
}

worker_pids() {
	ps -o pid= --ppid "$RELAY_PID" | tr -d ' '
}

# Every line of EXPECTED reaches Kafka exactly once, byte for byte.
check_exactly_once() {
	local exp=$1 got=$2
	if ! cmp -s "$exp" "$got"; then
		echo "--- diff expected/got (first lines):" >&2
		{ diff "$exp" "$got" || true; } | head -n 10 >&2
		h_fail "Kafka content differs: $(wc -l <"$got") records, want $(wc -l <"$exp")"
	fi
}

# Every line of EXPECTED reaches Kafka at least once; prints the number of
# duplicate records.
check_none_missing() {
	local exp=$1 got=$2 missing total uniq
	missing=$(LC_ALL=C sort -u "$got" | LC_ALL=C comm -23 "$exp" - | wc -l)
	if ((missing > 0)); then
		LC_ALL=C sort -u "$got" | LC_ALL=C comm -23 "$exp" - | head -n 5 >&2
		h_fail "$missing events missing from Kafka"
	fi
	total=$(wc -l <"$got")
	uniq=$(LC_ALL=C sort -u "$got" | wc -l)
	echo $((total - uniq))
}

# fault_test_start [CONF_LINE...]: relay_test_start, then event-relayd
# with 2 workers and prefetch 50 (plus CONF_LINEs, and the VAR=VALUE
# words of the array FAULT_RELAY_ENV in its environment), until 3,000
# events are published: the moment a fault test injects its fault.
fault_test_start() {
	relay_test_start
	printf '%s\n' 'rabbitmq = { prefetch = 50; };' "$@" >"$HARNESS_TMP/relay.conf"
	start_relay WORKER_COUNT=2 ${FAULT_RELAY_ENV+"${FAULT_RELAY_ENV[@]}"}
	wait_metric event_relay_published_total '>=' 3000 60
}

# kafka_all_brokers CMD: `down` or `up` for every broker of the mock.
kafka_all_brokers() {
	local id
	for id in 1 2 3; do
		kafka_cmd "$1 $id" >/dev/null || h_fail "kafka-mock: $1 $id failed"
	done
}

# metric_or_zero SERIES: the series' value, 0 if it is absent.
metric_or_zero() {
	metric "$1" 2>/dev/null || echo 0
}

# fault_hold SECONDS: keep a fault in place this long. This is the
# fault's duration, part of the scenario, not a wait for a condition.
fault_hold() {
	sleep "$1" # duration of the fault itself, not polling
}

# wait_progress DEADLINE_S: wait until event_relay_acked_total moves,
# and print how many ms that took (a fault test's recovery time). A
# relay that finished the whole queue while the fault was still in place
# has nothing left to move: that counts as recovered at once (0 ms).
wait_progress() {
	local before t0
	before=$(metric event_relay_acked_total || echo 0)
	t0=$(_h_now_ms)
	if [[ $(queue_counts events) == "0 0" ]] && _metric_cmp event_relay_in_flight == 0; then
		h_log "the queue was drained before the fault was removed: nothing left to recover"
		echo 0
		return 0
	fi
	wait_for --deadline "${1:-120}" _progress_or_done "$before" ||
		h_fail "no progress within ${1:-120} s after the fault"
	echo $(($(_h_now_ms) - t0))
}

_progress_or_done() {
	_metric_cmp event_relay_acked_total '>' "$1" ||
		{ [[ $(queue_counts events) == "0 0" ]] && _metric_cmp event_relay_in_flight == 0; }
}

# fault_finish NAME RECOVERY_MS [DLQ_MIN]: the end of a fault test: the
# queue drains, nothing is in flight, Kafka holds every event (duplicates
# allowed and reported), and events.dlq holds at least DLQ_MIN (20, the
# poison messages) dead letters, none unacked.
fault_finish() {
	local name=$1 recovery=$2 dlq_min=${3:-20} dups
	wait_queue_empty events 180 || h_fail "events queue not drained: $(queue_counts events)"
	wait_metric event_relay_in_flight == 0 60
	"$READ_TOPIC" "$KAFKA_BROKERS" events "$HARNESS_TMP/got"
	dups=$(check_none_missing "$HARNESS_TMP/expected" "$HARNESS_TMP/got")
	read -r ready unacked < <(queue_counts events.dlq)
	((ready >= dlq_min && unacked == 0)) ||
		h_fail "events.dlq: $ready ready, $unacked unacked; want >= $dlq_min, 0"
	h_log "$name: 20000 events, 0 lost, $dups duplicate records, recovery ${recovery} ms," \
		"$(metric event_relay_duplicates_total) duplicates caught by Redis"
	harness_stop_pid "$RELAY_PID" 40 || h_fail "event-relayd exited with status $?"
}
