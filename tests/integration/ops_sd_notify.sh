#!/bin/bash
# ops_sd_notify.sh: notifications to systemd (Type=notify), with
# tests/tools/notify-listen in the manager's place. With NOTIFY_SOCKET
# and WATCHDOG_USEC=2000000 the master sends: STATUS= while starting;
# READY=1 with STATUS=relaying once, when /ready turns 200 and never
# while it says 503; WATCHDOG=1 every second; STATUS= when a worker
# loses Redis and when it has it back; STOPPING=1 on SIGTERM. Every
# datagram comes from the master's pid (what NotifyAccess=main accepts).
# Then once more on an abstract socket (@name), with WATCHDOG_PID set.
# A reload (SIGHUP) sends RELOADING=1 with MONOTONIC_USEC when it
# starts and READY=1 again when the rolling replacement has finished.
set -euo pipefail

. "${srcdir:-$(dirname "$0")/../..}/tests/harness/servers.sh"
. "$ER_SRCDIR/tests/harness/relay.sh"

NOTIFY_LISTEN=${NOTIFY_LISTEN:-$ER_BUILDDIR/tests/tools/notify-listen}
[[ -x $NOTIFY_LISTEN ]] || h_fail "$NOTIFY_LISTEN not built"
harness_require curl
harness_init
tmp=$HARNESS_TMP
start_rabbitmq
start_redis
start_kafka_mock events:4

# listen NAME SOCKET: notify-listen -p on SOCKET; its lines ("PID
# DATAGRAM", newlines in a datagram shown as spaces) go to
# $tmp/NAME.log. Sets LISTEN_PID and NOTES.
listen() {
	harness_spawn "$1" "$NOTIFY_LISTEN" -p "$2"
	LISTEN_PID=$HARNESS_PID
	NOTES=$tmp/$1.log
	wait_for --deadline 10 grep -q '^notify-listen: listening on' "$NOTES" ||
		h_fail "notify-listen did not start: $(cat "$NOTES")"
}

# The datagrams, without the pid; count_notes REGEX: how many match.
# (Here-strings, not pipes: under pipefail, grep -q ending a pipe early
# can fail it.)
notes() { sed -n 's/^[0-9][0-9]* //p' "$NOTES"; }
count_notes() { grep -cE "$1" <<<"$(notes)" || true; }
has_note() { grep -qE "$1" <<<"$(notes)"; }

# Every datagram from the master, none from a worker.
check_sender() {
	local others
	others=$(grep -E '^[0-9]+ ' "$NOTES" | grep -v "^$RELAY_PID " || true)
	[[ -z $others ]] || h_fail "datagrams not from the master ($RELAY_PID): $others"
}

ready_code() { curl -s -o /dev/null -w '%{http_code}' "$METRICS_URL/ready"; }

# READY=1 against /ready: once READY=1 has arrived, /ready must say 200
# (checked in that order, so a READY=1 sent while it said 503 shows);
# early_ready records a violation, seen_503 that /ready was 503 first.
early_ready='' seen_503=0
ready_in_order() {
	local code
	if has_note '^READY=1 '; then
		code=$(ready_code)
		[[ $code == 200 ]] || early_ready="READY=1 arrived while /ready says $code"
		return 0
	fi
	[[ $(ready_code) == 503 ]] && seen_503=1
	return 1
}

# wait_watchdogs N: N more WATCHDOG=1 lines; sets WD_MS to how long
# they took.
watchdogs_reach() { (($(count_notes '^WATCHDOG=1$') >= $1)); }
wait_watchdogs() {
	local c0 t0
	c0=$(count_notes '^WATCHDOG=1$')
	t0=$(_h_now_ms)
	wait_for --deadline 10 watchdogs_reach $((c0 + $1)) ||
		h_fail "fewer than $1 WATCHDOG=1 in 10 s: $(count_notes '^WATCHDOG=1$') in all"
	WD_MS=$(($(_h_now_ms) - t0))
}

# ---- a socket file, WATCHDOG_PID unset
listen notify "$tmp/notify.sock"
t0=$(_h_now_ms)
spawn_relay NOTIFY_SOCKET="$tmp/notify.sock" WATCHDOG_USEC=2000000 LOG_LEVEL=debug
wait_for --deadline 60 ready_in_order ||
	h_fail "no READY=1 within 60 s; /ready: $(curl -s "$METRICS_URL/ready")"
[[ -z $early_ready ]] || h_fail "$early_ready"
h_log "READY=1 after $(($(_h_now_ms) - t0)) ms (/ready seen at 503 before: $seen_503)"
has_note '^STATUS=starting: [01] of 2 workers ready; ' ||
	h_fail "no STATUS= while starting: $(notes)"
