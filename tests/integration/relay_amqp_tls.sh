#!/bin/bash
# relay_amqp_tls.sh: the relay consumes over amqps:// from a private
# RabbitMQ TLS listener (certificates made by openssl here), with peer
# and host name verification on.
#  1. A CA that did not sign the broker's certificate: each attempt logs
#     "TLS certificate verification failed" naming the URL (password
#     masked) and the CA file, and is retried; `event-relayctl reload
#     --wait` with the right CA relays the first batch.
#  2. A host the certificate is not for (127.0.0.1; it names localhost):
#     "TLS host name verification failed", retried; a reload with the
#     URL's server_name_indication=localhost relays the second batch.
#  3. EXTERNAL login with a client certificate (CN relay-ext, a RabbitMQ
#     user without a password; plugin rabbitmq_auth_mechanism_ssl): a
#     reload relays the third batch, and RabbitMQ lists the connection as
#     user relay-ext, mechanism EXTERNAL, over TLS; `event-relayctl dlq
#     list` connects the same way.
# Every event reaches Kafka exactly once; the PLAIN password never shows
# in the log.
set -euo pipefail

. "${srcdir:-$(dirname "$0")/../..}/tests/harness/servers.sh"
. "$ER_SRCDIR/tests/harness/relay.sh"

harness_require kcat curl openssl
harness_init
tmp=$HARNESS_TMP
t_start=$(_h_now_ms)
log=$tmp/relay.log
password=tls-Pw-4f9c1e
# The users, made as the node boots (a rabbitmqctl call costs seconds):
# guest for the publisher, relay (PLAIN), relay-ext with no password (it
# can only log in with its certificate, EXTERNAL).
cat >"$tmp/definitions.json" <<EOF
{"vhosts": [{"name": "/"}],
 "users": [{"name": "guest", "password": "guest", "tags": "administrator"},
           {"name": "relay", "password": "$password", "tags": ""},
           {"name": "relay-ext", "password_hash": "", "tags": ""}],
 "permissions": [
  {"user": "guest", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"},
  {"user": "relay", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"},
  {"user": "relay-ext", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"}]}
EOF
start_rabbitmq_tls "load_definitions = $tmp/definitions.json"
start_redis
start_kafka_mock events:4

# conf URL [SETTING...]: one worker, quick retries, the rabbitmq group.
conf() {
	local url=$1
	shift
	{
		printf 'workers = 1;\nlog.level = "debug";\n'
		printf 'resilience = { retry_initial_delay_ms = 100; retry_max_delay_ms = 400; };\n'
		printf 'rabbitmq = {\n  url = "%s";\n  connect_timeout = 2;\n' "$url"
		printf '  %s\n' "$@"
		printf '};\n'
	} >"$tmp/relay.conf"
}

# publish N START: N events over the plain listener, expected in $tmp/exp.START
publish() {
	"$ER_PUBLISH" -u "$AMQP_URL" -q events -n "$1" -s "$2" --persistent \
		--expected "$tmp/exp.$2" >/dev/null
}

# logged_twice TEXT: TEXT is in the log at least twice (the first failure
# as a warning, a retry at debug).
logged_twice() {
	(($(grep -cF -- "$1" "$log" || true) >= 2))
}

reload() {
	local out
	out=$(relayctl reload --wait) || h_fail "reload --wait failed: $out"
	h_log "reload: ${out%%$'\n'*}"
}

# ---- 1. wrong CA, then the right one
shown="amqps://relay:********@localhost:$AMQPS_PORT/"
publish 500 1
conf "amqps://relay:$password@localhost:$AMQPS_PORT/" \
	"tls_ca_file = \"$TLS_DIR/other-ca.pem\";"
spawn_relay RABBITMQ_URL= WORKER_COUNT=
want="amqp_source: $shown: TLS certificate verification failed: self-signed certificate in certificate chain (depth 1, subject /CN=er-test-ca): the broker's certificate does not chain to a CA in $TLS_DIR/other-ca.pem"
wait_for --deadline 20 logged_twice "$want" ||
	h_fail "wrong CA: no clear error, retried: $(grep amqp_source "$log" | tail -n 3)"
h_log "wrong CA reported and retried:"
grep -F -m 1 -- "$want" "$log" | sed 's/^/    /' >&2
conf "amqps://relay:$password@localhost:$AMQPS_PORT/" "tls_ca_file = \"$TLS_DIR/ca.pem\";"
reload
wait_metric event_relay_acked_total == 500 60
grep -qF "amqp_source: consuming events on $shown" "$log" ||
	h_fail "no 'consuming' line for the TLS URL"

# ---- 2. a host the certificate is not for, then the name it is for
harness_stop_pid "$RELAY_PID" 30 || h_fail "event-relayd exited with status $?"
publish 500 1001
shown="amqps://relay:********@127.0.0.1:$AMQPS_PORT/"
conf "amqps://relay:$password@127.0.0.1:$AMQPS_PORT/" "tls_ca_file = \"$TLS_DIR/ca.pem\";"
spawn_relay RABBITMQ_URL= WORKER_COUNT=
want="amqp_source: $shown: TLS host name verification failed: the broker's certificate is not for \"127.0.0.1\" (it is for DNS:localhost)"
wait_for --deadline 20 logged_twice "$want" ||
	h_fail "wrong host: no clear error, retried: $(grep amqp_source "$log" | tail -n 3)"
h_log "wrong host name reported and retried:"
grep -F -m 1 -- "$want" "$log" | sed 's/^/    /' >&2
conf "amqps://relay:$password@127.0.0.1:$AMQPS_PORT/?server_name_indication=localhost" \
	"tls_ca_file = \"$TLS_DIR/ca.pem\";"
reload
wait_metric event_relay_acked_total == 500 60

# ---- 3. EXTERNAL login with the client certificate
publish 500 2001
conf "amqps://localhost:$AMQPS_PORT/?auth_mechanism=external" \
	"tls_ca_file = \"$TLS_DIR/ca.pem\";" \
	"tls_cert_file = \"$TLS_DIR/client.pem\";" \
	"tls_key_file = \"$TLS_DIR/client.key\";"
reload
wait_metric event_relay_acked_total == 1000 60 # counted across the reload
conns=$(rmq_ctl list_connections -q --no-table-headers user auth_mechanism ssl)
grep -qP '^relay-ext\tEXTERNAL\ttrue$' <<<"$conns" ||
	h_fail "no EXTERNAL TLS connection of relay-ext: $conns"
h_log "EXTERNAL login: $(grep -P '^relay-ext' <<<"$conns" | tr '\t' ' ')"
# event-relayctl's dead-letter commands use the same settings.
out=$(relayctl dlq list 2>&1) || h_fail "event-relayctl dlq list over amqps:// failed: $out"
h_log "event-relayctl dlq list over amqps:// (EXTERNAL): ${out%%$'\n'*}"

wait_queue_empty events 30 || h_fail "events queue not empty: $(queue_counts events)"
# shellcheck disable=SC2031 # start_kafka_mock set it in this shell
"$READ_TOPIC" "$KAFKA_BROKERS" events "$tmp/got"
LC_ALL=C sort -m "$tmp/exp.1" "$tmp/exp.1001" "$tmp/exp.2001" >"$tmp/expected"
check_exactly_once "$tmp/expected" "$tmp/got"
grep -qF -- "$password" "$log" && h_fail "the log shows the password"
harness_stop_pid "$RELAY_PID" 30 || h_fail "event-relayd exited with status $?"
h_log "relay_amqp_tls: wrong CA and wrong host reported and retried, fixed by reload;" \
	"EXTERNAL login; 1500 events exactly once in $(($(_h_now_ms) - t_start)) ms"
