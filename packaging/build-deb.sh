#!/bin/bash
# build-deb.sh [OUTDIR]: builds the event-relay .deb from this source tree
# without writing into it.
#
# Copies the sources to a temporary directory (in a git checkout, the
# files git knows or would add; otherwise the whole tree less ./build*
# and ./debian), puts packaging/debian there as debian/ (symlinks to
# packaging/init, packaging/systemd and packaging/logrotate resolved),
# runs `dpkg-buildpackage -us -uc -b`, and moves the .deb, .buildinfo and
# .changes to OUTDIR (default ./build-deb, which git ignores).
#
# DEB_BUILD_OPTIONS and DEB_BUILD_PROFILES pass through: nocheck in both
# skips the unit tests and the need for Criterion. The build dependencies
# are in packaging/debian/control (tests/install-deps.sh installs them).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$top/build-deb}
mkdir -p "$out"
out=$(cd "$out" && pwd)

version=$(dpkg-parsechangelog -l "$top/packaging/debian/changelog" -S Version)
upstream=${version%-*}
work=$(mktemp -d "${TMPDIR:-/tmp}/event-relay-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
src=$work/event-relay-$upstream
mkdir "$src"

if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	git -C "$top" ls-files -z --cached --others --exclude-standard |
		while IFS= read -r -d '' f; do
			# A file deleted but not yet committed is listed too.
			if [[ -e $top/$f || -L $top/$f ]]; then
				printf '%s\0' "$f"
			fi
		done | tar -C "$top" --null -T - -cf - | tar -C "$src" -xf -
else
	tar -C "$top" --exclude='./build*' --exclude=./debian -cf - . | tar -C "$src" -xf -
fi
rm -rf "$src/debian"
cp -rL "$top/packaging/debian" "$src/debian"

if [[ " ${DEB_BUILD_OPTIONS:-} " != *" parallel="* ]]; then
	DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:+$DEB_BUILD_OPTIONS }parallel=$(nproc 2>/dev/null || echo 2)"
	export DEB_BUILD_OPTIONS
fi

(cd "$src" && dpkg-buildpackage -us -uc -b)

shopt -s nullglob
files=("$work"/*.deb "$work"/*.buildinfo "$work"/*.changes)
if ((${#files[@]} == 0)); then
	echo "build-deb.sh: dpkg-buildpackage made no package" >&2
	exit 1
fi
mv -f "${files[@]}" "$out"/
for f in "${files[@]}"; do
	echo "build-deb.sh: $out/${f##*/}"
done
