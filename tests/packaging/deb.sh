#!/bin/bash
# deb.sh: the Debian package, built, checked, installed and run on this
# machine.
#
# Builds the .deb with packaging/build-deb.sh (nocheck: the suite runs
# the unit tests), runs lintian (an error, or a warning that the
# package's override file does not justify, fails), installs it with
# dpkg, checks the systemd unit (systemd-analyze verify, and security
# exposure 2.0 or lower), points /etc/event-relay/event-relay.conf at a
# private RabbitMQ, Redis and Kafka mock (tests/harness) and drives the
# service through /etc/init.d/event-relay: start, status (also as
# nobody), 500 events relayed exactly once, reload to 3 workers, 200 more
# events exactly once, a log rotation by the package's logrotate file, an
# upgrade whose conffile changed (dpkg --force-confold keeps the
# operator's file and leaves the new one as .dpkg-dist), stop, a start
# that a broken configuration fails, and dpkg --purge: user, group,
# configuration, statoverride, log and run directories and pid file gone.
# Then the same package in a container that boots this machine's system
# under systemd (systemd-nspawn): systemctl start (Type=notify), 300 more
# events, systemctl reload, WATCHDOG=1, systemctl stop with status 0, and
# all 1000 events in Kafka exactly once.
#
# Root only, on a machine where event-relay is not installed (it fails
# rather than purge someone's installation). Whether it passes or fails,
# it stops the daemon by its pid, purges the package and stops the test
# servers. Exit 0 pass, 1 fail, 77 skip.
#
#   BUILDDIR  a build tree whose `make check` built the test tools
#             (default ./build); srcdir: the source tree
#
# The harness exports the servers' addresses from functions that
# relay.sh also calls in subshells; here they are set in this shell.
# shellcheck disable=SC2031
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
: "${srcdir:=$top}"
: "${BUILDDIR:=$top/build}"
export srcdir BUILDDIR
# shellcheck source=tests/harness/servers.sh
. "$srcdir/tests/harness/servers.sh"
# shellcheck source=tests/harness/relay.sh
. "$srcdir/tests/harness/relay.sh"

PKG=event-relay
CONF=/etc/event-relay/event-relay.conf
INIT=/etc/init.d/event-relay
PIDFILE=/run/event-relay/event-relayd.pid
UNIT=/lib/systemd/system/event-relay.service
LOGFILE=/var/log/event-relay/event-relay.log
t0=$SECONDS

[[ $(id -u) == 0 ]] || h_skip "deb.sh installs a package: run it as root"
harness_require dpkg-buildpackage lintian systemd-analyze systemd-nspawn nsenter logrotate \
	kcat curl jq
[[ -x $ER_PUBLISH && -x $KAFKA_MOCK ]] ||
	h_skip "test tools not built in $ER_BUILDDIR (make check TESTS= builds them)"
if dpkg-query -W -f '${db:Status-Status}' "$PKG" 2>/dev/null | grep -qv '^not-installed$'; then
	h_fail "$PKG is installed on this machine: deb.sh would purge it (dpkg --purge $PKG first)"
fi

# ------------------------------------------------------------- cleanup

DEB_INSTALLED=0
DEB_PIDS=()

# _deb_track: remember the master and workers now running, to stop them
# by pid at the end.
_deb_track() {
	local pid
	_h_read_pid pid "$PIDFILE" 2>/dev/null || return 0
	DEB_PIDS+=("$pid")
	# shellcheck disable=SC2207
	DEB_PIDS+=($(ps -o pid= --ppid "$pid" 2>/dev/null || true))
}

