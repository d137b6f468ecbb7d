#!/bin/bash
# scale_redis_sentinel.sh: Redis behind Sentinel: a master, a replica and
# three sentinels (private, on 127.0.0.1). The relay (redis.sentinels,
# redis.master_name) asks the sentinels for the master. The master is
# killed mid-drain; the sentinels promote the replica and the relay
# follows it. Then the old master comes back as a replica, 5,000 more
# events are published, and a planned failover (SENTINEL FAILOVER) makes
# it the master again while the relay drains them: the demoted master
# answers writes READONLY, and the relay asks the sentinels again.
# No event missing from Kafka, the queue drained, duplicates counted
# (claims and done-marks the replica had not received yet are lost in an
# asynchronous failover), and never stuck on a replica.
set -euo pipefail

. "${srcdir:-$(dirname "$0")/../..}/tests/harness/servers.sh"
. "$ER_SRCDIR/tests/harness/relay.sh"

relay_test_start
master_port=$REDIS_PORT
replica_port=$(free_port)
mkdir -p "$HARNESS_TMP/replica"
harness_spawn redis-replica redis-server --port "$replica_port" --bind 127.0.0.1 \
	--dir "$HARNESS_TMP/replica" --save "" --appendonly no \
	--replicaof 127.0.0.1 "$master_port"

sentinel_ports=()
for i in 1 2 3; do
	port=$(free_port)
	sentinel_ports+=("$port")
	mkdir -p "$HARNESS_TMP/sentinel$i"
	# A sentinel rewrites its configuration file: one of its own each.
	cat >"$HARNESS_TMP/sentinel$i/sentinel.conf" <<EOF
port $port
bind 127.0.0.1
dir $HARNESS_TMP/sentinel$i
sentinel monitor main 127.0.0.1 $master_port 2
sentinel down-after-milliseconds main 3000
sentinel failover-timeout main 10000
sentinel parallel-syncs main 1
EOF
	harness_spawn "sentinel$i" redis-server "$HARNESS_TMP/sentinel$i/sentinel.conf" --sentinel
done

# sentinel_says PORT CMD...: the sentinel's answer, one field a line.
sentinel_says() {
	local port=$1
	shift
	redis-cli -h 127.0.0.1 -p "$port" "$@" 2>/dev/null
}

# Every sentinel knows the master, the replica (in sync) and the two
# other sentinels: only then can they agree on a failover.
_sentinels_ready() {
	local p
	[[ $(redis-cli -h 127.0.0.1 -p "$replica_port" info replication 2>/dev/null |
		tr -d '\r' | grep '^master_link_status:') == master_link_status:up ]] || return 1
	for p in "${sentinel_ports[@]}"; do
		[[ $(sentinel_says "$p" sentinel get-master-addr-by-name main | tail -n 1) == "$master_port" ]] ||
			return 1
		[[ $(sentinel_says "$p" sentinel master main | awk 'p { print; exit } $0 == "num-other-sentinels" { p = 1 }') == 2 ]] ||
			return 1
		[[ $(sentinel_says "$p" sentinel master main | awk 'p { print; exit } $0 == "num-slaves" { p = 1 }') == 1 ]] ||
			return 1
	done
}
wait_for --deadline 60 _sentinels_ready || h_fail "the sentinels did not find each other and the replica"
h_log "master $master_port, replica $replica_port, sentinels ${sentinel_ports[*]}"

sentinels=$(printf '"127.0.0.1:%s", ' "${sentinel_ports[@]}")
printf '%s\n' 'rabbitmq = { prefetch = 50; };' \
	"redis = { sentinels = [ ${sentinels%, } ]; master_name = \"main\"; };" \
	>"$HARNESS_TMP/relay.conf"
# REDIS_ADDR (set by the harness) names a port nothing listens on: the
# relay must find the master through the sentinels alone.
start_relay WORKER_COUNT=2 REDIS_ADDR=127.0.0.1:1 RETRY_MAX_DELAY_MS=1000
wait_metric event_relay_published_total '>=' 3000 60

