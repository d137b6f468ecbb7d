#!/bin/bash
# sec_privileges.sh: least privilege, started as root (skipped otherwise).
#   - with user = nobody: the master and every worker run as nobody
#     (real, effective, saved and filesystem ids), with no supplementary
#     group and no capability in any set (bounding set included),
#     no_new_privs; the workers under their seccomp filter (Seccomp: 2),
#     each logging "setuid(0) refused"; events are relayed;
#   - a worker that tries setuid(0) (a fault injection) is killed by
#     SIGSYS and the master names the call; with seccomp = false the
#     call is refused (EPERM) and the worker runs on, Seccomp: 0;
#   - root with no user: refused with an error naming user and
#     allow_root; with allow_root: runs, warns, and its workers are root
#     without capabilities.
set -euo pipefail

. "${srcdir:-$(dirname "$0")/../..}/tests/harness/servers.sh"
. "$ER_SRCDIR/tests/harness/relay.sh"

[[ $(id -u) == 0 ]] || h_skip "needs root (the daemon gives up root)"
id nobody >/dev/null 2>&1 || h_skip "no user nobody"
harness_require curl
harness_init
tmp=$HARNESS_TMP
start_rabbitmq
start_redis
start_kafka_mock events:4
"$ER_PUBLISH" -u "$AMQP_URL" -q events -n 2000 --persistent --expected "$tmp/expected" >/dev/null

uid=$(id -u nobody)
gid=$(id -g nobody)
# nobody must reach its control socket's directory (the test directory is 0700).
chmod 0711 "$tmp"
install -d -o nobody -g "$gid" -m 0755 "$tmp/run"
zero=0000000000000000

# status_field PID FIELD: the value of FIELD in /proc/PID/status, tabs as spaces.
status_field() {
	awk -v f="$2:" '$1 == f { $1 = ""; sub(/^ /, ""); print; exit }' "/proc/$1/status"
}

# check_proc PID WHAT UID GID SECCOMP: the ids, groups, capabilities,
# no_new_privs and seccomp mode of one process.
check_proc() {
	local pid=$1 what=$2 u=$3 g=$4 sc=$5 f v
	v=$(status_field "$pid" Uid)
	[[ $v == "$u $u $u $u" ]] || h_fail "$what $pid: Uid: $v, want $u x4"
	v=$(status_field "$pid" Gid)
	[[ $v == "$g $g $g $g" ]] || h_fail "$what $pid: Gid: $v, want $g x4"
	v=$(status_field "$pid" Groups)
	[[ -z $v || $v == "$g" ]] || h_fail "$what $pid: Groups: $v, want none"
	for f in CapInh CapPrm CapEff CapBnd CapAmb; do
		v=$(status_field "$pid" $f)
		[[ $v == "$zero" ]] || h_fail "$what $pid: $f: $v, want $zero"
	done
	v=$(status_field "$pid" NoNewPrivs)
	[[ $v == 1 ]] || h_fail "$what $pid: NoNewPrivs: $v, want 1"
	v=$(status_field "$pid" Seccomp)
	[[ $v == "$sc" ]] || h_fail "$what $pid: Seccomp: $v, want $sc"
}

nworkers_is() {
	(($(worker_pids | wc -l) == $1))
}

# workers N: the relay's N worker pids, once there are N.
workers() {
	wait_for --deadline 30 nworkers_is "$1" ||
		h_fail "want $1 workers, have: $(worker_pids | tr '\n' ' ')"
	worker_pids
}

# -------------------------------------------------- user = nobody, seccomp on
printf 'user = "nobody";\nrabbitmq = { prefetch = 50; };\n' >"$tmp/relay.conf"
start_relay WORKER_COUNT=2 CONTROL_SOCKET="$tmp/run/control"
check_proc "$RELAY_PID" master "$uid" "$gid" 0
for pid in $(workers 2); do
	check_proc "$pid" worker "$uid" "$gid" 2