# Stops what the test started, keeping the exit status for
# harness_cleanup (which then stops the servers).
_deb_cleanup() {
	local rc=$? pid comm
	set +e
	if ((rc != 0 && rc != 77)) && [[ -d ${HARNESS_TMP:-} ]]; then
		cp /var/log/event-relay/*.log "$HARNESS_TMP/" 2>/dev/null
	fi
	_deb_track
	for pid in "${DEB_PIDS[@]}"; do
		{ read -r comm <"/proc/$pid/comm"; } 2>/dev/null || continue
		[[ $comm == event-relayd ]] && harness_stop_pid "$pid" 45
	done
	if ((DEB_INSTALLED)); then
		_deb_dpkg --purge "$PKG" >/dev/null 2>&1 ||
			echo "deb.sh: dpkg --purge $PKG failed" >&2
	fi
	_deb_container_stop
	return "$rc"
}

# dpkg ARGS...: dpkg, waiting (up to 5 minutes) while another process
# holds its lock. Standard input is closed: dpkg never asks.
_deb_dpkg() {
	local i rc
	for ((i = 0; i < 300; i++)); do
		rc=0
		dpkg "$@" </dev/null 2>"$HARNESS_TMP/dpkg.err" || rc=$?
		if ((rc != 0)) && grep -q 'locked by another process' "$HARNESS_TMP/dpkg.err"; then
			sleep 1 # another dpkg runs: its duration, not a condition we can poll
			continue
		fi
		cat "$HARNESS_TMP/dpkg.err" >&2
		return "$rc"
	done
	cat "$HARNESS_TMP/dpkg.err" >&2
	return 1
}

# ------------------------------------------------ a systemd container
#
# systemd is not this machine's init. To run the unit under systemd, the
# machine's own system boots in a container: systemd-nspawn on an
# overlay of / (what the container writes stays under HARNESS_TMP), on
# the host's network so that the test servers are reachable, up to
# sysinit.target only, so that none of the machine's other services
# starts in it.

DEB_NSPAWN_PID='' DEB_CINIT='' DEB_OVERLAY=''

_deb_container_start() {
	local d=$HARNESS_TMP/nspawn
	mkdir -p "$d/upper" "$d/work" "$d/root"
	mount -t overlay overlay -o "lowerdir=/,upperdir=$d/upper,workdir=$d/work" "$d/root" ||
		h_fail "cannot mount an overlay of / for the container"
	DEB_OVERLAY=$d/root
	harness_spawn nspawn systemd-nspawn --register=no --keep-unit -D "$d/root" \
		--machine=er-deb-test --console=read-only --bind-ro="$HARNESS_TMP/deb:/mnt/deb" \
		-b -- systemd.unit=sysinit.target
	DEB_NSPAWN_PID=$HARNESS_PID
	wait_for --deadline 90 _deb_container_up ||
		h_fail "the container did not boot: $(tail -n 20 "$HARNESS_TMP/nspawn.log")"
}

# The container's init is systemd-nspawn's child.
_deb_container_up() {
	DEB_CINIT=$(ps -o pid= --ppid "$DEB_NSPAWN_PID" | head -n 1 | tr -d ' ')
	[[ -n $DEB_CINIT ]] && in_container systemctl is-active --quiet sysinit.target
}

# in_container CMD...: CMD inside the container (its mounts and pids).
in_container() {
	nsenter -t "$DEB_CINIT" -m -u -i -p -- "$@"
}

# TERM makes systemd-nspawn shut the container down (the service too).
_deb_container_stop() {
	if [[ -n $DEB_NSPAWN_PID ]]; then
		if [[ -n $DEB_CINIT ]]; then
			in_container journalctl -u event-relay --no-pager >"$HARNESS_TMP/journal.log" 2>&1
		fi
		harness_stop_pid "$DEB_NSPAWN_PID" 60 || true
		DEB_NSPAWN_PID='' DEB_CINIT=''
	fi
	if [[ -n $DEB_OVERLAY ]]; then
		umount "$DEB_OVERLAY" || umount -l "$DEB_OVERLAY"
		DEB_OVERLAY=''
	fi
}

harness_init
trap '_deb_cleanup; harness_cleanup' EXIT

# --------------------------------------------------------------- build

want=$(sed -n 's/^AC_INIT(\[event-relay\], \[\([^]]*\)\].*/\1/p' "$srcdir/configure.ac")
have=$(dpkg-parsechangelog -l "$srcdir/packaging/debian/changelog" -S Version)
[[ ${have%-*} == "$want" ]] ||
	h_fail "packaging/debian/changelog is at $have, configure.ac at $want"

t=$SECONDS
DEB_BUILD_OPTIONS=nocheck DEB_BUILD_PROFILES=nocheck \
	"$srcdir/packaging/build-deb.sh" "$HARNESS_TMP/deb" >"$HARNESS_TMP/build-deb.log" 2>&1 ||
	h_fail "build-deb.sh failed: $(tail -n 30 "$HARNESS_TMP/build-deb.log")"
deb=$HARNESS_TMP/deb/${PKG}_${have}_$(dpkg --print-architecture).deb
[[ -f $deb ]] || h_fail "no $deb"
h_log "built ${deb##*/} in $((SECONDS - t)) s"

# What the package holds: the programs, the module, the pages, the
# example configuration as a conffile; nothing under /run.
dpkg-deb -c "$deb" | awk '{ print $6 }' >"$HARNESS_TMP/contents"
for f in ./usr/sbin/event-relayd ./usr/sbin/event-relayctl \
	"./usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)/event-relay/worker.so" \
	./usr/share/man/man8/event-relayd.8.gz ./usr/share/man/man8/event-relayctl.8.gz \
	./usr/share/man/man5/event-relay.conf.5.gz ./usr/share/man/man5/event-relay-routes.5.gz \
	./usr/share/doc/event-relay/examples/routes.d/10-binary.yaml.example \
	./etc/event-relay/event-relay.conf \
	./etc/event-relay/routes.d/ ./etc/init.d/event-relay ./etc/default/event-relay \
	./etc/logrotate.d/event-relay ./lib/systemd/system/event-relay.service \
	./usr/lib/tmpfiles.d/event-relay.conf; do
	grep -qxF "$f" "$HARNESS_TMP/contents" || h_fail "$f is not in the package"
done
! grep -q '^\./run/' "$HARNESS_TMP/contents" || h_fail "the package ships files under /run"
dpkg-deb -I "$deb" conffiles | grep -qx "$CONF" || h_fail "$CONF is not a conffile"

# -------------------------------------------------------------- lintian

t=$SECONDS
# Overridden tags are shown (O:) with their justification (N:); lintian
# 2.116 then exits 2 even when nothing else is reported, so the verdict
# is read from the tags: any E: or W: fails.
lintian_rc=0
lintian --show-overrides "$HARNESS_TMP/deb/"*.changes >"$HARNESS_TMP/lintian.out" 2>&1 ||
	lintian_rc=$?
grep -v 'running with root privileges' "$HARNESS_TMP/lintian.out" | sed 's/^/lintian: /' >&2 || true
((lintian_rc == 0 || lintian_rc == 2)) || h_fail "lintian failed with status $lintian_rc"
! grep -q '^[EW]: ' "$HARNESS_TMP/lintian.out" || h_fail "lintian: errors or warnings (above)"
h_log "lintian: no error, no unjustified warning ($((SECONDS - t)) s)"

# -------------------------------------------------------------- install

start_rabbitmq
start_redis
start_kafka_mock events:4

DEB_INSTALLED=1
_deb_dpkg -i "$deb" >"$HARNESS_TMP/install.log" || h_fail "dpkg -i failed: $(cat "$HARNESS_TMP/install.log")"
getent passwd event-relay >/dev/null || h_fail "no user event-relay"
getent group event-relay >/dev/null || h_fail "no group event-relay"
[[ $(getent passwd event-relay | cut -d: -f6,7) == /nonexistent:/usr/sbin/nologin ]] ||
	h_fail "user event-relay: $(getent passwd event-relay)"
[[ $(stat -c '%U:%G %a' "$CONF") == "root:event-relay 640" ]] ||
	h_fail "$CONF is $(stat -c '%U:%G %a' "$CONF"), want root:event-relay 640"
[[ $(stat -c '%U:%G %a' /var/log/event-relay) == "event-relay:adm 2750" ]] ||
	h_fail "/var/log/event-relay is $(stat -c '%U:%G %a' /var/log/event-relay)"
[[ -d /etc/event-relay/routes.d ]] || h_fail "no /etc/event-relay/routes.d"
# An example route file, put in place, is what -t reads.
cp /usr/share/doc/event-relay/examples/routes.d/10-binary.yaml.example \
	/etc/event-relay/routes.d/10-binary.yaml
out=$(/usr/sbin/event-relayd -t 2>&1) || h_fail "event-relayd -t with an example route file: $out"
[[ $out == *" from /etc/event-relay/routes.d, "* ]] ||
	h_fail "event-relayd -t did not read /etc/event-relay/routes.d: $out"
rm /etc/event-relay/routes.d/10-binary.yaml
# Enabled for both init systems (update-rc.d read the LSB header).
ls /etc/rc2.d/S??event-relay >/dev/null 2>&1 || h_fail "no /etc/rc2.d link: $(ls /etc/rc2.d)"
[[ -L /etc/systemd/system/multi-user.target.wants/event-relay.service ]] ||
	h_fail "event-relay.service is not enabled"
# Not started on installation: it would wait for servers it cannot know.
rc=0
"$INIT" status >/dev/null 2>&1 || rc=$?
((rc == 3)) || h_fail "status right after installation: $rc, want 3 (not running)"

systemd-analyze verify "$UNIT" >"$HARNESS_TMP/verify.out" 2>&1 ||
	h_fail "systemd-analyze verify $UNIT: $(cat "$HARNESS_TMP/verify.out")"
security=$(systemd-analyze security --offline=true "$UNIT" 2>&1 | tail -n 1)
score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' <<<"$security")
[[ -n $score ]] || h_fail "systemd-analyze security: $security"
h_log "systemd-analyze security --offline=true: $score (threshold 2.0)"
awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }' ||
	h_fail "the unit's exposure level is $score, above 2.0"

