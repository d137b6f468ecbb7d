#!/bin/bash
# ops_control_socket.sh: only root or the daemon's group may change the
# daemon. Root's event-relayctl works; a user outside the group (nobody)
# is refused: first by the socket file's mode (0660), then, with the
# mode opened up on purpose, by the master's SO_PEERCRED check, which
# answers with a refusal and logs it. Nothing the refused user asked
# for happens. An unknown command is a usage error (exit 2); a daemon
# that is not running is exit 3.
set -euo pipefail

. "${srcdir:-$(dirname "$0")/../..}/tests/harness/servers.sh"
. "$ER_SRCDIR/tests/harness/relay.sh"

harness_require setpriv curl
(($(id -u) == 0)) || h_skip "needs root to run event-relayctl as nobody"
harness_init
start_rabbitmq
start_redis
start_kafka_mock events:4
tmp=$HARNESS_TMP
start_relay

out=$(relayctl version) || h_fail "root: version failed: $out"
[[ $out == "event-relayd "* ]] || h_fail "root: version said: $out"
[[ $(stat -c %a "$CONTROL_SOCKET") == 660 ]] || h_fail "socket mode $(stat -c %a "$CONTROL_SOCKET"), want 660"

# A copy of the tool and its configuration that nobody can reach (the
# build tree may be under a directory only root may enter).
pub=$tmp/pub
mkdir "$pub"
cp "$ER_CTL" "$pub/event-relayctl"
cp "$tmp/relay.conf" "$pub/relay.conf"
chmod 755 "$tmp" "$pub" "$pub/event-relayctl"
chmod 644 "$pub/relay.conf"
as_nobody() {
	setpriv --reuid=nobody --regid=nogroup --clear-groups \
		env CONTROL_SOCKET="$CONTROL_SOCKET" METRICS_LISTEN="${METRICS_URL#http://}" \
		${ASAN_OPTIONS:+ASAN_OPTIONS="$ASAN_OPTIONS"} \
		"$pub/event-relayctl" -c "$pub/relay.conf" "$@"
}

# 1. The file system refuses (the socket is 0660, root's group).
rc=0
out=$(as_nobody pause 2>&1) || rc=$?
((rc == 1)) || h_fail "nobody: pause exited $rc, want 1: $out"
grep -q 'permission denied' <<<"$out" || h_fail "nobody: no clear refusal: $out"

# 2. Opened up by mistake: the master refuses, says why and logs it.
chmod 666 "$CONTROL_SOCKET"
rc=0
out=$(as_nobody pause 2>&1) || rc=$?
((rc == 1)) || h_fail "nobody through a 0666 socket: pause exited $rc, want 1: $out"
grep -q "permission denied: uid $(id -u nobody) is not root and not in the daemon's group" <<<"$out" ||
	h_fail "nobody: the master's refusal is missing: $out"
wait_for --deadline 5 grep -q "control: refused a client (pid [0-9]*, uid $(id -u nobody))" \
	"$tmp/relay.log" || h_fail "the refusal is not logged"
assert_metric event_relay_paused 0
# Reading stays open to anyone who reaches the HTTP port.
as_nobody status >/dev/null || h_fail "nobody: status (read-only, over HTTP) failed"
h_log "nobody refused twice (mode 0660, then SO_PEERCRED), status allowed"

# Usage errors and an unreachable daemon.
rc=0
relayctl frobnicate >/dev/null 2>&1 || rc=$?
((rc == 2)) || h_fail "unknown command exited $rc, want 2"
rc=0
relayctl pause extra >/dev/null 2>&1 || rc=$?
((rc == 2)) || h_fail "pause with an argument exited $rc, want 2"
out=$(relayctl pause) && out=$(relayctl resume) || h_fail "root: pause/resume failed: $out"
# top, not on a terminal: plain snapshots, -n of them.
out=$(relayctl top -n 2 -d 0.2) || h_fail "top failed: $out"
[[ $(grep -c '^WORKER ' <<<"$out") == 2 ]] || h_fail "top -n 2: want 2 snapshots: $out"
grep -q '^0 .* running ' <<<"$out" || h_fail "top: worker 0 not shown running: $out"
harness_stop_pid "$RELAY_PID" 40 || h_fail "event-relayd exited with status $?"
[[ ! -e $CONTROL_SOCKET ]] || h_fail "the control socket was left behind"
rc=0
out=$(relayctl pause 2>&1) || rc=$?
((rc == 3)) || h_fail "daemon gone: pause exited $rc, want 3: $out"
rc=0
out=$(relayctl status 2>&1) || rc=$?
((rc == 3)) || h_fail "daemon gone: status exited $rc, want 3: $out"
h_log "ops_control_socket: exit codes 2 (usage) and 3 (not running) as documented"
