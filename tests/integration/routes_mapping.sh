#!/bin/bash
# routes_mapping.sh: what route files make of a delivery, checked byte
# for byte on what reaches Kafka (er-topic), with one worker (so that
# the order of one key is the order of publishing).
#
#   bin      1,000 binary bodies (every byte 0x00-0xff), id in
#            message_id, every 10th twice: value: body byte-exact, key =
#            the id, 100 duplicates caught
#   ordered  600 events over 5 keys taken from a nested field (json:a.b):
#            each key in one partition, in publish order
#   json     json: keys, values and headers of every JSON kind: strings
#            unescaped, numbers/objects/arrays as their exact text, a
#            string value keeps its quotes, null a null header, absent
#            no header; ids unescaped ("j\u0035" = "j5") and numbers
#            as text (12345 = "12345") for de-duplication
#   hdr      every basic property (strings raw, timestamp in seconds,
#            priority and delivery_mode decimal; unset: no header), AMQP
#            headers renamed and by prefix (x-val-* -> v-*) of every AMQP
#            field type in the documented encoding, header:NAME keys
#            (string, integer, bytes); a valid traceparent/tracestate
#            arrives unchanged, two invalid ones are not copied and are
#            counted; Kafka CreateTime = the AMQP timestamp (seconds, or
#            ms when >= 10^11), the relay's time when there is none
#   notrace  trace_context: false (a valid traceparent is not copied),
#            timestamp: now, key: none, an integer header id
# Per-route counters agree; nothing is dead-lettered.
#
# The broker hands headers to a classic queue's consumer byte for byte,
# so every AMQP field kind the relay can meet is sent here except the
# floats NaN and +-Infinity, which RabbitMQ 3.10 refuses at publish
# (541 INTERNAL_ERROR); a quorum queue would turn u64 (L) into i64 (l).
set -euo pipefail

. "${srcdir:-$(dirname "$0")/../..}/tests/harness/servers.sh"
. "$ER_SRCDIR/tests/harness/relay.sh"
. "$ER_SRCDIR/tests/harness/routes.sh"

harness_require curl jq
harness_init
tmp=$HARNESS_TMP
start_rabbitmq
start_redis
start_kafka_mock t-bin:4 t-ord:4 t-json:2 t-hdr:2 t-notrace:1

route_file 10-mapping.yaml <<'EOF'
routes:
  - name: bin
    queue: q-bin
    topic: t-bin
    id: property:message_id
    value: body
  - name: ordered
    queue: q-ord
    topic: t-ord
    id: json:event_id
    key: json:a.b
    value: body
  - name: json
    queue: q-json
    topic: t-json
    id: json:event_id
    key: json:k
    value: json:v
    headers:
      s: json:s
      n: json:n
      o: json:o
      z: json:z
      t: json:t
      deep: json:o.x.1
      absent: json:nope
EOF
route_file 20-amqp.yaml <<'EOF'
routes:
  - name: hdr
    queue: q-hdr
    topic: t-hdr
    id: property:message_id
    key: header:x-key
    value: body
    headers:
      msg-id: property:message_id
      corr: property:correlation_id
      type: property:type
      app: property:app_id
      ctype: property:content_type
      cenc: property:content_encoding
      user: property:user_id
      reply: property:reply_to
      exp: property:expiration
      ts: property:timestamp
      prio: property:priority
      mode: property:delivery_mode
      flag: header:x-flag
      absent: header:x-absent
      "v-*": "header:x-val-*"
  - name: notrace
    queue: q-notrace
    topic: t-notrace
    id: header:x-id
    key: none
    value: body
    timestamp: now
    trace_context: false
EOF

# ---- what is published
"$ER_SEND" -u "$AMQP_URL" --declare-queue q-bin --declare-queue q-hdr --declare-queue q-notrace \
	-n 0 >/dev/null
"$ER_SEND" -u "$AMQP_URL" -q q-bin --binary 1000 --dup-every 10 --expected "$tmp/bin.want" >/dev/null

for ((i = 1; i <= 600; i++)); do
	printf '{"event_id":"o-%05d","a":{"b":"k%d"},"seq":%d}\n' "$i" $((i % 5)) "$i"
