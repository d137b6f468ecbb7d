#!/bin/bash
# run.sh: builds every libFuzzer target (clang, -fsanitize=fuzzer,
# address,undefined) in a temporary directory, replays the regression
# inputs of tests/fuzz/regressions/<target>/ (each must pass), then runs
# each target for SECONDS seconds from its seed corpus
# (tests/fuzz/corpus/<target>/, copied: the tree is not written). Fails
# on any crash, leak, timeout or broken promise, and leaves the failing
# input in the work directory, whose path it prints.
#
# Usage: tests/fuzz/run.sh [SECONDS-PER-TARGET [TARGET...]]
#   SECONDS defaults to 10 (the CI run); 0 only builds and replays.
#   FUZZ_WORKDIR=DIR keeps the builds and grown corpora in DIR.
#   FUZZ_JOBS=N runs N targets at a time (default 1).
# Needs clang and libclang-rt-dev (Debian), libconfig-dev, libyaml-dev,
# librabbitmq-dev, and a configurable tree (autoreconf -fi done).
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-10}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(fuzz_event fuzz_headers fuzz_routes fuzz_config)
work=${FUZZ_WORKDIR:-}
if [[ -z $work ]]; then
	work=$(mktemp -d /tmp/er-fuzz.XXXXXX)
	trap 'rc=$?; if ((rc == 0)); then rm -rf "$work"; else echo "fuzz: inputs and logs kept in $work" >&2; fi' EXIT
fi
mkdir -p "$work/build"
command -v clang >/dev/null || { echo "fuzz: clang not found (apt-get install clang libclang-rt-dev)" >&2; exit 1; }

# The sources include autoconf.h, and fuzz_routes and fuzz_config link
# the settings table from libcommon.a: a plain configure of the tree.
if [[ ! -f $work/build/Makefile ]]; then
	(cd "$work/build" && "$top/configure" -q CC=clang) >"$work/configure.log" 2>&1 ||
		{ cat "$work/configure.log" >&2; exit 1; }
fi
make -s -C "$work/build" src/libcommon.a >"$work/make.log" 2>&1 || { cat "$work/make.log" >&2; exit 1; }
s=$top/src
# The commas belong to one -fsanitize= option; pkg-config's flags are words.
# shellcheck disable=SC2054,SC2207
cflags=(-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
	-I "$work/build" -I "$s" $(pkg-config --cflags librabbitmq))
declare -A srcs=(
	[fuzz_event]="$s/common/event.c $s/common/log.c $s/common/json.c"
	[fuzz_headers]="$s/worker/mapping.c $s/worker/header_encode.c $s/worker/trace_context.c $s/common/event.c $s/common/json.c $s/common/log.c"
	[fuzz_routes]="$(echo "$s"/common/route*.c) $work/build/src/libcommon.a -lconfig -lyaml"
	[fuzz_config]="$(echo "$s"/common/config*.c) $s/common/redact.c $s/common/amqp_url.c $work/build/src/libcommon.a -lconfig -lyaml"
)
declare -A flags=(
	[fuzz_event]="-max_len=70000"
	[fuzz_headers]="-max_len=4096"
	[fuzz_routes]="-max_len=4096 -dict=$top/tests/fuzz/routes.dict"
	[fuzz_config]="-max_len=4096 -dict=$top/tests/fuzz/config.dict"
)

export LSAN_OPTIONS=suppressions=$top/tests/fuzz/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}
fail=0
for t in "${targets[@]}"; do
	[[ -n ${srcs[$t]:-} ]] || { echo "fuzz: unknown target $t" >&2; exit 2; }
	# shellcheck disable=SC2086
	clang "${cflags[@]}" "$top/tests/fuzz/$t.c" ${srcs[$t]} -o "$work/$t" 2>"$work/$t.build.log" ||
		{ cat "$work/$t.build.log" >&2; exit 1; }
	mkdir -p "$work/corpus-$t"
	cp -n "$top/tests/fuzz/corpus/$t/"* "$work/corpus-$t/" 2>/dev/null || true
	reg=$top/tests/fuzz/regressions/$t
	if [[ -d $reg ]] && compgen -G "$reg/*" >/dev/null; then
		if ! (cd "$work" && "./$t" "$reg"/* >"$t.regressions.log" 2>&1 </dev/null); then
			echo "fuzz: $t: a regression input fails again:" >&2
			tail -n 30 "$work/$t.regressions.log" >&2
			fail=1
			continue
		fi
	fi
done
((fail == 0)) || exit 1
((secs > 0)) || { echo "fuzz: ${targets[*]} built, regressions replayed"; exit 0; }

# run_one T: fuzzes T for secs seconds; prints its figures.
run_one() {
	local t=$1 rc=0
	# shellcheck disable=SC2086
	(cd "$work" && "./$t" ${flags[$t]} -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 "corpus-$t" >"$t.log" 2>&1 </dev/null) || rc=$?
	local execs
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t.log")
	if ((rc != 0)); then
		echo "fuzz: $t FAILED after ${execs:-?} inputs:" >&2
		grep -E 'ERROR|SUMMARY|^artifact_prefix|Test unit written' "$work/$t.log" >&2 || tail -n 30 "$work/$t.log" >&2
		return 1
	fi
	echo "fuzz: $t: ${execs:-?} inputs in ${secs} s, corpus $(ls "$work/corpus-$t" | wc -l) files, no failure"
}

jobs=${FUZZ_JOBS:-1}
pids=()
for t in "${targets[@]}"; do
	run_one "$t" &
	pids+=($!)
	if ((${#pids[@]} >= jobs)); then
		wait "${pids[0]}" || fail=1
		pids=("${pids[@]:1}")
	fi
done
for p in "${pids[@]}"; do
	wait "$p" || fail=1
done
exit "$fail"
