#!/bin/bash
# relay_redis_acl.sh: the relay logs in to Redis as a Redis 6 ACL user
# (redis.username, AUTH user password) with the password from
# redis.password_file. A wrong password in the file: each worker logs
# "AUTH as user ... refused" once (the password not shown) and stays
# unready; the file corrected and `event-relayctl reload --wait`, the
# workers log in as that user (CLIENT LIST) and every event reaches
# Kafka exactly once, de-duplicated through that user's keys.
set -euo pipefail

. "${srcdir:-$(dirname "$0")/../..}/tests/harness/servers.sh"
. "$ER_SRCDIR/tests/harness/relay.sh"

harness_require kcat curl redis-cli
harness_init
tmp=$HARNESS_TMP
t_start=$(_h_now_ms)
password=acl-Pw-7d21b0
wrong=acl-Wrong-93ac55
start_rabbitmq
# The relay's user may use its own keys and the commands it needs; the
# default user stays for the harness's redis-cli.
start_redis --user relay on ">$password" '~event-relay:*' +@all
start_kafka_mock events:4

log=$tmp/relay.log
printf '%s\n' "$wrong" >"$tmp/redis.pw"
chmod 0600 "$tmp/redis.pw"
cat >"$tmp/relay.conf" <<EOF
redis = { username = "relay"; password_file = "$tmp/redis.pw"; };
EOF
spawn_relay WORKER_COUNT=2 RETRY_MAX_DELAY_MS=500
want="redis_claim: 127.0.0.1:$REDIS_PORT: AUTH as user \"relay\" refused: WRONGPASS invalid username-password pair or user is disabled."
wait_for --deadline 20 grep -qF -- "$want" "$log" ||
	h_fail "a wrong password is not reported clearly: $(grep redis_claim "$log" | tail -n 3)"
h_log "wrong password reported:"
grep -F -m 1 -- "$want" "$log" | sed 's/^/    /' >&2
curl -sf -o /dev/null "$METRICS_URL/ready" && h_fail "ready with a wrong Redis password"

printf '%s\n' "$password" >"$tmp/redis.pw"
out=$(relayctl reload --wait) || h_fail "reload --wait failed: $out"
h_log "reload: ${out%%$'\n'*}"
# Published now: deliveries held by workers that cannot claim them are
# all redelivered when those workers stop, and two redelivered copies of
# one event may both take over its claim (see DESIGN.md, claims).
"$ER_PUBLISH" -u "$AMQP_URL" -q events -n 2000 --dup-every 10 --persistent \
	--expected "$tmp/expected" >/dev/null
wait_metric event_relay_acked_total == 2200 60
clients=$(redis-cli -p "$REDIS_PORT" client list)
(($(grep -c ' user=relay ' <<<"$clients") >= 2)) ||
	h_fail "the workers are not logged in as relay: $clients"
keys=$(redis-cli -p "$REDIS_PORT" --scan --pattern 'event-relay:*' | wc -l)
((keys == 2000)) || h_fail "want 2000 done-marks in Redis, got $keys"
# shellcheck disable=SC2031 # start_kafka_mock set it in this shell
"$READ_TOPIC" "$KAFKA_BROKERS" events "$tmp/got"
check_exactly_once "$tmp/expected" "$tmp/got"
assert_metric event_relay_duplicates_total 200
for s in "$password" "$wrong"; do
	grep -qF -- "$s" "$log" && h_fail "the log shows a Redis password"
done
harness_stop_pid "$RELAY_PID" 30 || h_fail "event-relayd exited with status $?"
h_log "relay_redis_acl: ACL user relay, password from a file (fixed by reload);" \
	"2000 events exactly once, 200 duplicates caught in $(($(_h_now_ms) - t_start)) ms"