# The fault: the master dies (no shutdown, no last save).
kill -KILL "$REDIS_PID"
wait_for --deadline 10 bash -c "! kill -0 $REDIS_PID 2>/dev/null" || h_fail "the master did not die"
REDIS_PID='' _H_REDIS_LAUNCHED=0
t0=$(_h_now_ms)
h_log "master killed"

_promoted() {
	[[ $(sentinel_says "${sentinel_ports[0]}" sentinel get-master-addr-by-name main | tail -n 1) == "$replica_port" ]]
}
wait_for --deadline 60 _promoted || h_fail "the sentinels did not promote the replica"
[[ $(redis-cli -h 127.0.0.1 -p "$replica_port" role | head -n 1) == master ]] ||
	h_fail "the promoted replica does not say it is a master"
h_log "replica promoted after $(($(_h_now_ms) - t0)) ms"
wait_metric event_relay_redis_connected == 2 60
recovery=$(($(_h_now_ms) - t0))
grep -q "127.0.0.1:$replica_port: connected to master \"main\"" "$HARNESS_TMP/relay.log" ||
	h_fail "no worker logged its connection to the new master"
h_log "phase 1: the relay uses the new master $((recovery)) ms after the kill"

# Phase 2: the old master returns as a replica; a planned failover.
mkdir -p "$HARNESS_TMP/old-master"
harness_spawn redis-old-master redis-server --port "$master_port" --bind 127.0.0.1 \
	--dir "$HARNESS_TMP/old-master" --save "" --appendonly no \
	--replicaof 127.0.0.1 "$replica_port"
_old_master_in_sync() {
	[[ $(redis-cli -h 127.0.0.1 -p "$master_port" info replication 2>/dev/null |
		tr -d '\r' | grep '^master_link_status:') == master_link_status:up ]] &&
		[[ $(sentinel_says "${sentinel_ports[0]}" sentinel replicas main | grep -c "^$master_port\$") -ge 1 ]]
}
wait_for --deadline 60 _old_master_in_sync || h_fail "the old master did not come back as a replica"
"$ER_PUBLISH" -u "$AMQP_URL" -q events -n 5000 --start 20001 --dup-every 10 --persistent \
	--expected "$HARNESS_TMP/expected2"
LC_ALL=C sort -u "$HARNESS_TMP/expected" "$HARNESS_TMP/expected2" >"$HARNESS_TMP/expected.all"
mv "$HARNESS_TMP/expected.all" "$HARNESS_TMP/expected"
t0=$(_h_now_ms)
sentinel_says "${sentinel_ports[0]}" sentinel failover main | grep -q OK ||
	h_fail "SENTINEL FAILOVER refused"
_switched_back() {
	[[ $(sentinel_says "${sentinel_ports[0]}" sentinel get-master-addr-by-name main | tail -n 1) == "$master_port" ]]
}
wait_for --deadline 60 _switched_back || h_fail "the planned failover did not happen"
wait_for --deadline 60 grep -q "127.0.0.1:$master_port: connected to master \"main\"" \
	"$HARNESS_TMP/relay.log" || h_fail "no worker followed the planned failover"
recovery2=$(($(_h_now_ms) - t0))
h_log "phase 2: the relay follows the planned failover in $recovery2 ms" \
	"($(grep -c READONLY "$HARNESS_TMP/relay.log" || true) READONLY lines logged)"
fault_finish scale_redis_sentinel "$recovery + $recovery2"
# Done-marks written to a master between its last replication and its
# demotion are gone (the replica's copy wins): only duplicates can follow.
keys=$(redis-cli -h 127.0.0.1 -p "$master_port" --scan --pattern 'event-relay:*' | wc -l)
h_log "the master holds $keys done-marks of 25,000 events"
