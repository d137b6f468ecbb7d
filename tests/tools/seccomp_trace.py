#!/usr/bin/env python3
"""seccomp_trace: which system calls do event-relayd's workers make?

Runs integration tests with event-relayd under `strace -D -f` (through
the harness's ER_RELAY_WRAP) and the seccomp filter off, keeps the
system calls of the worker processes and of their threads, and compares
them with the allowlist src/worker/seccomp.def.

A worker is a process of the trace that writes its "privileges: uid="
log line (worker/sandbox.c, right where the filter is installed; the
tests log to standard error): its calls count from there on, and every
call of the threads it starts. The master, the module check's child
and everything before the filter are left out.

  tests/tools/seccomp_trace.py --builddir /tmp/b --out /tmp/trace \\
      relay_basic ops_reload fault_kafka_fatal
  tests/tools/seccomp_trace.py --parse /tmp/trace/*.strace

Prints one line per system call seen (name, calls, tests), then the ones
missing from seccomp.def and the ones in seccomp.def never seen. Exit
status 0, or 1 when a call is missing from seccomp.def or a test failed.
Needs strace. In a sanitizer build it sets ASAN_OPTIONS=detect_leaks=0
(LeakSanitizer does not run under ptrace); the calls it makes at exit
are the sanitizer rows of seccomp.def, found with the filter on.
"""

import argparse
import collections
import os
import re
import subprocess
import sys
import time

CALL = re.compile(r"^(\d+)\s+([a-z_][a-z0-9_]*)\(")
RESUMED = re.compile(r"^(\d+)\s+<\.\.\. ([a-z_][a-z0-9_]*) resumed>")
RESULT = re.compile(r"\)\s+=\s+(\d+)(?:\s|$)")
SPAWN = {"clone", "clone3", "fork", "vfork"}
MARKER = re.compile(r"^\d+\s+(?:write|writev|sendto)\(.*privileges: uid=")


def parse(path):
    """Counter of the system calls of workers and their threads in one trace."""
    calls = collections.defaultdict(list)  # pid -> [(line no, name)]
    children = collections.defaultdict(list)  # pid -> [(line no, child)]
    marked = {}  # pid -> line no of its marker
    pending = {}  # pid -> (line no, name) of an unfinished spawn
    with open(path, errors="replace") as f:
        for no, line in enumerate(f):
            m = CALL.match(line)
            if m:
                pid, name = int(m.group(1)), m.group(2)
                calls[pid].append((no, name))
                if pid not in marked and MARKER.match(line):
                    marked[pid] = no
                if name in SPAWN:
                    r = RESULT.search(line)
                    if r:
                        children[pid].append((no, int(r.group(1))))
                    elif "<unfinished" in line:
                        pending[pid] = (no, name)
                continue
            m = RESUMED.match(line)
            if m:
                pid, name = int(m.group(1)), m.group(2)
                if name in SPAWN and pid in pending:
                    r = RESULT.search(line)
                    if r:
                        children[pid].append((pending[pid][0], int(r.group(1))))
                    del pending[pid]
    seen = collections.Counter()

    def walk(pid, since):
        for no, name in calls.get(pid, []):
            if no >= since:
                seen[name] += 1
        for no, child in children.get(pid, []):
            if no >= since:
                walk(child, -1)

    for pid, no in marked.items():
        walk(pid, no)
    return seen


def allowlist(srcdir):
    names = set()
    with open(os.path.join(srcdir, "src/worker/seccomp.def")) as f:
        for line in f:
            m = re.match(r"^(?:SYSCALL|SYSCALL_ARG0|SANITIZER_SYSCALL)\(([a-z0-9_]+),", line)
            if m:
                names.add(m.group(1))
    return names


def run(test, args):
    trace = os.path.join(args.out, test + ".strace")
    if os.path.exists(trace):
        os.unlink(trace)
    env = dict(os.environ)
    env.update(
        BUILDDIR=args.builddir,
        srcdir=args.srcdir,
        EVENT_RELAY_SECCOMP="false",
        ER_RELAY_WRAP="strace -D -f -qq -A -s 256 -o " + trace,
    )
    if os.path.exists(os.path.join(args.builddir, "config.log")):
        with open(os.path.join(args.builddir, "config.log"), errors="replace") as f:
            if "--enable-sanitizers" in f.read(20000):
                opts = env.get("ASAN_OPTIONS", "")
                env["ASAN_OPTIONS"] = (opts + ":" if opts else "") + "detect_leaks=0"
    t0 = time.monotonic()
    log = open(os.path.join(args.out, test + ".log"), "w")
    rc = subprocess.call(
        ["bash", os.path.join(args.srcdir, "tests/integration", test + ".sh")],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=args.srcdir)
    print("%s: exit %d in %.0f s" % (test, rc, time.monotonic() - t0), file=sys.stderr)
    return trace, rc


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--builddir", default=os.environ.get("BUILDDIR", "."))
    ap.add_argument("--srcdir", default=os.path.dirname(os.path.dirname(
        os.path.dirname(os.path.abspath(__file__)))))
    ap.add_argument("--out", default="seccomp-trace")
    ap.add_argument("--parse", action="store_true",
                    help="the arguments are strace files to read, not tests to run")
    ap.add_argument("items", nargs="+")
    args = ap.parse_args()
    args.builddir = os.path.abspath(args.builddir)
    args.srcdir = os.path.abspath(args.srcdir)
    failed = 0
    traces = []
    if args.parse:
        traces = [(p, os.path.basename(p)) for p in args.items]
    else:
        os.makedirs(args.out, exist_ok=True)
        for test in args.items:
            trace, rc = run(test, args)
            failed += rc not in (0, 77)
            if os.path.exists(trace):
                traces.append((trace, test))
    total = collections.Counter()
    where = collections.defaultdict(set)
    for path, label in traces:
        for name, n in parse(path).items():
            total[name] += n
            where[name].add(label)
    for name, n in sorted(total.items(), key=lambda kv: (-kv[1], kv[0])):
        print("%-22s %10d  %s" % (name, n, " ".join(sorted(where[name]))))
    allowed = allowlist(args.srcdir)
    missing = sorted(set(total) - allowed)
    unseen = sorted(allowed - set(total))
    print("\nmissing from seccomp.def: %s" % (" ".join(missing) or "none"))
    print("in seccomp.def, not seen: %s" % (" ".join(unseen) or "none"))
    return 1 if missing or failed else 0


if __name__ == "__main__":
    sys.exit(main())
