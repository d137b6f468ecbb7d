#!/bin/bash
# ops_secrets_redacted.sh: no password shows anywhere. Secrets are given
# in every place one can be: the URL in the file and in RABBITMQ_URL,
# redis.password in the file and REDIS_PASSWORD, redis.password_file,
# kafka.properties sasl.password and sasl.password_file, an encrypted
# Kafka client key's ssl.key.password_file. Two daemons run at debug:
#  A relays 500 events (RABBITMQ_URL over the file's URL, Redis ACL user
#    with the password from a file, a plain sasl.password);
#  B logs in to Redis with REDIS_USERNAME/REDIS_PASSWORD over the file's
#    redis.password, to RabbitMQ with the file's URL, and to Kafka with
#    SASL PLAIN and sasl.password_file (which the mock cluster cannot
#    speak: its refusal in the log shows the setting reached librdkafka).
# Captured for each: the log, `event-relayd -t`, `event-relayctl
# check-config`, `event-relayctl status` (text and JSON), /status,
# /metrics, /ready and /health. Then -t with the encrypted key: the
# right ssl.key.password_file passes (librdkafka decrypted the key), a
# wrong one fails; and -t of a broken configuration whose errors are
# about a URL and a rediss:// address holding passwords. Every secret
# string is looked for in everything captured.
set -euo pipefail

. "${srcdir:-$(dirname "$0")/../..}/tests/harness/servers.sh"
. "$ER_SRCDIR/tests/harness/relay.sh"

harness_require kcat curl openssl redis-cli
harness_init
tmp=$HARNESS_TMP
t_start=$(_h_now_ms)
out=$tmp/captured
mkdir -p "$out"
S_ENVURL=envurl-Zq81a S_FILEURL=fileurl-Xk27b S_REDISFILE=redisfile-Mp44c
S_KAFKAPLAIN=kafkaplain-Wd63d S_REDISPLAIN=redisplain-Hb90e S_REDISENV=redisenv-Tc35f
S_KAFKAFILE=kafkafile-Ny52g S_KEYPW=keypw-Rf18h S_WRONGKEYPW=wrongkeypw-Qe29i
S_BADURL=badurl-Lu73j S_REDISS=rediss-Gv06k
secrets=("$S_ENVURL" "$S_FILEURL" "$S_REDISFILE" "$S_KAFKAPLAIN" "$S_REDISPLAIN"
	"$S_REDISENV" "$S_KAFKAFILE" "$S_KEYPW" "$S_WRONGKEYPW" "$S_BADURL" "$S_REDISS")

