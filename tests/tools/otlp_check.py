#!/usr/bin/python3
"""otlp_check: checks what otlp_receiver.py stored against the OTLP/HTTP
JSON rules and against the Kafka records (er-topic's output).

    otlp_check.py DIR [--kafka FILE] [--sampled N] [--duplicates N]
                  [--service NAME] [--resource KEY=VALUE]...
                  [--propagation rewrite|passthrough] [--passthrough-from SEQ]
                  [--min-spans N]

Every request must be an ExportTraceServiceRequest in the protobuf JSON
mapping (ids lowercase hex of the right length and not all zero, 64-bit
integers as decimal strings, enums as integers, no unknown field). With
--sampled N, events come from er-publish --trace: exactly N events (the
even sequence numbers) have one process span parented on their incoming
span, with trace id and tracestate, and one send span below it; with
--kafka, each such record's traceparent names its send span (rewrite)
or is the incoming one (passthrough), and the others keep theirs.
Prints one line of counts; exit 1 with the reasons on a failure.
"""
import argparse
import collections
import glob
import json
import os
import re
import sys

HEX32 = re.compile(r"^[0-9a-f]{32}$")
HEX16 = re.compile(r"^[0-9a-f]{16}$")
DIGITS = re.compile(r"^(0|[1-9][0-9]*)$")

REQ_FIELDS = {"resourceSpans"}
RS_FIELDS = {"resource", "scopeSpans", "schemaUrl"}
SS_FIELDS = {"scope", "spans", "schemaUrl"}
SPAN_FIELDS = {"traceId", "spanId", "parentSpanId", "traceState", "name", "kind",
               "startTimeUnixNano", "endTimeUnixNano", "attributes", "events", "status",
               "links", "droppedAttributesCount", "droppedEventsCount", "droppedLinksCount",
               "flags"}
EVENT_FIELDS = {"timeUnixNano", "name", "attributes", "droppedAttributesCount"}
STATUS_FIELDS = {"code", "message"}

errors = []


def fail(msg):
    if len(errors) < 20:
        errors.append(msg)


def check_fields(obj, allowed, where):
    if not isinstance(obj, dict):
        fail("%s: not an object" % where)
        return
    extra = set(obj) - allowed
    if extra:
        fail("%s: unknown fields %s" % (where, sorted(extra)))


def attrs(lst, where):
    out = {}
    if not isinstance(lst, list):
        fail("%s: attributes not a list" % where)
        return out
    for a in lst:
        check_fields(a, {"key", "value"}, where + " attribute")
        v = a.get("value", {})
        if len(v) != 1:
            fail("%s: attribute %s: want one value kind, got %s" % (where, a.get("key"), v))
            continue
        kind, val = next(iter(v.items()))
        if kind == "stringValue":
            if not isinstance(val, str):
                fail("%s: %s: stringValue not a string" % (where, a["key"]))
        elif kind == "intValue":
            if not isinstance(val, str) or not re.match(r"^-?(0|[1-9][0-9]*)$", val):
                fail("%s: %s: intValue %r is not a decimal string" % (where, a["key"], val))
            val = int(val)
        else:
            fail("%s: %s: unexpected value kind %s" % (where, a["key"], kind))
        if a["key"] in out:
            fail("%s: attribute %s twice" % (where, a["key"]))
        out[a["key"]] = val
    return out


def check_span(s, where):
    check_fields(s, SPAN_FIELDS, where)
    if not HEX32.match(s.get("traceId", "")) or s["traceId"] == "0" * 32:
        fail("%s: traceId %r" % (where, s.get("traceId")))
    if not HEX16.match(s.get("spanId", "")) or s["spanId"] == "0" * 16:
        fail("%s: spanId %r" % (where, s.get("spanId")))
    if "parentSpanId" in s and (not HEX16.match(s["parentSpanId"]) or s["parentSpanId"] == "0" * 16):
        fail("%s: parentSpanId %r" % (where, s["parentSpanId"]))
    if not isinstance(s.get("kind"), int):
        fail("%s: kind %r is not an integer" % (where, s.get("kind")))
    for f in ("startTimeUnixNano", "endTimeUnixNano"):
        if not isinstance(s.get(f), str) or not DIGITS.match(s[f]):
            fail("%s: %s %r is not a decimal string" % (where, f, s.get(f)))
    if int(s.get("startTimeUnixNano", "0")) > int(s.get("endTimeUnixNano", "0")):
        fail("%s: ends before it starts" % where)
    if int(s.get("startTimeUnixNano", "0")) < 1600000000 * 10**9:
        fail("%s: start time is not a Unix time in ns" % where)
    st = s.get("status", {})
    check_fields(st, STATUS_FIELDS, where + " status")
    if "code" in st and not isinstance(st["code"], int):
        fail("%s: status code %r is not an integer" % (where, st["code"]))
    s["_attrs"] = attrs(s.get("attributes", []), where)
    for e in s.get("events", []):
        check_fields(e, EVENT_FIELDS, where + " event")
        if not DIGITS.match(e.get("timeUnixNano", "")):
            fail("%s: event time %r" % (where, e.get("timeUnixNano")))
        e["_attrs"] = attrs(e.get("attributes", []), where + " event")


