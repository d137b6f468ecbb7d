#!/bin/bash
# sec_http_slow_clients.sh: hostile HTTP clients cannot take /health and
# /metrics away from a well-behaved one.
#
# No broker is needed: the master serves HTTP whatever its workers do
# (they retry closed ports here). tests/tools/er-slowhttp plays both
# sides; the well-behaved client connects FROM 127.0.0.2 (Linux routes
# all of 127.0.0.0/8 to lo, and a socket bound to 127.0.0.2 reaches the
# relay's 127.0.0.1 listener as another client address).
#
#  1. 200 connections from 127.0.0.1 send the start of a request and
#     stall: 8 are held (metrics.max_connections_per_client), 192 are
#     closed at once. Meanwhile, from 127.0.0.2, /health and /metrics
#     answer 10 times each. Latency is the client's own clock from
#     connect to the last byte. The assertion the requirement asks for
#     (within 100 ms) is taken on the median of the 10, and every answer
#     must come within 1 s: on a loaded 2-core machine (sanitizer build,
#     two other test suites) one request can lose the CPU for longer
#     than 100 ms without the relay being at fault, which a single-try
#     bound would report as a failure; a relay that queued the request
#     behind the stalled ones would miss both bounds (they are held 5 s).
#  2. The stalled connections are closed by the relay at
#     metrics.request_timeout (5 s), not later, and no connection to the
#     port stays open (ss).
#  3. A client that drips one header byte a second, never idle, is still
#     closed at the header deadline.
#  4. The reserve: 7 addresses x 8 stalled connections take 56 of 64;
#     from 127.0.0.2 /health still answers 200 (from the reserve), and
#     /metrics is refused at once with 503 (the reserve is for health
#     checks only).
set -euo pipefail

. "${srcdir:-$(dirname "$0")/../..}/tests/harness/servers.sh"
. "$ER_SRCDIR/tests/harness/relay.sh"

harness_require python3 curl ss
SLOW=$ER_SRCDIR/tests/tools/er-slowhttp
harness_init
tmp=$HARNESS_TMP

# Servers that are not there: the workers retry, the master serves HTTP.
AMQP_URL=amqp://guest:guest@127.0.0.1:$(free_port)/
KAFKA_BROKERS=127.0.0.1:$(free_port)
REDIS_ADDR=127.0.0.1:$(free_port)
WORKER_COUNT=1 spawn_relay
port=${METRICS_URL##*:}
wait_for --deadline 30 curl -sf -o /dev/null "$METRICS_URL/health" ||
	h_fail "no /health: $(tail -n 5 "$tmp/relay.log")"

# probe_check WHAT FILE: every request 200 within 1 s, median < 100 ms per path.
probe_check() {
	local what=$1 f=$2 path
	awk '$2 != 200 || $3 > 1000 { bad = 1; print "  " $0 } END { exit bad }' "$f" ||
		h_fail "$what: a request not answered 200 within 1 s (above)"
	for path in /health /metrics; do
		awk -v p="$path" '$1 == p { print $3 }' "$f" | sort -n |
			awk -v w="$what $path" '{ v[NR] = $1 } END {
				m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
				printf "%s: %d answers, median %.1f ms, max %.1f ms\n", w, NR, m, v[NR] > "/dev/stderr"
				exit !(NR == 10 && m < 100) }' ||
			h_fail "$what $path: not 10 answers with a median under 100 ms"
	done
}

# established: connections to the relay's port that are open now.
established() {
	ss -Htn state established "( sport = :$port )" | wc -l
}

# ---- 1. 200 stalled connections from one address
h_log "200 stalled connections from 127.0.0.1"
"$SLOW" hold --port "$port" --from 127.0.0.1 --count 200 --seconds 12 >"$tmp/hold1.out" &
hold=$!
wait_for --deadline 20 grep -q '^held' "$tmp/hold1.out" || h_fail "the stalled clients did not start"
read -r _ held _ refused <"$tmp/hold1.out"
h_log "held $held, refused $refused"
[[ $held == 8 && $refused == 192 ]] ||
	h_fail "one address holds $held connections and $refused were refused; want 8 and 192"
"$SLOW" probe --port "$port" --from 127.0.0.2 --path /health --path /metrics --rounds 10 \
	>"$tmp/probe1.out"
probe_check "while 127.0.0.1 stalls" "$tmp/probe1.out"
grep -q '^event_relay_consumed_total ' <(curl -sf --interface 127.0.0.2 "$METRICS_URL/metrics") ||
	h_fail "/metrics from 127.0.0.2 is not the metrics"

# ---- 2. closed at the deadline, and the count back to normal
wait "$hold"
read -r _ closed _ open _ age < <(sed -n 2p "$tmp/hold1.out")
h_log "the relay closed $closed of them (open $open), the last after ${age} s"
[[ $closed == 8 && $open == 0 ]] || h_fail "stalled connections left open: $(cat "$tmp/hold1.out")"
awk -v a="$age" 'BEGIN { exit !(a >= 4.5 && a <= 8) }' ||
	h_fail "stalled connections closed after $age s; metrics.request_timeout is 5 s"
wait_for --deadline 5 test "$(established)" -eq 0 ||
	h_fail "$(established) connections still open on port $port"

# ---- 3. a client that never idles still has a header deadline
"$SLOW" hold --port "$port" --from 127.0.0.3 --count 1 --seconds 12 --drip >"$tmp/drip.out"
read -r _ closed _ open _ age < <(sed -n 2p "$tmp/drip.out")
h_log "dripping client closed after $age s"
[[ $closed == 1 ]] && awk -v a="$age" 'BEGIN { exit !(a >= 4.5 && a <= 8) }' ||
	h_fail "a client sending a byte a second was not closed at 5 s: $(cat "$tmp/drip.out")"

# ---- 4. the reserve keeps /health when many addresses fill the server
h_log "56 stalled connections from 7 addresses"
"$SLOW" hold --port "$port" --count 8 --seconds 8 \
	--from 127.0.0.4,127.0.0.5,127.0.0.6,127.0.0.7,127.0.0.8,127.0.0.9,127.0.0.10 >"$tmp/hold2.out" &
hold=$!
wait_for --deadline 20 grep -q '^held' "$tmp/hold2.out" || h_fail "the stalled clients did not start"
read -r _ held _ <"$tmp/hold2.out"
[[ $held == 56 ]] || h_fail "7 addresses hold $held connections; want 56"
"$SLOW" probe --port "$port" --from 127.0.0.2 --path /health --path /metrics --rounds 10 \
	>"$tmp/probe2.out"
awk '$1 == "/health" && ($2 != 200 || $3 > 1000) { bad = 1; print "  " $0 }
	$1 == "/metrics" && ($2 != 503 || $3 > 1000) { bad = 1; print "  " $0 }
	END { exit bad }' "$tmp/probe2.out" ||
	h_fail "with 56 of 64 taken: /health must answer 200 and /metrics 503, each within 1 s"
h_log "with 56 of 64 connections stalled: /health 200, /metrics 503 (reserve), median" \
	"$(awk '$1 == "/health" { print $3 }' "$tmp/probe2.out" | sort -n | sed -n 5p) ms"
wait "$hold"
wait_for --deadline 5 test "$(established)" -eq 0 ||
	h_fail "$(established) connections still open on port $port"
curl -sf -o /dev/null "$METRICS_URL/metrics" || h_fail "/metrics after the attack"
h_log "PASS"
