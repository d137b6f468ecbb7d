# shellcheck shell=bash
# routes.sh: helpers for the route-file tests (source servers.sh and
# relay.sh first, then call harness_init).
#
#   route_file NAME              stdin becomes $HARNESS_TMP/routes.d/NAME
#   topic_records OUT TOPIC...   every record of the topics (er-topic's
#                                lines), read to the end, into OUT
#   record_view IN [HEADER...]   "<key>\t<value>[\t<header value>...]"
#                                per record of an er-topic file, sorted
#                                under LC_ALL=C; a header that is absent
#                                gives "-", a null one \N
#   header_of LINE NAME          the value of header NAME in one er-topic
#                                line (exit 1 if absent)
#   unesc TEXT                   the bytes of an esc.h-escaped TEXT
#   seed_body_view EXPECTED      er-publish --expected lines turned into
#                                "<correlation_id>\t<whole body>": what a
#                                `key: json:correlation_id, value: body`
#                                route writes for the seed events
#   queues_empty QUEUE...        every QUEUE exists and holds no message,
#                                ready or unacked (one rabbitmqctl call,
#                                which takes about a second)
#   queue_table                  "name ready unacked" of every queue
#   route_metric NAME ROUTE [REASON]  one event_relay_route_* series
#   status_json                  GET /status
#
# er-send publishes hand-made messages, er-topic reads topics back
# exactly and er-get -v reads queues exactly (see tests/tools/).

ER_SEND=${ER_SEND:-$ER_BUILDDIR/tests/tools/er-send}
ER_TOPIC=${ER_TOPIC:-$ER_BUILDDIR/tests/tools/er-topic}

route_file() {
	mkdir -p "$HARNESS_TMP/routes.d"
	cat >"$HARNESS_TMP/routes.d/$1"
}

topic_records() {
	local out=$1
	shift
	"$ER_TOPIC" -b "$KAFKA_BROKERS" -T "${ER_TOPIC_TIMEOUT:-60}" "$@" >"$out" ||
		h_fail "er-topic could not read $*"
}

record_view() {
	local in=$1
	shift
	awk -F'\t' -v OFS='\t' -v names="$*" '
	BEGIN { nn = split(names, want, " ") }
	{
		line = $5 OFS $6
		for (k = 1; k <= nn; k++) {
			v = "-"
			for (i = 7; i <= NF; i++) {
				if (index($i, want[k] "=") == 1) {
					v = substr($i, length(want[k]) + 2)
					break
				}
			}
			line = line OFS v
		}
		print line
	}' "$in" | LC_ALL=C sort
}

header_of() {
	awk -F'\t' -v n="$2" '{
		for (i = 7; i <= NF; i++)
			if (index($i, n "=") == 1) { print substr($i, length(n) + 2); found = 1; exit }
	} END { exit !found }' <<<"$1"
}

unesc() {
	printf '%b' "$1"
}

seed_body_view() {
	awk -F'\t' -v OFS='\t' '{
		print $3, "{\"event_id\":\"" $1 "\",\"correlation_id\":\"" $3 "\",\"payload\":" $2 "}"
	}' "$1" | LC_ALL=C sort
}

queue_table() {
	rmq_queues name messages_ready messages_unacknowledged
}

queues_empty() {
	local out q
	out=$(queue_table) || return 1
	for q in "$@"; do
		awk -F'\t' -v q="$q" '$1 == q && $2 == 0 && $3 == 0 { found = 1 }
			END { exit !found }' <<<"$out" || return 1
	done
}

route_metric() {
	if (($# == 3)); then
		metric "event_relay_route_$1{route=\"$2\",reason=\"$3\"}"
	else
		metric "event_relay_route_$1{route=\"$2\"}"
	fi
}

status_json() {
	curl -sf "$METRICS_URL/status"
}