done >"$tmp/ordered.in"
"$ER_PUBLISH" -u "$AMQP_URL" -q q-ord --raw "$tmp/ordered.in" >/dev/null

cat >"$tmp/json.in" <<'EOF'
{"event_id":"j1","k":"k\u00e9\"q","v":{"a": [1, 2]},"s":"a\"b\\c\u00e9","n":-1.5e3,"o":{"x":[1,true]},"z":null,"t":true}
{"event_id":"j2","k":42,"v":"str"}
{"event_id":"j3","k":{"x": 1},"v":[1,2]}
{"event_id":"j4","k":true,"v":null}
{"event_id":"j\u0035","k":"first","v":1}
{"event_id":"j5","k":"second","v":2}
{"event_id":12345,"k":"num-id","v":3}
{"event_id":"12345","k":"num-id-again","v":4}
EOF
"$ER_PUBLISH" -u "$AMQP_URL" -q q-json --raw "$tmp/json.in" >/dev/null

tp=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
ts_state='rojo=00f067aa0ba902b7,congo=t61rcWkgMzE'
# Every AMQP field kind, as header x-val-NAME: NAME=SPEC=EXPECTED (the
# Kafka header value, esc.h-escaped; \N: a null-valued header).
kinds=(
	'bt=t:true=true' 'bf=t:false=false'
	'i8=b:-128=-128' 'u8=B:255=255' 'i16=s:-32768=-32768' 'u16=u:65535=65535'
	'i32=I:-2147483648=-2147483648' 'u32=i:4294967295=4294967295'
	'i64=l:-9223372036854775808=-9223372036854775808' 'u64=L:18446744073709551615=18446744073709551615'
	'f=f:1.5=1.5' 'f2=f:0.1=0.1' 'd=d:0.1=0.1' 'd2=d:-2.5=-2.5' 'd3=d:123456.789=123456.789'
	'dec=D:2:12345=123.45' 'dec0=D:0:7=7' 'dec3=D:3:5=0.005'
	'str=S:h\xc3\xa9llo, w\xc3\xb6rld=h\xc3\xa9llo, w\xc3\xb6rld' 'empty=S:=' 'bin=x:\x00\x01\xff=\x00\x01\xff'
	'ts=T:1700000000=1700000000' 'void=V=\N'
)
hargs=()
for k in "${kinds[@]}"; do
	name=${k%%=*} rest=${k#*=}
	hargs+=(-H "x-val-$name=${rest%=*}")
done
# Tables and arrays: JSON keeping the types (compared as JSON below).
hargs+=(-H 'x-val-tab=F:{a=S:x\x2cy,b=I:1,c=F:{d=V},e=A:[t:true,l:5],f=D:2:12345,g=d:0.5,h=x:\x00\x01\xff,i=T:1700000000}')
hargs+=(-H 'x-val-arr=A:[S:a,I:-1,x:\xff,F:{k=d:2.5},A:[],t:false,V]')
tab_want='{"a":"x,y","b":1,"c":{"d":null},"e":[true,5],"f":123.45,"g":0.5,"h":"AAH/","i":1700000000}'
arr_want='["a",-1,"/w==",{"k":2.5},[],false,null]'

t_start=$(_h_now_ms)
"$ER_SEND" -u "$AMQP_URL" -q q-hdr -b all -p message_id=m-all -p correlation_id=c-1 -p type=ty \
	-p app_id=app -p content_type=application/octet-stream -p content_encoding=gzip \
	-p user_id=guest -p reply_to=rq -p expiration=600000 -p timestamp=1700000001 \
	-p priority=7 -p delivery_mode=2 -H 'x-key=S:key-1' -H 'x-flag=t:true' "${hargs[@]}" \
	-H "traceparent=S:$tp" -H "tracestate=S:$ts_state" >/dev/null
# Nothing but message_id: no property headers; an integer key; an
# invalid traceparent (all-zero trace id) and its tracestate not copied.
"$ER_SEND" -u "$AMQP_URL" -q q-hdr -b none -p message_id=m-none -H 'x-key=I:42' \
	-H 'traceparent=S:00-00000000000000000000000000000000-00f067aa0ba902b7-01' \
	-H 'tracestate=S:a=b' >/dev/null
# Upper-case hex is not a valid traceparent either; a byte-array key.
"$ER_SEND" -u "$AMQP_URL" -q q-hdr -b upper -p message_id=m-upper -H 'x-key=x:\x00k\xff' \
	-H "traceparent=S:${tp^^}" -p timestamp=1700000000123 >/dev/null
"$ER_SEND" -u "$AMQP_URL" -q q-hdr -b seconds -p message_id=m-sec -H 'x-key=S:s' \
	-p timestamp=1700000000 >/dev/null
# timestamp: now, no key, an integer id; the second is its duplicate.
"$ER_SEND" -u "$AMQP_URL" -q q-notrace -b nt -H 'x-id=I:77' -H "traceparent=S:$tp" \
	-p timestamp=1700000000 >/dev/null
"$ER_SEND" -u "$AMQP_URL" -q q-notrace -b nt-dup -H 'x-id=S:77' >/dev/null

# ---- relay
start_relay WORKER_COUNT=1
# 1100 + 600 + 8 + 4 + 2 deliveries
wait_metric event_relay_acked_total == 1714 120
t_end=$(_h_now_ms)
wait_for --deadline 30 queues_empty q-bin q-ord q-json q-hdr q-notrace q-bin.dlq q-ord.dlq \
	q-json.dlq q-hdr.dlq q-notrace.dlq ||
	h_fail "queues not empty (nothing should be dead-lettered): $(queue_table | tr '\t\n' ' ,')"

# ---- bin: byte-exact binary values, keyed by message_id
topic_records "$tmp/bin.rec" t-bin
record_view "$tmp/bin.rec" >"$tmp/bin.got"
check_exactly_once "$tmp/bin.want" "$tmp/bin.got"
awk -F'\t' 'NF != 6' "$tmp/bin.rec" | grep -q . && h_fail "t-bin: a record with headers"
# The escaped text is the bytes: bin-00000001's value, unescaped, is its body.
first=$(grep -P '^([^\t]*\t){4}bin-00000001\t' "$tmp/bin.rec") || h_fail "t-bin: no bin-00000001"
cmp <(unesc "$(cut -f6 <<<"$first")") <(unesc "$(head -n 1 "$tmp/bin.want" | cut -f2)") ||
	h_fail "t-bin: bin-00000001's bytes differ"
[[ $(unesc "$(cut -f6 <<<"$first")" | od -An -tx1 -v | tr -d ' \n' | cut -c1-8) == 01020304 ]] ||
	h_fail "t-bin: bin-00000001 does not start with bytes 01 02 03 04"
[[ $(route_metric duplicates_total bin) == 100 ]] ||
	h_fail "bin: duplicates $(route_metric duplicates_total bin), want 100"
h_log "bin: 1000 binary values byte-exact, 100 duplicates caught"

# ---- ordered: one partition per key, publish order within it
topic_records "$tmp/ord.rec" t-ord
[[ $(wc -l <"$tmp/ord.rec") == 600 ]] || h_fail "t-ord: $(wc -l <"$tmp/ord.rec") records, want 600"
awk -F'\t' '{
	key = $5; part = $2; seq = $6; sub(/.*"seq":/, "", seq); sub(/}$/, "", seq)
	if (!(key in p)) p[key] = part
	if (p[key] != part) { print "key " key " in partitions " p[key] " and " part; bad = 1; exit }
	if (seq + 0 <= last[key] + 0) { print "key " key ": seq " seq " after " last[key]; bad = 1; exit }
	last[key] = seq; n[key]++
	want = "k" (seq % 5)
	if (key != want) { print "seq " seq " keyed " key ", want " want; bad = 1; exit }
} END {
	if (bad) exit 1
	for (k in n) if (n[k] != 120) { print "key " k ": " n[k] " records"; exit 1 }
}' "$tmp/ord.rec" >"$tmp/ord.err" || h_fail "t-ord: $(cat "$tmp/ord.err")"
h_log "ordered: 5 keys from json:a.b, each in one partition in publish order"