def trace_ids(seq):
    return "7e1a7e1a00000000%016x" % seq, "%016x" % (0x5a00000000000000 + seq)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--kafka")
    ap.add_argument("--sampled", type=int)
    ap.add_argument("--duplicates", type=int, default=0)
    ap.add_argument("--service", default="event-relay")
    ap.add_argument("--resource", action="append", default=[])
    ap.add_argument("--propagation", default="rewrite")
    ap.add_argument("--passthrough-from", type=int, default=None,
                    help="events from this sequence number on were relayed with passthrough")
    ap.add_argument("--min-spans", type=int, default=0)
    ap.add_argument("--queue", default="events")
    ap.add_argument("--topic", default="events")
    o = ap.parse_args()

    spans = []
    files = sorted(glob.glob(os.path.join(o.dir, "req-*.json")))
    for path in files:
        with open(path, "rb") as f:
            raw = f.read()
        try:
            req = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            fail("%s: not UTF-8 JSON: %s" % (path, e))
            continue
        check_fields(req, REQ_FIELDS, path)
        for rs in req.get("resourceSpans", []):
            check_fields(rs, RS_FIELDS, path + " resourceSpans")
            res = attrs(rs.get("resource", {}).get("attributes", []), path + " resource")
            if res.get("service.name") != o.service:
                fail("%s: service.name %r, want %r" % (path, res.get("service.name"), o.service))
            for k in ("service.version", "host.name"):
                if not isinstance(res.get(k), str) or not res[k]:
                    fail("%s: resource %s missing" % (path, k))
            for k in ("process.pid", "event_relay.worker"):
                if not isinstance(res.get(k), int):
                    fail("%s: resource %s missing or not an integer" % (path, k))
            for kv in o.resource:
                k, v = kv.split("=", 1)
                if res.get(k) != v:
                    fail("%s: resource %s = %r, want %r" % (path, k, res.get(k), v))
            for ss in rs.get("scopeSpans", []):
                check_fields(ss, SS_FIELDS, path + " scopeSpans")
                if ss.get("scope", {}).get("name") != "event-relay":
                    fail("%s: scope name %r" % (path, ss.get("scope")))
                for i, s in enumerate(ss.get("spans", [])):
                    check_span(s, "%s span %d" % (path, i))
                    s["_res"] = res
                    spans.append(s)

    process = [s for s in spans if s.get("kind") == 5]
    send = [s for s in spans if s.get("kind") == 4]
    if len(process) + len(send) != len(spans):
        fail("spans of other kinds: %d" % (len(spans) - len(process) - len(send)))
    by_id = {}
    for s in spans:
        if s["spanId"] in by_id:
            fail("span id %s twice" % s["spanId"])
        by_id[s["spanId"]] = s
    for s in process:
        a = s["_attrs"]
        if s.get("name") != "process " + o.queue:
            fail("process span name %r" % s.get("name"))
        if a.get("messaging.system") != "rabbitmq" or a.get("messaging.destination.name") != o.queue:
            fail("process span attributes: %s" % a)
        if not isinstance(a.get("messaging.rabbitmq.message.delivery_tag"), int):
            fail("process span without a delivery tag: %s" % a)
        if "messaging.rabbitmq.destination.routing_key" not in a:
            fail("process span without a routing key: %s" % a)
    send_of = {}
    for s in send:
        a = s["_attrs"]
        p = by_id.get(s.get("parentSpanId"))
        if p is None or p.get("kind") != 5 or p["traceId"] != s["traceId"]:
            fail("send span %s: its parent is not a process span of its trace" % s["spanId"])
            continue
        if s.get("name") != "send " + o.topic:
            fail("send span name %r" % s.get("name"))
        if a.get("messaging.system") != "kafka" or a.get("messaging.destination.name") != o.topic:
            fail("send span attributes: %s" % a)
        if not isinstance(a.get("messaging.kafka.offset"), int) or \
                not re.match(r"^[0-9]+$", str(a.get("messaging.destination.partition.id", ""))):
            fail("send span without partition and offset: %s" % a)
        if s.get("status", {}).get("code", 0) != 0:
            fail("send span with status %s" % s["status"])
        if a.get("messaging.kafka.message.key") != p["_attrs"].get("event_relay.event.id"):
            fail("send span key %r, want the event id" % a.get("messaging.kafka.message.key"))
        send_of.setdefault(p["spanId"], []).append(s)

    kafka = {}
    if o.kafka:
        with open(o.kafka, encoding="utf-8", errors="replace") as f:
            for line in f:
                fields = line.rstrip("\n").split("\t")
                hdr = dict(x.split("=", 1) for x in fields[6:] if "=" in x)
                kafka[fields[4]] = (hdr, fields[1], fields[2])

    if o.sampled is not None:
        pairs = 0
        dups = 0
        seen = collections.Counter()
        for s in process:
            eid = s["_attrs"].get("event_relay.event.id", "")
            m = re.match(r"^ev-([0-9]{8})$", eid)
            if not m:
                fail("process span with event id %r" % eid)
                continue
            seq = int(m.group(1))
            tid, sid = trace_ids(seq)
            if seq % 2 != 0:
                fail("%s: a span for an event without a sampled traceparent" % eid)
                continue
            if s["traceId"] != tid or s.get("parentSpanId") != sid:
                fail("%s: trace %s parent %s, want %s %s" % (eid, s["traceId"], s.get("parentSpanId"), tid, sid))
            if s.get("traceState") != "er=t%d" % seq:
                fail("%s: traceState %r" % (eid, s.get("traceState")))
            sends = send_of.get(s["spanId"], [])
            events = [e["name"] for e in s.get("events", [])]
            if events == ["duplicate"]:
                if sends:
                    fail("%s: a duplicate with a send span" % eid)
                dups += 1
                continue
            if events:
                fail("%s: events %s" % (eid, events))
            if len(sends) != 1:
                fail("%s: %d send spans" % (eid, len(sends)))
                continue
            pairs += 1
            seen[eid] += 1
            if o.kafka:
                rec = kafka.get(eid)
                if rec is None:
                    fail("%s: not in Kafka" % eid)
                    continue
                hdr = rec[0]
                rewrite = o.propagation == "rewrite" and not (
                    o.passthrough_from is not None and seq >= o.passthrough_from)
                want = "00-%s-%s-01" % (tid, sends[0]["spanId"] if rewrite else sid)
                if hdr.get("traceparent") != want:
                    fail("%s: Kafka traceparent %r, want %r" % (eid, hdr.get("traceparent"), want))
                if hdr.get("tracestate") != "er=t%d" % seq:
                    fail("%s: Kafka tracestate %r" % (eid, hdr.get("tracestate")))
                a = sends[0]["_attrs"]
                if (a.get("messaging.destination.partition.id"), str(a.get("messaging.kafka.offset"))) != (rec[1], rec[2]):
                    fail("%s: span partition/offset %s/%s, Kafka %s/%s" % (
                        eid, a.get("messaging.destination.partition.id"), a.get("messaging.kafka.offset"), rec[1], rec[2]))
        for eid, n in seen.items():
            if n != 1:
                fail("%s: %d process+send pairs" % (eid, n))
        if pairs != o.sampled:
            fail("process+send pairs: got %d, want %d" % (pairs, o.sampled))
        if dups != o.duplicates:
            fail("duplicate process spans: got %d, want %d" % (dups, o.duplicates))
        if o.kafka:
            for eid, (hdr, _, _) in kafka.items():
                seq = int(eid[3:])
                tid, sid = trace_ids(seq)
                if seq % 4 == 1 and hdr.get("traceparent") != "00-%s-%s-00" % (tid, sid):
                    fail("%s: unsampled traceparent not kept: %r" % (eid, hdr.get("traceparent")))
                if seq % 4 == 3 and "traceparent" in hdr:
                    fail("%s: a traceparent appeared: %r" % (eid, hdr["traceparent"]))
    if len(spans) < o.min_spans:
        fail("spans: got %d, want at least %d" % (len(spans), o.min_spans))
    print("otlp_check: %d requests, %d spans (%d process, %d send)" % (len(files), len(spans), len(process), len(send)))
    if errors:
        for e in errors:
            print("otlp_check: " + e, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