# ------------------------------------------------------ run the service

port=$(free_port)
METRICS_URL=http://127.0.0.1:$port
cat >"$CONF" <<EOF
# Written by tests/packaging/deb.sh: the private test servers.
workers = 2;
rabbitmq = { url = "$AMQP_URL"; queue = "events"; prefetch = 100; };
kafka = { brokers = "$KAFKA_BROKERS"; topic = "events"; };
redis = { address = "$REDIS_ADDR"; };
metrics = { listen = "127.0.0.1:$port"; };
log = { target = "$LOGFILE"; };
EOF
cp -p "$CONF" "$HARNESS_TMP/operator.conf"

"$INIT" start || h_fail "$INIT start failed"
_deb_track
"$INIT" status || h_fail "$INIT status: $?, want 0"
rc=0
runuser -u nobody -- "$INIT" status >/dev/null || rc=$?
((rc == 0)) || h_fail "$INIT status as nobody: $rc, want 0"
"$INIT" start >/dev/null || h_fail "a second start of a running service must succeed"
master='' pid=''
_h_read_pid master "$PIDFILE"
[[ $(ps -o user= -p "$master") == event-relay ]] ||
	h_fail "the master runs as $(ps -o user= -p "$master"), want event-relay"
[[ $(stat -c '%U:%G %a' /run/event-relay/control) == "event-relay:event-relay 660" ]] ||
	h_fail "control socket: $(stat -c '%U:%G %a' /run/event-relay/control)"