# ---- json: keys, values and headers from JSON
topic_records "$tmp/json.rec" t-json
cut -f5- "$tmp/json.rec" | LC_ALL=C sort >"$tmp/json.got"
LC_ALL=C sort >"$tmp/json.want" <<'EOF'
42	"str"
first	1
k\xc3\xa9"q	{"a": [1, 2]}	s=a"b\\c\xc3\xa9	n=-1.5e3	o={"x":[1,true]}	z=\N	t=true	deep=true
num-id	3
true	null
{"x": 1}	[1,2]
EOF
# Headers may come in any order: compare each record's sorted fields.
sortf() { awk -F'\t' -v OFS='\t' '{ s = $1 OFS $2; n = 0; delete h
	for (i = 3; i <= NF; i++) h[++n] = $i
	for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (h[j] < h[i]) { t = h[i]; h[i] = h[j]; h[j] = t }
	for (i = 1; i <= n; i++) s = s OFS h[i]; print s }' "$1" | LC_ALL=C sort; }
if ! cmp -s <(sortf "$tmp/json.want") <(sortf "$tmp/json.got"); then
	diff <(sortf "$tmp/json.want") <(sortf "$tmp/json.got") >&2 || true
	h_fail "t-json: records differ (want < > got)"
fi
[[ $(route_metric duplicates_total json) == 2 ]] ||
	h_fail "json: duplicates $(route_metric duplicates_total json), want 2 (j\\u0035 = j5, 12345 = \"12345\")"