cat >"$tmp/definitions.json" <<EOF
{"vhosts": [{"name": "/"}],
 "users": [{"name": "guest", "password": "guest", "tags": "administrator"},
           {"name": "relay", "password": "$S_ENVURL", "tags": ""},
           {"name": "relay2", "password": "$S_FILEURL", "tags": ""}],
 "permissions": [
  {"user": "guest", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"},
  {"user": "relay", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"},
  {"user": "relay2", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"}]}
EOF
start_rabbitmq "load_definitions = $tmp/definitions.json"
start_redis --user relay on ">$S_REDISFILE" '~event-relay:*' +@all \
	--user relay2 on ">$S_REDISENV" '~event-relay:*' +@all
start_kafka_mock events:4
printf '%s\n' "$S_REDISFILE" >"$tmp/redis.pw"
printf '%s\n' "$S_KAFKAFILE" >"$tmp/kafka.pw"
printf '%s\n' "$S_KEYPW" >"$tmp/key.pw"
printf '%s\n' "$S_WRONGKEYPW" >"$tmp/wrongkey.pw"
chmod 0600 "$tmp"/*.pw
url_env="amqp://relay:$S_ENVURL@127.0.0.1:$AMQP_PORT/"
url_file="amqp://relay2:$S_FILEURL@127.0.0.1:$AMQP_PORT/"

# capture NAME: everything a user can see of the relay started last.
capture() {
	local n=$1
	relayctl status >"$out/$n.ctl-status.txt" 2>&1 || true
	relayctl status --json >"$out/$n.ctl-status.json" 2>&1 || true
	relayctl check-config >"$out/$n.check-config.txt" 2>&1 || true
	local path
	for path in status metrics ready health; do
		curl -s "$METRICS_URL/$path" >"$out/$n.http-$path.txt" || true
	done
}

# -t NAME [VAR=VALUE...]: event-relayd -t of relay.conf, output kept; its status in $rc.
check_t() {
	local n=$1
	shift
	rc=0
	env "$@" "$ER_RELAYD" -t -c "$tmp/relay.conf" >"$out/$n.t.txt" 2>&1 || rc=$?
}

# ---- A: relays, secrets in RABBITMQ_URL, the file's URL, redis.password_file, sasl.password
cat >"$tmp/relay.conf" <<EOF
log.level = "debug";
rabbitmq.url = "$url_file";
redis = { username = "relay"; password_file = "$tmp/redis.pw"; };
kafka.properties = [ "sasl.username=relay", "sasl.password=$S_KAFKAPLAIN" ];
EOF
"$ER_PUBLISH" -u "$AMQP_URL" -q events -n 500 --persistent --expected "$tmp/expected" >/dev/null
start_relay WORKER_COUNT=2 RABBITMQ_URL="$url_env"
wait_metric event_relay_acked_total == 500 60
grep -qF "consuming events on amqp://relay:********@127.0.0.1:$AMQP_PORT/" "$tmp/relay.log" ||
	h_fail "A: not consuming with the RABBITMQ_URL user"
capture A
check_t A RABBITMQ_URL="$url_env"
((rc == 0)) || h_fail "A: -t failed: $(cat "$out/A.t.txt")"
harness_stop_pid "$RELAY_PID" 30 || h_fail "A: event-relayd exited with status $?"

# ---- B: REDIS_USERNAME/REDIS_PASSWORD over redis.password, SASL PLAIN with sasl.password_file
cat >"$tmp/relay.conf" <<EOF
log.level = "debug";
rabbitmq.url = "$url_file";
redis.password = "$S_REDISPLAIN";
kafka.properties = [ "security.protocol=sasl_plaintext", "sasl.mechanism=PLAIN",
  "sasl.username=relay", "sasl.password_file=$tmp/kafka.pw" ];
EOF
spawn_relay WORKER_COUNT=1 RABBITMQ_URL= REDIS_USERNAME=relay2 REDIS_PASSWORD="$S_REDISENV"
sasl_refused() { grep -q 'kafka_sink: .*SASL' "$tmp/relay.log"; }
wait_for --deadline 30 sasl_refused ||
	h_fail "B: no SASL error from librdkafka: $(grep kafka_sink "$tmp/relay.log" | tail -n 3)"
h_log "B: the mock cluster refuses SASL, as expected:"
grep -m 1 'kafka_sink: .*SASL' "$tmp/relay.log" | sed 's/^/    /' >&2
wait_for --deadline 20 grep -qF "consuming events on amqp://relay2:********@" "$tmp/relay.log" ||
	h_fail "B: did not reach RabbitMQ with the file's URL"
wait_for --deadline 20 eval "[[ \$(redis-cli -p $REDIS_PORT client list | grep -c ' user=relay2 ') -ge 1 ]]" ||
	h_fail "B: not logged in to Redis as relay2"
capture B
check_t B REDIS_USERNAME=relay2 REDIS_PASSWORD="$S_REDISENV"
((rc == 0)) || h_fail "B: -t failed: $(cat "$out/B.t.txt")"
harness_stop_pid "$RELAY_PID" 30 || h_fail "B: event-relayd exited with status $?"

# ---- -t: an encrypted Kafka client key, its password from a file
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -aes-256-cbc \
	-pass "file:$tmp/key.pw" -out "$tmp/kafka.key" 2>/dev/null
openssl req -x509 -key "$tmp/kafka.key" -passin "file:$tmp/key.pw" -subj /CN=relay -days 2 \
	-out "$tmp/kafka.pem" 2>/dev/null
tls_conf() {
	cat >"$tmp/relay.conf" <<EOF
kafka.properties = [ "security.protocol=ssl", "ssl.ca.location=$tmp/kafka.pem",
  "ssl.certificate.location=$tmp/kafka.pem", "ssl.key.location=$tmp/kafka.key",
  "ssl.key.password_file=$1" ];
EOF
}
tls_conf "$tmp/key.pw"
check_t key-right
((rc == 0)) || h_fail "-t with the key's password from a file failed: $(cat "$out/key-right.t.txt")"
tls_conf "$tmp/wrongkey.pw"
check_t key-wrong
((rc == 1)) || h_fail "-t with a wrong key password exited $rc, want 1"
grep -q 'ssl.key.location failed' "$out/key-wrong.t.txt" ||
	h_fail "-t with a wrong key password: $(cat "$out/key-wrong.t.txt")"
h_log "ssl.key.password_file reaches librdkafka: the right one decrypts the key, a wrong one:"
sed 's/^/    /' "$out/key-wrong.t.txt" >&2

# ---- -t: errors about values that hold passwords
cat >"$tmp/relay.conf" <<EOF
rabbitmq.url = "amqp://relay:$S_BADURL@127.0.0.1:0/";
EOF
check_t broken REDIS_ADDR="rediss://:$S_REDISS@redis.example.com:6380"
((rc == 1)) || h_fail "-t of a broken configuration exited $rc, want 1"
if ! grep -q 'rabbitmq.url: port must be a number' "$out/broken.t.txt" ||
	! grep -q 'environment: REDIS_ADDR: rediss:// (Redis over TLS) is not supported' \
		"$out/broken.t.txt"; then
	h_fail "-t of a broken configuration: $(cat "$out/broken.t.txt")"
fi
sed 's/^/    /' "$out/broken.t.txt" >&2

# ---- no secret anywhere
cp "$tmp/relay.log" "$out/relay.log"
files=$(find "$out" -type f | wc -l)
for s in "${secrets[@]}"; do
	if grep -rlF -- "$s" "$out" >&2; then
		grep -rnF -- "$s" "$out" | head -n 3 >&2
		h_fail "a secret shows in the files above"
	fi
done
# The masks are there: the checks above looked at the right output.
grep -qF 'amqp://relay:********@' "$out/relay.log" || h_fail "no masked URL in the log"
grep -qF '"worker"' "$out/A.http-status.txt" || grep -qF 'workers' "$out/A.http-status.txt" ||
	h_fail "A: /status is empty: $(head -c 200 "$out/A.http-status.txt")"
grep -q '^event_relay_acked_total 500' "$out/A.http-metrics.txt" || h_fail "A: /metrics is wrong"
h_log "ops_secrets_redacted: ${#secrets[@]} secrets, none in $files captured outputs" \
	"($(wc -l <"$out/relay.log") log lines) in $(($(_h_now_ms) - t_start)) ms"