wait_for --deadline 60 curl -sf -o /dev/null "$METRICS_URL/ready" ||
	h_fail "not ready: $(curl -s "$METRICS_URL/ready")"

"$ER_PUBLISH" -u "$AMQP_URL" -q events -n 500 --persistent --expected "$HARNESS_TMP/exp1"
wait_metric event_relay_acked_total '>=' 500 60
wait_queue_empty events 60 || h_fail "queue not drained: $(queue_counts events)"
"$READ_TOPIC" "$KAFKA_BROKERS" events "$HARNESS_TMP/got1"
check_exactly_once "$HARNESS_TMP/exp1" "$HARNESS_TMP/got1"
h_log "500 events relayed exactly once through the installed package"

# reload: 3 workers, through the init script (event-relayctl reload --wait).
sed -i 's/^workers = 2;/workers = 3;/' "$CONF"
cp -p "$CONF" "$HARNESS_TMP/operator.conf"
"$INIT" reload || h_fail "$INIT reload failed"
st=$(curl -sf "$METRICS_URL/status" | jq -c '[.generation,
	([.workers[] | select(.config_generation == 2)] | length)]')
[[ $st == "[2,3]" ]] ||
	h_fail "after reload: [generation, workers of generation 2] = $st, want [2,3]:" \
		"$(curl -s "$METRICS_URL/status?format=text")"
_deb_track
"$ER_PUBLISH" -u "$AMQP_URL" -q events -s 501 -n 200 --persistent --expected "$HARNESS_TMP/exp2"
wait_metric event_relay_acked_total '>=' 700 60
wait_queue_empty events 60 || h_fail "queue not drained: $(queue_counts events)"
LC_ALL=C sort "$HARNESS_TMP/exp1" "$HARNESS_TMP/exp2" >"$HARNESS_TMP/exp"
"$READ_TOPIC" "$KAFKA_BROKERS" events "$HARNESS_TMP/got"
check_exactly_once "$HARNESS_TMP/exp" "$HARNESS_TMP/got"
[[ $(queue_counts events) == "0 0" ]] || h_fail "events left in the queue: $(queue_counts events)"
h_log "reload to 3 workers; 700 events in Kafka exactly once, nothing unacked"