h_log "json: keys, values and headers of every JSON kind as documented"

# relay_time TSTYPE:MS: a CreateTime taken while the test ran.
relay_time() {
	[[ $1 =~ ^create:([0-9]+)$ ]] || return 1
	((BASH_REMATCH[1] >= t_start - 1000 && BASH_REMATCH[1] <= t_end + 1000))
}

# ---- hdr: properties, every AMQP field kind, trace context, timestamps
topic_records "$tmp/hdr.rec" t-hdr
[[ $(wc -l <"$tmp/hdr.rec") == 4 ]] || h_fail "t-hdr: $(wc -l <"$tmp/hdr.rec") records, want 4"
rec() { grep -P "^([^\t]*\t){5}$1(\t|\$)" "$tmp/hdr.rec" || h_fail "t-hdr: no record with value $1"; }
all=$(rec all)
[[ $(cut -f5 <<<"$all") == key-1 ]] || h_fail "m-all: key $(cut -f5 <<<"$all"), want key-1"
want_hdr() { # LINE WHAT NAME VALUE
	local got
	got=$(header_of "$1" "$3") || h_fail "$2: no Kafka header $3"
	[[ $got == "$4" ]] || h_fail "$2: header $3 is '$got', want '$4'"
}
for kv in msg-id=m-all corr=c-1 type=ty app=app ctype=application/octet-stream cenc=gzip \
	user=guest reply=rq exp=600000 ts=1700000001 prio=7 mode=2 flag=true \
	"traceparent=$tp" "tracestate=$ts_state"; do
	want_hdr "$all" m-all "${kv%%=*}" "${kv#*=}"
done
for k in "${kinds[@]}"; do
	want_hdr "$all" "m-all x-val-${k%%=*} (${k#*=})" "v-${k%%=*}" "${k##*=}"
done
tab=$(header_of "$all" v-tab) || h_fail "m-all: no header v-tab"
arr=$(header_of "$all" v-arr) || h_fail "m-all: no header v-arr"
[[ $(unesc "$tab" | jq -c . 2>&1) == "$(jq -c . <<<"$tab_want")" ]] ||
	h_fail "m-all: table header v-tab is '$tab', want $tab_want"
[[ $(unesc "$arr" | jq -c . 2>&1) == "$(jq -c . <<<"$arr_want")" ]] ||
	h_fail "m-all: array header v-arr is '$arr', want $arr_want"
[[ $tab == "$tab_want" && $arr == "$arr_want" ]] ||
	h_log "note: v-tab/v-arr are the same JSON written otherwise: $tab $arr"
