#!/bin/bash
# container.sh: builds the container image (packaging/container/Dockerfile)
# for real with podman and relays events through it.
#
# No Docker engine runs on the test machines, so: mmdebstrap makes a
# Debian 12 root filesystem from the mirror this machine's apt uses
# (tests/harness/debian_rootfs.sh), `podman import` tags it
# docker.io/library/debian:bookworm-slim (the base the Dockerfile
# names), and `podman build --pull=never` builds the image from the
# `make dist` tarball, its build stage installing the build dependencies
# from that mirror. Then, against the harness's
# private RabbitMQ, Redis and Kafka mock on 127.0.0.1 (--network=host):
#
#   run 1: only the replaced Go service's environment variables (plus
#          METRICS_LISTEN on a free port), read-only root filesystem:
#          300 events (every 10th twice) reach processed_events exactly
#          once; `podman healthcheck run` says healthy; event-relayctl
#          works inside the container; `podman stop` exits 0 with
#          nothing unacked.
#   run 2: a configuration file mounted at /etc/event-relay/ names the
#          topic: 200 more events reach it exactly once.
#
# podman's state (storage, containers.conf with runc and the ulimits
# this sandbox allows) lives under the test's temporary directory and
# is removed with every image and container, pass or fail; the system's
# podman storage is never touched.
#
# Usage: BUILDDIR=/path/to/build tests/packaging/container.sh
#   ER_ROOTFS_TAR=FILE  keep the Debian root filesystem tarball in FILE
#                       and reuse it when it exists (saves ~1.5 min)
#   ER_DIST_TARBALL=F   use this release tarball instead of `make dist`
set -euo pipefail

. "${srcdir:-$(dirname "$0")/../..}/tests/harness/servers.sh"
. "$ER_SRCDIR/tests/harness/relay.sh"

harness_require podman mmdebstrap runc kcat curl make
[[ $(id -u) == 0 ]] || h_skip "needs root (podman with runc on overlay storage, no user namespaces)"
t0=$SECONDS
harness_init
tmp=$HARNESS_TMP
image=localhost/event-relay:container-test-$$
base=docker.io/library/debian:bookworm-slim

# ---------------------------------------------------------------- podman

pmdir=$tmp/podman
mkdir -p "$pmdir/graph" "$pmdir/run" "$pmdir/tmp"
cat >"$pmdir/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$pmdir/graph"
runroot = "$pmdir/run"
EOF
# crun fails on this kind of machine ("hybrid mode not supported"); the
# default ulimits are above what the sandbox allows.
cat >"$pmdir/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
tmp_dir = "$pmdir/tmp"
events_logger = "none"
image_copy_tmp_dir = "$pmdir/tmp"
EOF

# pm ARGS...: podman on the private storage only (the global options
# repeat storage.conf, so that nothing reaches the system's storage).
pm() {
	CONTAINERS_CONF=$pmdir/containers.conf \
		CONTAINERS_STORAGE_CONF=$pmdir/storage.conf TMPDIR=$pmdir/tmp \
		podman --root "$pmdir/graph" --runroot "$pmdir/run" "$@"
}

# podman build keeps a blob-info cache in /var/lib/containers/cache
# whatever the storage, and runc its state in /run/runc: removed at the
# end when this test made them.
[[ -e /var/lib/containers ]] && made_varlib=0 || made_varlib=1
[[ -e /run/runc ]] && made_runc=0 || made_runc=1

# Remove every container and image of the private storage, then the
# storage itself; runs before the harness stops the servers.
ctr_cleanup() {
	local m
	pm rm --all --force --time 0 >/dev/null 2>&1 || true
	pm rmi --all --force >/dev/null 2>&1 || true
	# Anything podman left mounted under the storage must go before rm.
	while read -r m; do
		umount -l "$m" 2>/dev/null || true
	done < <(awk -v d="$pmdir" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | sort -r)
	rm -rf "$pmdir"
	if ((made_varlib)); then
		rm -rf /var/lib/containers/cache
		rmdir /var/lib/containers 2>/dev/null || true
	fi
	if ((made_runc)); then
		rmdir /run/runc 2>/dev/null || true
	fi
}
# harness_cleanup takes the test's status from $?: hand it on (with
# errexit off, or the non-zero status would end the trap right there).
ctr_exit() {
	local rc=$?
	set +e
	ctr_cleanup
	(exit "$rc")
	harness_cleanup
}
trap ctr_exit EXIT

# ------------------------------------------------------------ base image

phase=$SECONDS
rootfs=${ER_ROOTFS_TAR:-$tmp/rootfs.tar}
if [[ ! -s $rootfs ]]; then
	"$ER_SRCDIR/tests/harness/debian_rootfs.sh" "$rootfs" ||
		h_fail "no Debian 12 root filesystem for the base image"