want='READY=1 STATUS=relaying: 2 workers ready, queue events -> topic events'
has_note "^$want\$" || h_fail "READY=1 without the STATUS= wanted: $(notes | grep READY)"
grep -qF "debug: sd_notify: $want" "$tmp/relay.log" || h_fail "READY=1 not logged at debug"

# WATCHDOG=1 at half of WATCHDOG_USEC: 3 pings in 2 to 3 s.
wait_watchdogs 3
((WD_MS >= 1500 && WD_MS <= 4000)) || h_fail "3 WATCHDOG=1 took $WD_MS ms, want 2000-3000"
h_log "3 WATCHDOG=1 in $WD_MS ms"

# Readiness changes afterwards: STATUS= says which worker lacks what.
stop_redis
wait_for --deadline 30 has_note '^STATUS=degraded: [01] of 2 workers ready; worker [01] redis down' ||
	h_fail "no degraded STATUS=: $(notes | grep -v WATCHDOG | tail -n 5)"
start_redis
wait_for --deadline 60 has_note '^STATUS=relaying: 2 workers ready' ||
	h_fail "no STATUS=relaying after Redis came back: $(notes | grep -v WATCHDOG | tail -n 5)"
((($(count_notes '^READY=1')) == 1)) || h_fail "READY=1 sent more than once: $(notes | grep READY)"
((($(count_notes '^STOPPING=1')) == 0)) || h_fail "STOPPING=1 before SIGTERM"
h_log "STATUS= lines: $(notes | grep -c '^STATUS=' || true):"
notes | grep '^STATUS=' | sed 's/^/    /' >&2

# A reload: RELOADING=1 with the monotonic clock, then READY=1 when done.
kill -HUP "$RELAY_PID"
wait_for --deadline 10 has_note '^RELOADING=1 MONOTONIC_USEC=[0-9][0-9]*$' ||
	h_fail "no RELOADING=1 MONOTONIC_USEC= after SIGHUP: $(notes | grep -v WATCHDOG | tail -n 3)"
wait_for --deadline 60 eval '(($(count_notes "^READY=1") == 2))' ||
	h_fail "no second READY=1 after the reload: $(notes | grep -v WATCHDOG | tail -n 3)"
wait_for --deadline 10 grep -q 'reload: generation 2 in force' "$tmp/relay.log" ||
	h_fail "the reload did not finish"
h_log "reload: RELOADING=1, then READY=1 again"

harness_stop_pid "$RELAY_PID" 40 || h_fail "event-relayd exited with status $?"
wait_for --deadline 5 has_note '^STOPPING=1 STATUS=stopping$' ||
	h_fail "no STOPPING=1 after SIGTERM: $(notes | tail -n 3)"
check_sender
harness_stop_pid "$LISTEN_PID" 5 || h_fail "notify-listen exited with status $?"
[[ ! -e $tmp/notify.sock ]] || h_fail "notify-listen left its socket behind"
h_log "socket file: $(wc -l <"$NOTES") lines, all from the master"

# ---- an abstract socket, WATCHDOG_PID naming the relay: a wrapper
# exports its own pid, then execs event-relayd, which keeps it.
cat >"$tmp/relayd-wdpid" <<EOF
#!/bin/sh
export WATCHDOG_PID=\$\$
exec "$ER_RELAYD" "\$@"
EOF
chmod +x "$tmp/relayd-wdpid"
name="@er-notify-$$-$RANDOM"
listen notify-abstract "$name"
early_ready='' seen_503=0
real_relayd=$ER_RELAYD
ER_RELAYD=$tmp/relayd-wdpid
spawn_relay NOTIFY_SOCKET="$name" WATCHDOG_USEC=2000000
ER_RELAYD=$real_relayd
wait_for --deadline 60 ready_in_order ||
	h_fail "no READY=1 on $name within 60 s; /ready: $(curl -s "$METRICS_URL/ready")"
[[ -z $early_ready ]] || h_fail "$early_ready"
grep -qF "sd_notify: notifying $name, watchdog ping every 1000 ms" "$tmp/relay.log" ||
	h_fail "WATCHDOG_PID=$RELAY_PID not taken as the relay's: $(grep sd_notify "$tmp/relay.log")"
wait_watchdogs 2
harness_stop_pid "$RELAY_PID" 40 || h_fail "event-relayd exited with status $?"
wait_for --deadline 5 has_note '^STOPPING=1 STATUS=stopping$' ||
	h_fail "no STOPPING=1 on $name: $(notes | tail -n 3)"
check_sender
h_log "ops_sd_notify: READY=1, STATUS=, WATCHDOG=1 and STOPPING=1 on a socket file and on $name"