header_of "$all" absent >/dev/null && h_fail "m-all: a header for the absent x-absent"
nh=$(awk -F'\t' '{ print NF - 6 }' <<<"$all")
((nh == 15 + ${#kinds[@]} + 2)) ||
	h_fail "m-all: $nh headers, want $((15 + ${#kinds[@]} + 2)): $(cut -f7- <<<"$all")"
[[ $(cut -f4 <<<"$all") == create:1700000001000 ]] ||
	h_fail "m-all: timestamp $(cut -f4 <<<"$all"), want create:1700000001000 (AMQP seconds)"

none=$(rec none)
[[ $(cut -f5 <<<"$none") == 42 ]] || h_fail "m-none: key $(cut -f5 <<<"$none"), want 42"
[[ $(cut -f7- <<<"$none") == msg-id=m-none ]] ||
	h_fail "m-none: headers '$(cut -f7- <<<"$none")', want only msg-id=m-none (an invalid traceparent and its tracestate are not copied)"
relay_time "$(cut -f4 <<<"$none")" ||
	h_fail "m-none (no AMQP timestamp): Kafka timestamp $(cut -f4 <<<"$none"), want the relay's time ($t_start..$t_end)"

upper=$(rec upper)
[[ $(cut -f5 <<<"$upper") == '\x00k\xff' ]] || h_fail "m-upper: key $(cut -f5 <<<"$upper"), want \\x00k\\xff"
header_of "$upper" traceparent >/dev/null && h_fail "m-upper: an upper-case traceparent was copied"
[[ $(cut -f4 <<<"$upper") == create:1700000000123 ]] ||
	h_fail "m-upper: timestamp $(cut -f4 <<<"$upper"), want create:1700000000123 (AMQP ms)"
[[ $(cut -f4 <<<"$(rec seconds)") == create:1700000000000 ]] ||
	h_fail "m-sec: timestamp $(cut -f4 <<<"$(rec seconds)"), want create:1700000000000"
assert_metric event_relay_trace_context_invalid_total 2
h_log "hdr: every property and AMQP field kind as documented, trace context, timestamps"

# ---- notrace: trace_context: false, timestamp: now, key: none
topic_records "$tmp/nt.rec" t-notrace
[[ $(wc -l <"$tmp/nt.rec") == 1 ]] || h_fail "t-notrace: $(wc -l <"$tmp/nt.rec") records, want 1"
nt=$(cat "$tmp/nt.rec")
[[ $(cut -f5-6 <<<"$nt") == '\N	nt' ]] || h_fail "t-notrace: key/value '$(cut -f5-6 <<<"$nt")', want no key, nt"
[[ $(awk -F'\t' '{ print NF }' <<<"$nt") == 6 ]] || h_fail "t-notrace: headers copied: $(cut -f7- <<<"$nt")"
relay_time "$(cut -f4 <<<"$nt")" ||
	h_fail "t-notrace (timestamp: now): Kafka timestamp $(cut -f4 <<<"$nt"), want the relay's time ($t_start..$t_end)"
[[ $(route_metric duplicates_total notrace) == 1 ]] ||
	h_fail "notrace: duplicates $(route_metric duplicates_total notrace), want 1 (I:77 = S:77)"

# ---- counters
for r in bin:1100:1000 ordered:600:600 json:8:6 hdr:4:4 notrace:2:1; do
	IFS=: read -r name c p <<<"$r"
	[[ $(route_metric consumed_total "$name") == "$c" && $(route_metric published_total "$name") == "$p" ]] ||
		h_fail "route $name: consumed $(route_metric consumed_total "$name") published" \
			"$(route_metric published_total "$name"), want $c $p"
done
assert_metric event_relay_published_total 1611
curl -sf "$METRICS_URL/metrics" >"$tmp/metrics"
awk '/^event_relay_dead_lettered_total\{/ && $2 != 0 { print; bad = 1 } END { exit bad }' "$tmp/metrics" ||
	h_fail "something was dead-lettered"
harness_stop_pid "$RELAY_PID" 40 || h_fail "event-relayd exited with status $?"
h_log "routes_mapping: 1714 deliveries over 5 routes, every mapping as documented"
