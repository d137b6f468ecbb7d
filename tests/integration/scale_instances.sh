#!/bin/bash
# scale_instances.sh: three independent relays (three masters, one worker
# each, instance names relay-a, relay-b, relay-c) consume the same queue
# and share one Redis. Every event reaches Kafka exactly once: the Redis
# claims keep the instances from producing the same event twice, and
# nothing is lost. Each instance takes a share, shows its name in
# /status, and signs its dead letters with it. The events (relay_test_
# start's 20,000, every 10th twice, 20 poison) are published once all
# three are ready, so that each has a share to take: pre-loaded, the
# first instance up could drain the queue before the third connected.
set -euo pipefail

. "${srcdir:-$(dirname "$0")/../..}/tests/harness/servers.sh"
. "$ER_SRCDIR/tests/harness/relay.sh"

harness_require kcat curl
harness_init
start_rabbitmq
start_redis
start_kafka_mock events:16
names=(relay-a relay-b relay-c) pids=() urls=()
for name in "${names[@]}"; do
	spawn_relay WORKER_COUNT=1 EVENT_RELAY_INSTANCE="$name"
	pids+=("$RELAY_PID") urls+=("$METRICS_URL")
done
for url in "${urls[@]}"; do
	wait_for --deadline 60 curl -sf -o /dev/null "$url/ready" ||
		h_fail "$url did not become ready: $(tail -n 20 "$HARNESS_TMP/relay.log")"
done
"$ER_PUBLISH" -u "$AMQP_URL" -q events --passive -n 20000 --dup-every 10 \
	--poison-every 1000 --persistent --expected "$HARNESS_TMP/expected"
wait_queue_empty events 180 || h_fail "events queue not drained: $(queue_counts events)"
shares=()
for i in 0 1 2; do
	METRICS_URL=${urls[i]}
	wait_metric event_relay_in_flight == 0 60
	name=$(curl -sf "$METRICS_URL/status" | jq -r .instance)
	[[ $name == "${names[i]}" ]] ||
		h_fail "instance $i: /status says instance $name"
	shares+=("$name $(metric event_relay_consumed_total)")
done
for s in "${shares[@]}"; do
	((${s#* } > 0)) || h_fail "an instance consumed nothing (${shares[*]}): the test proves nothing"
done
# shellcheck disable=SC2031 # start_kafka_mock set it in this shell
"$READ_TOPIC" "$KAFKA_BROKERS" events "$HARNESS_TMP/got"
check_exactly_once "$HARNESS_TMP/expected" "$HARNESS_TMP/got"
[[ $(queue_counts events.dlq) == "20 0" ]] || h_fail "events.dlq: $(queue_counts events.dlq)"
signed=$(RABBITMQ_URL=$AMQP_URL "$ER_CTL" dlq list --json | jq -r .worker | cut -d/ -f1 | sort -u | tr '\n' ' ')
[[ $signed =~ ^(relay-[abc] )+$ ]] || h_fail "dead letters signed by: $signed"
h_log "scale_instances: 20000 events exactly once; deliveries consumed per instance:" \
	"${shares[*]}; dead letters signed by $signed"
for pid in "${pids[@]}"; do
	harness_stop_pid "$pid" 40 || h_fail "event-relayd $pid exited with status $?"
done