done
wait_metric event_relay_acked_total '>=' 2000 60
grep -q "privileges: master runs as user nobody: uid=$uid gid=$gid groups=none, no capabilities, setuid(0) refused" \
	"$tmp/relay.log" || h_fail "no privileges line of the master: $(grep privileges "$tmp/relay.log")"
n=$(grep -c "privileges: uid=$uid gid=$gid groups=none, no capabilities, setuid(0) refused; no_new_privs; seccomp filter of [0-9]* system calls" \
	"$tmp/relay.log" || true)
((n == 2)) || h_fail "want 2 workers' privileges lines, got $n: $(grep privileges "$tmp/relay.log")"
relayctl status >/dev/null || h_fail "the control socket of a daemon running as nobody does not answer"
harness_stop_pid "$RELAY_PID" 40 || h_fail "event-relayd exited with status $?"
h_log "user nobody: master and 2 workers unprivileged, filtered; 2000 events relayed"

# --------------------------------- a worker trying setuid(0): killed by SIGSYS
: >"$tmp/relay.log"
spawn_relay WORKER_COUNT=1 CONTROL_SOCKET="$tmp/run/control" EVENT_RELAY_FAULT_INJECTION=setuid
wait_for --deadline 60 grep -q 'killed by signal 31 (SIGSYS): its seccomp filter refused system call [0-9]* (setuid)' \
	"$tmp/relay.log" || h_fail "no SIGSYS line naming setuid: $(tail -n 5 "$tmp/relay.log")"
grep -q 'setuid(0) succeeded' "$tmp/relay.log" && h_fail "a worker became root again"
harness_stop_pid "$RELAY_PID" 40 || h_fail "event-relayd exited with status $?"

# ------------------------------------- seccomp = false: setuid(0) gets EPERM
: >"$tmp/relay.log"
start_relay WORKER_COUNT=1 CONTROL_SOCKET="$tmp/run/control" EVENT_RELAY_FAULT_INJECTION=setuid \
	EVENT_RELAY_SECCOMP=false
for pid in $(workers 1); do
	check_proc "$pid" "worker (seccomp off)" "$uid" "$gid" 0
done
grep -q 'fault injection: setuid(0) refused: Operation not permitted' "$tmp/relay.log" ||
	h_fail "no refused setuid(0) line: $(grep -i 'setuid\|privileges' "$tmp/relay.log")"
grep -q 'seccomp off (seccomp = false)' "$tmp/relay.log" || h_fail "the worker does not say seccomp is off"
harness_stop_pid "$RELAY_PID" 40 || h_fail "event-relayd exited with status $?"
h_log "setuid(0): SIGSYS with the filter, EPERM without"

# ---------------------------------------------- root with no user: refused
printf 'rabbitmq = { prefetch = 50; };\n' >"$tmp/relay.conf"
rc=0
env -u EVENT_RELAY_ALLOW_ROOT timeout 30 "$ER_RELAYD" -f -c "$tmp/relay.conf" >"$tmp/refused" 2>&1 ||
	rc=$?
((rc == 1)) || h_fail "root with no user: exit status $rc, want 1: $(cat "$tmp/refused")"
grep -q "relay.conf: user: started as root with no user set: .*allow_root = true (EVENT_RELAY_ALLOW_ROOT=true)" \
	"$tmp/refused" || h_fail "the refusal does not name user and allow_root: $(cat "$tmp/refused")"

# ------------------------------------ allow_root: runs as root, caps dropped
: >"$tmp/relay.log"
start_relay WORKER_COUNT=1 CONTROL_SOCKET="$tmp/run/control" EVENT_RELAY_ALLOW_ROOT=true
grep -q 'running as root (allow_root)' "$tmp/relay.log" || h_fail "no allow_root warning"
for pid in $(workers 1); do
	check_proc "$pid" "worker (allow_root)" 0 0 2
done
harness_stop_pid "$RELAY_PID" 40 || h_fail "event-relayd exited with status $?"
h_log "sec_privileges: root refused without user or allow_root; allow_root warns, workers without capabilities"