# logrotate with the package's file: the old file is renamed, and the
# daemon (event-relayctl log-reopen) writes on into a new one.
logrotate -f -s "$HARNESS_TMP/logrotate.state" /etc/logrotate.d/event-relay ||
	h_fail "logrotate failed"
[[ -s $LOGFILE.1 ]] || h_fail "logrotate left no $LOGFILE.1"
wait_for --deadline 10 grep -q 'reopened' "$LOGFILE" ||
	h_fail "nothing written to the new $LOGFILE after the rotation"
h_log "log rotated; the daemon writes to the new file"

# An upgrade whose packaged conffile changed: the operator's file stays,
# the new one is left beside it; the service keeps running.
dpkg-deb -R "$deb" "$HARNESS_TMP/repack"
echo "# changed in the package's next version" >>"$HARNESS_TMP/repack$CONF"
sed -i "s/^Version: .*/Version: $have+t1/" "$HARNESS_TMP/repack/DEBIAN/control"
dpkg-deb --root-owner-group -b "$HARNESS_TMP/repack" "$HARNESS_TMP/next.deb" >/dev/null
_deb_dpkg -i --force-confdef --force-confold "$HARNESS_TMP/next.deb" >"$HARNESS_TMP/upgrade.log" ||
	h_fail "upgrade failed: $(cat "$HARNESS_TMP/upgrade.log")"
cmp -s "$CONF" "$HARNESS_TMP/operator.conf" || h_fail "the upgrade changed the operator's $CONF"
cmp -s "$CONF.dpkg-dist" "$HARNESS_TMP/repack$CONF" || h_fail "no new $CONF.dpkg-dist"
[[ $(stat -c '%G %a' "$CONF") == "event-relay 640" ]] || h_fail "$CONF: $(stat -c '%G %a' "$CONF")"
wait_for --deadline 60 "$INIT" status || h_fail "not running after the upgrade"
_deb_track
h_log "upgrade to $have+t1: operator's configuration kept, the new one is $CONF.dpkg-dist"

# try-restart (what the postinst runs after an upgrade, where policy
# allows): a new master.
_h_read_pid master "$PIDFILE"
"$INIT" try-restart || h_fail "$INIT try-restart failed"
_deb_track
_h_read_pid pid "$PIDFILE"
if [[ $pid == "$master" ]] || _h_alive "$master"; then
	h_fail "try-restart left master $master running"
fi
"$INIT" status >/dev/null || h_fail "not running after try-restart"

# stop: graceful, pid file removed, no process left.
_h_read_pid master "$PIDFILE"
"$INIT" stop || h_fail "$INIT stop failed"
! _h_alive "$master" || h_fail "master $master still runs after stop"
[[ ! -e $PIDFILE ]] || h_fail "$PIDFILE left after stop"
rc=0
"$INIT" status >/dev/null || rc=$?
((rc == 3)) || h_fail "status after stop: $rc, want 3"
"$INIT" stop >/dev/null || h_fail "stop of a stopped service must succeed"
rc=0
"$INIT" reload >/dev/null 2>&1 || rc=$?
((rc == 7)) || h_fail "reload of a stopped service: $rc, want 7"

# A configuration error: start fails with status 1 and names it.
sed -i 's/^workers = 3;/workers = 0;/' "$CONF"
rc=0
"$INIT" start >"$HARNESS_TMP/bad-start.out" 2>&1 || rc=$?
((rc == 1)) || h_fail "start with a broken configuration: $rc, want 1"
grep -q 'workers' "$HARNESS_TMP/bad-start.out" ||
	h_fail "start did not name the error: $(cat "$HARNESS_TMP/bad-start.out")"
[[ ! -e $PIDFILE ]] || h_fail "$PIDFILE after a failed start"

# purge: nothing of the package left, the user and group included.
_deb_dpkg --purge "$PKG" >"$HARNESS_TMP/purge.log" || h_fail "purge failed: $(cat "$HARNESS_TMP/purge.log")"
DEB_INSTALLED=0
! getent passwd event-relay >/dev/null || h_fail "user event-relay left after purge"
! getent group event-relay >/dev/null || h_fail "group event-relay left after purge"
for f in /etc/event-relay /etc/default/event-relay "$INIT" /var/log/event-relay /run/event-relay \
	/etc/logrotate.d/event-relay /etc/systemd/system/multi-user.target.wants/event-relay.service; do
	[[ ! -e $f ]] || h_fail "$f left after purge"
