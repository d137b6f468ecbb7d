#!/usr/bin/python3
"""otlp_receiver: a small OTLP/HTTP receiver for the tracing tests.

    otlp_receiver.py [--discard] DIR [PORT]

Listens on 127.0.0.1:PORT (0 or none: a free port), writes the port to
DIR/port once it listens, and stores the body of each POST /v1/traces
as DIR/req-<n>.json (answering 200 with {}), one line per request in
DIR/requests.log: "<n> <status> <bytes> <connection number> <content
type> <Authorization header>". --discard (the benchmark) stores and logs
nothing: it only answers.

    POST /control/fail?seconds=S[&retry_after=R]

makes it answer the next S seconds of exports with 503 (and the header
Retry-After: R when given) without storing them. HTTP/1.1 with
keep-alive, so the log shows whether a client reuses its connection.
"""
import http.server
import os
import sys
import threading
import time
import urllib.parse


class State:
    lock = threading.Lock()
    n = 0
    conns = 0
    fail_until = 0.0
    retry_after = None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # The reply's header and body are two writes: with Nagle on, the
    # body waits for the client's delayed ACK (40 ms a request).
    disable_nagle_algorithm = True

    def setup(self):
        super().setup()
        with State.lock:
            State.conns += 1
            self.conn_no = State.conns

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, body=b"{}", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/control/fail":
            q = urllib.parse.parse_qs(url.query)
            with State.lock:
                State.fail_until = time.monotonic() + float(q["seconds"][0])
                State.retry_after = q.get("retry_after", [None])[0]
            self.reply(200)
            return
        if url.path != "/v1/traces":
            self.reply(404)
            return
        with State.lock:
            State.n += 1
            n = State.n
            failing = time.monotonic() < State.fail_until
            retry_after = State.retry_after
        status = 503 if failing else 200
        if DISCARD:
            self.reply(status)
            return
        if not failing:
            path = os.path.join(DIR, "req-%06d.json" % n)
            with open(path + ".tmp", "wb") as f:
                f.write(body)
            os.rename(path + ".tmp", path)
        with State.lock, open(os.path.join(DIR, "requests.log"), "a") as log:
            ctype = self.headers.get("Content-Type", "")
            log.write("%d %d %d %d %s %s\n" % (n, status, len(body), self.conn_no,
                                               ctype.replace(" ", ""),
                                               self.headers.get("Authorization", "-").replace(" ", "_")))
        headers = [("Retry-After", retry_after)] if failing and retry_after else []
        self.reply(status, b'{"error":"unavailable"}' if failing else b"{}", headers)


DIR = None
DISCARD = False


def main():
    global DIR, DISCARD
    args = sys.argv[1:]
    if args and args[0] == "--discard":
        DISCARD = True
        args = args[1:]
    DIR = args[0]
    port = int(args[1]) if len(args) > 1 else 0
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    srv.daemon_threads = True
    with open(os.path.join(DIR, "port.tmp"), "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(os.path.join(DIR, "port.tmp"), os.path.join(DIR, "port"))
    srv.serve_forever()


if __name__ == "__main__":
    main()
