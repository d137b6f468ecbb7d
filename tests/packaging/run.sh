#!/bin/bash
# run.sh: the packaging tests. Runs every tests/packaging/*.sh except
# itself, in name order, one after the other; prints each one's result
# and time, then "N passed, N failed, N skipped". Exits 1 if any failed
# (exit 77 is a skip, as in the suite).
#
# Usage: BUILDDIR=build tests/packaging/run.sh   (BUILDDIR: a build tree
# whose `make check` built the test tools; default ./build)
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
BUILDDIR=$(cd "${BUILDDIR:-$top/build}" && pwd) || exit 1
srcdir=$top
export BUILDDIR srcdir

passed=0 failed=0 skipped=0 results=()
for t in "$top"/tests/packaging/*.sh; do
	name=${t##*/}
	[[ $name == run.sh ]] && continue
	echo "==== tests/packaging/$name"
	start=$SECONDS
	rc=0
	bash "$t" || rc=$?
	took=$((SECONDS - start))
	case $rc in
	0) passed=$((passed + 1)) result=PASS ;;
	77) skipped=$((skipped + 1)) result=SKIP ;;
	*) failed=$((failed + 1)) result=FAIL ;;
	esac
	results+=("$result: tests/packaging/$name (${took} s)")
done
printf '%s\n' "${results[@]}"
echo "packaging: $passed passed, $failed failed, $skipped skipped"
((failed == 0))