fi
# An imported root filesystem has no PATH; debian:bookworm-slim sets it.
pm import --quiet \
	--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
	--change 'CMD ["bash"]' "$rootfs" "$base" >/dev/null
h_log "base image $base: $((SECONDS - phase)) s"

# ------------------------------------------------------------- the image

phase=$SECONDS
mkdir -p "$tmp/context"
if [[ -n ${ER_DIST_TARBALL:-} ]]; then
	cp "$ER_DIST_TARBALL" "$tmp/context/"
else
	make -s -C "$ER_BUILDDIR" dist >"$tmp/dist.log" 2>&1 ||
		h_fail "make dist failed: $(tail -n 20 "$tmp/dist.log")"
	version=$(awk '$1 == "VERSION" && $2 == "=" { print $3 }' "$ER_BUILDDIR/Makefile")
	cp "$ER_BUILDDIR/event-relay-$version.tar.gz" "$tmp/context/"
fi
# --format=docker: the OCI format has no HEALTHCHECK. --network=host:
# the build stage's apt-get reaches the mirror without a bridge.
pm build --pull=never --format=docker --network=host \
	-f "$ER_SRCDIR/packaging/container/Dockerfile" -t "$image" \
	"$tmp/context" >"$tmp/build.log" 2>&1 ||
	h_fail "podman build failed: $(tail -n 30 "$tmp/build.log")"
h_log "image built from $(basename "$tmp"/context/*.tar.gz): $((SECONDS - phase)) s," \
	"$(pm image inspect --format '{{.Size}}' "$image" | awk '{ printf "%.0f MB", $1 / 1e6 }')"

# What the image promises, from its configuration.
# shellcheck disable=SC2016 # Go templates, not shell expansions
cfg=$(pm image inspect --format \
	'user={{.Config.User}} ports={{range $p, $v := .Config.ExposedPorts}}{{$p}}{{end}} health={{if .Config.Healthcheck}}{{join .Config.Healthcheck.Test " "}}{{end}} entrypoint={{join .Config.Entrypoint " "}}' \
	"$image")
h_log "image: $cfg"
[[ $cfg == *"user=10001:10001 "* ]] || h_fail "image user is not 10001:10001: $cfg"
[[ $cfg == *"ports=8080/tcp "* ]] || h_fail "port 8080 not exposed: $cfg"
[[ $cfg == *"health=CMD /usr/local/bin/event-relay-healthcheck "* ]] || h_fail "no HEALTHCHECK: $cfg"
[[ $cfg == *"entrypoint=/usr/sbin/event-relayd -f" ]] || h_fail "entrypoint: $cfg"
env_list=$(pm image inspect --format '{{join .Config.Env " "}}' "$image")
[[ " $env_list " == *" METRICS_LISTEN=0.0.0.0:8080 "* ]] ||
	h_fail "METRICS_LISTEN is not 0.0.0.0:8080 in the image: $env_list"
# Every library the binaries link is in the runtime stage.
out=$(pm run --rm --network=none --entrypoint /bin/sh "$image" -c \
	'id -u; ldd /usr/sbin/event-relayd /usr/sbin/event-relayctl /usr/lib/event-relay/worker.so' 2>&1) ||
	h_fail "ldd in the image failed: $out"
[[ ${out%%$'\n'*} != 0 ]] || h_fail "the image runs as root"
! grep -q 'not found' <<<"$out" || h_fail "libraries missing from the image: $(grep 'not found' <<<"$out")"

# ------------------------------------------------------------- run 1: env

start_rabbitmq
start_redis
start_kafka_mock processed_events:4 from_file:4

port=$(free_port)
METRICS_URL=http://127.0.0.1:$port
"$ER_PUBLISH" -u "$AMQP_URL" -q events -n 300 -s 1 --dup-every 10 --persistent \
	--expected "$tmp/expected-1" >/dev/null

# ctr_run NAME ARGS...: start the image detached on the host's network
# (the servers listen on 127.0.0.1), root filesystem read-only. podman
# logs harmless errors about systemd timers for the HEALTHCHECK here.
ctr_run() {
	local n=$1
	shift
	pm run -d --name "$n" --network=host --read-only "$@" "$image" \
		>"$tmp/$n.run" 2>&1 || h_fail "podman run failed: $(cat "$tmp/$n.run")"
}

# ctr_finish NAME N: wait until the N messages are acked and the queue
# is empty, stop the container gracefully and check its exit status.
ctr_finish() {
	local n=$1 msgs=$2 rc
	wait_metric event_relay_acked_total == "$msgs" 120
	wait_queue_empty events 30 || h_fail "events queue not empty: $(queue_counts events)"
	pm stop --time 40 "$n" >/dev/null 2>&1 || h_fail "podman stop $n failed"
	rc=$(pm inspect --format '{{.State.ExitCode}}' "$n")
	pm logs "$n" >"$tmp/$n.log" 2>&1 || true
	[[ $rc == 0 ]] || h_fail "$n exited with status $rc: $(tail -n 20 "$tmp/$n.log")"
	[[ $(queue_counts events) == "0 0" ]] || h_fail "after the stop: $(queue_counts events) ready/unacked"
}

