#!/bin/bash
# run-suite.sh: installs what the build and the tests need (Debian 12),
# then builds event-relay twice and runs the whole test suite with each
# build: once with warnings as errors (-Wall -Wextra -Werror), once more
# with AddressSanitizer and UBSan. Unit tests use Criterion; integration
# tests start private RabbitMQ and Redis servers and librdkafka's mock
# cluster on 127.0.0.1 (never a system service). Then a short fuzzing
# run (tests/fuzz/run.sh: every libFuzzer target 10 s, and the inputs
# of earlier failures replayed), at the same time as the packaging tests
# (tests/packaging/run.sh), which build, install and run the packages.
#
# Usage: tests/run-suite.sh     (from anywhere; builds under ./build*)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
jobs=$(nproc 2>/dev/null || echo 2)
start=$SECONDS

"$top/tests/install-deps.sh"
autoreconf -fi

# The container test's Debian root filesystem is mostly a wait on the
# mirror: made now, in the background, while the builds run.
# In a process group of its own (setsid), so that a run that stops
# early ends it and mmdebstrap with it.
rootfs=$top/build-rootfs/rootfs.tar
rm -rf "$top/build-rootfs"
mkdir -p "$top/build-rootfs"
setsid "$top/tests/harness/debian_rootfs.sh" "$rootfs" >"$top/build-rootfs/rootfs.log" 2>&1 &
rootfs_pid=$!
trap '[[ -z $rootfs_pid ]] || kill -- -"$rootfs_pid" 2>/dev/null || true' EXIT

# run_build DIR CONFIGURE_ARGS...: configure, build and `make check` in DIR.
run_build() {
	local dir=$1 rc=0
	shift
	rm -rf "$dir"
	mkdir -p "$dir"
	(cd "$dir" && "$top/configure" -q "$@")
	make -C "$dir" -j"$jobs"
	make -C "$dir" -j"$jobs" check || rc=$?
	if ((rc != 0)); then
		# Show why: the logs of every test that did not pass.
		grep -lE '^(FAIL|ERROR)' "$dir"/tests/*/*.log 2>/dev/null | while read -r f; do
			echo "==== $f"
			tail -n 60 "$f"
		done
		echo "run-suite: $dir: make check failed" >&2
		exit "$rc"
	fi
}

echo "==== build 1: -Werror"
run_build build --enable-werror
echo "==== build 2: AddressSanitizer + UBSan"
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0} \
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
	run_build build-asan --enable-werror --enable-sanitizers
# The fuzzing runs while the packaging tests do (their first minute is
# mostly waiting on the mirror); its output comes after theirs.
echo "==== fuzzing (every target for ${FUZZ_SECONDS:-10} s) alongside the packaging tests"
"$top/tests/fuzz/run.sh" "${FUZZ_SECONDS:-10}" >"$top/build/fuzz.log" 2>&1 &
fuzz_pid=$!
echo "==== packaging tests"
# A failed root filesystem is made again by the container test, which
# then says why.
wait "$rootfs_pid" || true
rootfs_pid=
cat "$top/build-rootfs/rootfs.log"
pkg_rc=0
ER_ROOTFS_TAR=$rootfs BUILDDIR="$top/build" "$top/tests/packaging/run.sh" || pkg_rc=$?
fuzz_rc=0
wait "$fuzz_pid" || fuzz_rc=$?
echo "==== fuzzing"
cat "$top/build/fuzz.log"
if ((fuzz_rc != 0)); then
	echo "run-suite: fuzzing failed" >&2
	exit "$fuzz_rc"
fi
if ((pkg_rc != 0)); then
	echo "run-suite: packaging tests failed" >&2
	exit "$pkg_rc"
fi
echo "run-suite: all tests passed in both builds and the packaging tests in $((SECONDS - start)) s"
