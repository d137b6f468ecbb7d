#!/bin/bash
# read_topic.sh BOOTSTRAP TOPIC OUTFILE: read every partition of TOPIC
# from the beginning to its end (kcat) and write one line per record,
#   <key>\t<value>\t<correlation_id header>
# sorted under LC_ALL=C: the format of er-publish --expected, so a test
# can diff the two. Duplicates are kept (`sort -u` them for
# at-least-once checks). A missing key or header gives an empty field.
#
# Exit 0 on success (an empty topic gives an empty file), 1 on a kcat
# error or when it takes longer than READ_TOPIC_TIMEOUT seconds (60).
# Values must not hold tabs or newlines (the test events never do).
set -euo pipefail

if (($# != 3)); then
	echo "usage: read_topic.sh BOOTSTRAP TOPIC OUTFILE" >&2
	exit 2
fi
bootstrap=$1 topic=$2 out=$3

raw=$(mktemp "${TMPDIR:-/tmp}/read_topic.XXXXXX")
trap 'rm -f "$raw"' EXIT

# kcat prints headers as name=value,name=value; -e exits once every
# partition has reached its end.
if ! timeout "${READ_TOPIC_TIMEOUT:-60}" kcat -C -q -e -o beginning \
	-b "$bootstrap" -t "$topic" -f '%k\t%s\t%h\n' >"$raw"; then
	echo "read_topic.sh: kcat failed reading $topic from $bootstrap" >&2
	exit 1
fi

awk -F'\t' -v OFS='\t' '{
	corr = ""
	n = split($3, hs, ",")
	for (i = 1; i <= n; i++) {
		if (substr(hs[i], 1, 15) == "correlation_id=") {
			corr = substr(hs[i], 16)
			break
		}
	}
	print $1, $2, corr
}' "$raw" | LC_ALL=C sort >"$out"