# Only the Go service's variables: no KAFKA_TOPIC (its default is
# processed_events), its RABBITMQ_URL form (no vhost path).
ctr_run er-env-$$ \
	-e RABBITMQ_URL="amqp://guest:guest@127.0.0.1:$AMQP_PORT/" \
	-e RABBITMQ_QUEUE=events -e KAFKA_BROKERS="$KAFKA_BROKERS" \
	-e REDIS_ADDR="$REDIS_ADDR" -e LOG_LEVEL=info -e WORKER_COUNT=2 \
	-e METRICS_LISTEN="127.0.0.1:$port"
wait_for --deadline 60 curl -sf -o /dev/null "$METRICS_URL/ready" ||
	h_fail "the container did not become ready: $(pm logs er-env-$$ 2>&1 | tail -n 20)"
h_log "container er-env-$$ ready on $METRICS_URL"

# --no-healthcheck would drop the image's HEALTHCHECK (podman 4.3): the
# container keeps it, and without systemd it runs only when asked.
health=$(pm healthcheck run "er-env-$$" 2>&1) || h_fail "podman healthcheck run: $health"
health=$(pm inspect --format '{{.State.Health.Status}}' "er-env-$$")
[[ $health == healthy ]] || h_fail "health status: $health"
h_log "podman healthcheck run: $health"
# The check fails when /health does not answer.
if pm exec -e METRICS_LISTEN=127.0.0.1:1 "er-env-$$" event-relay-healthcheck >/dev/null 2>&1; then
	h_fail "the health check passed with nothing listening"
fi
# event-relayctl inside the container reaches the control socket
# (CONTROL_SOCKET under /tmp, writable on a read-only root) and /status.
st=$(pm exec "er-env-$$" event-relayctl status 2>&1) || h_fail "event-relayctl status: $st"
grep -q 'processed_events' <<<"$st" || h_fail "event-relayctl status: $st"
pm exec "er-env-$$" event-relayctl log-reopen >/dev/null 2>&1 ||
	h_fail "event-relayctl log-reopen (control socket) failed"

ctr_finish er-env-$$ 330
grep -q "amqp_source: consuming events on amqp://guest:\*\*\*\*\*\*\*\*@127.0.0.1:$AMQP_PORT/ (vhost \"/\"" \
	"$tmp/er-env-$$.log" || h_fail "no 'consuming' line: $(grep amqp_source "$tmp/er-env-$$.log" | head -n 3)"
grep -q 'guest:guest@' "$tmp/er-env-$$.log" && h_fail "the container log shows the password"
"$READ_TOPIC" "$KAFKA_BROKERS" processed_events "$tmp/got-1"
check_exactly_once "$tmp/expected-1" "$tmp/got-1"
h_log "run 1 (environment only): 300 events in processed_events exactly once; healthy; stop exit 0, nothing unacked"

# -------------------------------------------------- run 2: mounted file

mkdir -p "$tmp/etc"
cat >"$tmp/etc/event-relay.conf" <<EOF
workers = 1;
rabbitmq = { url = "amqp://guest:guest@127.0.0.1:$AMQP_PORT/"; queue = "events"; };
kafka = { brokers = "$KAFKA_BROKERS"; topic = "from_file"; };
redis = { address = "$REDIS_ADDR"; };
EOF
chmod 0644 "$tmp/etc/event-relay.conf"
"$ER_PUBLISH" -u "$AMQP_URL" -q events -n 200 -s 1001 --dup-every 10 --persistent \
	--expected "$tmp/expected-2" >/dev/null
ctr_run er-file-$$ -v "$tmp/etc:/etc/event-relay:ro" \
	-e METRICS_LISTEN="127.0.0.1:$port" -e CONTROL_SOCKET=none
wait_for --deadline 60 curl -sf -o /dev/null "$METRICS_URL/ready" ||
	h_fail "the container did not become ready: $(pm logs er-file-$$ 2>&1 | tail -n 20)"
ctr_finish er-file-$$ 220
grep -q 'queue events -> topic from_file' "$tmp/er-file-$$.log" ||
	h_fail "the mounted file was not used: $(head -n 5 "$tmp/er-file-$$.log")"
"$READ_TOPIC" "$KAFKA_BROKERS" from_file "$tmp/got-2"
check_exactly_once "$tmp/expected-2" "$tmp/got-2"
h_log "run 2 (mounted event-relay.conf): 200 events in from_file exactly once; stop exit 0"

h_log "container: passed in $((SECONDS - t0)) s"
