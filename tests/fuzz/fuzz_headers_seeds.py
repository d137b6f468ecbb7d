#!/usr/bin/env python3
"""Writes seed inputs for fuzz_headers into the directory given (default
corpus-headers): one delivery per route, built byte by byte the way the
target's tree reader reads them (route, properties, header table,
exchange, routing key, body). Without them the fuzzer seldom builds a
JSON body that gets past a json: id, so keep this in step with the
reader in fuzz_headers.c (the word list and the field kinds' order)."""
import os
import struct
import sys

W = {"tp":0,"tpf":1,"tp0":2,"ts":3,"orders":4,"orders.created":5,"a.b":6,"..":7,"":8,"x-id":9,"x-key":10,"x-t-":11,"x-t-a":12,"x-t-b":13,"x-topic":14,"x-val":15,"traceparent":16,"tracestate":17}
K = dict(BOOLEAN=0,I8=1,U8=2,I16=3,U16=4,I32=5,U32=6,I64=7,U64=8,F32=9,F64=10,DECIMAL=11,UTF8=12,ARRAY=13,TIMESTAMP=14,TABLE=15,VOID=16,BYTES=17)
def word(w): return bytes([W[w]])
def raw(s):
    s = s.encode() if isinstance(s,str) else s
    assert len(s) < 64
    return bytes([0x80|len(s)]) + s
def val(kind, payload=b""): return bytes([K[kind]]) + payload
def table(entries): return bytes([len(entries)]) + b"".join(k+v for k,v in entries)
def props(flags=0xffff, hdrs=b"\x00", ts=1700000000, mid=None):
    return struct.pack("<H", flags) + word("orders") + (mid or raw("m-1")) + raw("c-1") + word("a.b") + b"\x05\x02" + struct.pack("<Q", ts) + hdrs
def seed(route, p, exch, rk, body):
    return bytes([route]) + p + b"\x01" + exch + rk + body
hdrs0 = table([
  (word("x-id"), val("UTF8", raw("id-1"))),
  (word("x-key"), val("TABLE", table([(raw("n"), val("I32", struct.pack("<i",-7))), (raw("s"), val("BYTES", raw(b"\xff\x00")))]))),
  (word("x-t-a"), val("DECIMAL", b"\x02" + struct.pack("<I", 12345))),
  (word("x-t-b"), val("ARRAY", b"\x03" + val("F64", struct.pack("<d", 0.1)) + val("VOID") + val("UTF8", raw(b"\xc3\xa9\xff")))),
  (word("x-topic"), val("UTF8", word("orders"))),
  (word("x-val"), val("F32", struct.pack("<f", float("nan")))),
  (word("traceparent"), val("UTF8", word("tp"))),
  (word("tracestate"), val("UTF8", word("ts"))),
])
seeds = {
 "r0": seed(0, props(hdrs=hdrs0), raw("ex"), word("orders.created"), b"binary\x00body"),
 "r0ms": seed(0, props(hdrs=hdrs0, ts=1700000000123), raw("ex"), word("orders"), b"x"),
 "r1": seed(1, props(hdrs=hdrs0), raw("ex"), word("orders"),
     b'{"id":"i\\u00e9","k":[{"z":1},2],"v":{"x":[1,2]},"h":"s\\n","a":{"b":[0,"one"]}}'),
 "r1num": seed(1, props(hdrs=table([(word("traceparent"), val("UTF8", word("tpf")))])), raw("ex"), word("orders"),
     b'{"id":42,"k":["k"],"v":null,"h":null,"a":{"b":[true,false]}}'),
 "r2": seed(2, props(hdrs=hdrs0), raw("ex"), word("orders"),
     b'{"event_id":"e1","correlation_id":"c","payload":{"a":[1,"x",null]}}'),
 "r2bad": seed(2, props(hdrs=table([(word("traceparent"), val("UTF8", word("tp0"))), (word("tracestate"), val("BYTES", word("ts")))])), raw("ex"), word("orders"),
     b'{"event_id":"e1","payload":1}'),
 "r3": seed(3, props(hdrs=hdrs0), raw("ex"), word("orders"), b"{}"),
}
out = sys.argv[1] if len(sys.argv) > 1 else "corpus-headers"
os.makedirs(out, exist_ok=True)
for k,v in seeds.items():
    with open(os.path.join(out, k), "wb") as f:
        f.write(v)
print("%d seeds in %s" % (len(seeds), out))
