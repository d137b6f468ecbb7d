#!/bin/bash
# debian_rootfs.sh OUT.tar: a Debian 12 (bookworm) minbase root
# filesystem as a tarball, made by mmdebstrap from the mirror this
# machine's apt uses (the first URI of a "bookworm" suite in
# sources.list, one-line format, or a .sources file, deb822), so that
# nothing names a host of its own. The base image of the container test
# (tests/packaging/container.sh); run-suite.sh makes it early, in the
# background, since it is mostly waiting on the mirror.
#
# Exit 0 with OUT.tar complete, or 1 with mmdebstrap's last lines on
# stderr and no OUT.tar.
set -euo pipefail

if (($# != 1)); then
	echo "usage: debian_rootfs.sh OUT.tar" >&2
	exit 2
fi
out=$1

debian_mirror() {
	local f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[[ -f $f ]] || continue
		awk '$1 == "deb" {
			for (i = 2; i < NF; i++)
				if ($i ~ /^[a-z+]+:\/\//) {
					if ($(i + 1) == "bookworm") { print $i; exit }
					break
				}
		}' "$f"
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[[ -f $f ]] || continue
		awk 'BEGIN { RS = ""; FS = "\n" } {
			uri = ""; suite = 0; deb = 0; off = 0
			for (i = 1; i <= NF; i++) {
				if ($i ~ /^URIs:/) { split($i, w, /[ \t]+/); uri = w[2] }
				if ($i ~ /^Suites:/ && $i ~ /[ \t]bookworm([ \t]|$)/) suite = 1
				if ($i ~ /^Types:/ && $i ~ /[ \t]deb([ \t]|$)/) deb = 1
				if ($i ~ /^Enabled:[ \t]*no/) off = 1
			}
			if (uri != "" && suite && deb && !off) { print uri; exit }
		}' "$f"
	done
}

command -v mmdebstrap >/dev/null || {
	echo "debian_rootfs.sh: mmdebstrap not installed" >&2
	exit 1
}
mirror=$(debian_mirror | head -n 1)
if [[ -z $mirror ]]; then
	echo "debian_rootfs.sh: no bookworm mirror found in /etc/apt/sources.list*" >&2
	exit 1
fi
log=$(mktemp "${TMPDIR:-/tmp}/debian_rootfs.XXXXXX")
trap 'rm -f "$log" "$out.part"' EXIT
printf '[%(%H:%M:%S)T] debian_rootfs.sh: Debian 12 minbase from %s\n' -1 "$mirror" >&2
start=$SECONDS
if ! mmdebstrap --quiet --variant=minbase --format=tar bookworm "$out.part" "$mirror" \
	>"$log" 2>&1; then
	echo "debian_rootfs.sh: mmdebstrap failed:" >&2
	tail -n 20 "$log" >&2
	exit 1
fi
mv "$out.part" "$out"
printf '[%(%H:%M:%S)T] debian_rootfs.sh: %s in %d s\n' -1 "$out" $((SECONDS - start)) >&2