done
! ls /etc/rc?.d/*event-relay >/dev/null 2>&1 || h_fail "rc.d links left after purge"
! dpkg-statoverride --list "$CONF" >/dev/null || h_fail "statoverride of $CONF left after purge"

# ----------------------------------------------- the unit under systemd

t=$SECONDS
_deb_container_start
h_log "container with systemd $(in_container systemctl --version | awk 'NR == 1 { print $2 }')" \
	"up in $((SECONDS - t)) s"
in_container dpkg -i "/mnt/deb/${deb##*/}" </dev/null >"$HARNESS_TMP/container-install.log" 2>&1 ||
	h_fail "dpkg -i in the container: $(cat "$HARNESS_TMP/container-install.log")"
port=$(free_port)
METRICS_URL=http://127.0.0.1:$port
in_container sh -c "cat >$CONF" <<CONF
workers = 2;
rabbitmq = { url = "$AMQP_URL"; queue = "events"; prefetch = 100; };
kafka = { brokers = "$KAFKA_BROKERS"; topic = "events"; };
redis = { address = "$REDIS_ADDR"; };
metrics = { listen = "127.0.0.1:$port"; };
CONF
# Type=notify: start returns once the master has sent READY=1.
timeout 120 nsenter -t "$DEB_CINIT" -m -u -i -p -- systemctl start event-relay ||
	h_fail "systemctl start event-relay failed"
curl -sf -o /dev/null "$METRICS_URL/ready" || h_fail "started before /ready said so"
show() {
	in_container systemctl show -p "$1" --value event-relay
}
[[ $(show StatusText) == relaying:* ]] || h_fail "STATUS=: $(show StatusText)"
main=$(show MainPID)
[[ $(in_container ps -o user= -p "$main") == event-relay ]] ||
	h_fail "the master does not run as event-relay"
watchdog=$(show WatchdogTimestampMonotonic)

"$ER_PUBLISH" -u "$AMQP_URL" -q events -s 701 -n 300 --persistent --expected "$HARNESS_TMP/exp3"
wait_metric event_relay_acked_total '>=' 300 60
in_container sed -i 's/^workers = 2;/workers = 3;/' "$CONF"
timeout 120 nsenter -t "$DEB_CINIT" -m -u -i -p -- systemctl reload event-relay ||
	h_fail "systemctl reload event-relay failed"
st=$(curl -sf "$METRICS_URL/status" | jq -c '[.generation, .workers_configured]')
[[ $st == "[2,3]" ]] || h_fail "after systemctl reload: [generation, workers] = $st, want [2,3]"
wait_queue_empty events 60 || h_fail "queue not drained: $(queue_counts events)"
# WATCHDOG=1 comes every 15 s (WatchdogSec=30).
_watchdog_moved() {
	[[ $(show WatchdogTimestampMonotonic) != "$watchdog" ]]
}
wait_for --deadline 20 _watchdog_moved || h_fail "no WATCHDOG=1 from the master"
in_container systemctl stop event-relay || h_fail "systemctl stop event-relay failed"
[[ $(show Result) == success && $(show ExecMainStatus) == 0 && $(show NRestarts) == 0 ]] ||
	h_fail "after stop: Result=$(show Result) ExecMainStatus=$(show ExecMainStatus)" \
		"NRestarts=$(show NRestarts)"
LC_ALL=C sort "$HARNESS_TMP/exp" "$HARNESS_TMP/exp3" >"$HARNESS_TMP/exp-all"
"$READ_TOPIC" "$KAFKA_BROKERS" events "$HARNESS_TMP/got-all"
check_exactly_once "$HARNESS_TMP/exp-all" "$HARNESS_TMP/got-all"
[[ $(queue_counts events) == "0 0" ]] || h_fail "events left in the queue: $(queue_counts events)"
h_log "under systemd (the sandboxed unit): READY=1, WATCHDOG=1, reload, stop with status 0;" \
	"1000 events in Kafka exactly once"
_deb_container_stop

h_log "deb.sh: passed in $((SECONDS - t0)) s"
