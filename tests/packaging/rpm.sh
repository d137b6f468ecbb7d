#!/bin/bash
# rpm.sh: builds the RPM package from the `make dist` tarball with the
# spec the tarball carries (`rpmbuild -bb --nodeps`: this is Debian, the
# build dependencies are Debian packages), then checks it:
#   - contents (rpm -qlp): binaries, worker.so, man pages, configuration,
#     systemd unit, tmpfiles, logrotate; nothing under /run;
#   - event-relay.conf is %config(noreplace), mode 0640 root:event-relay;
#   - scriptlets (rpm -qp --scripts): no unexpanded macro, valid sh, and
#     run with stub commands they create the user and group (%pre),
#     enable the unit on first installation (%post), stop and disable
#     it on removal but not on upgrade (%preun), restart it on upgrade
#     (%postun, when systemd runs);
#   - the packaged event-relayd runs (-V, -t on the packaged file).
#
# Usage: BUILDDIR=/path/to/build tests/packaging/rpm.sh
#   ER_DIST_TARBALL=F   use this release tarball instead of `make dist`
set -euo pipefail

. "${srcdir:-$(dirname "$0")/../..}/tests/harness/servers.sh"

harness_require rpmbuild rpm rpm2cpio cpio make
t0=$SECONDS
harness_init
tmp=$HARNESS_TMP
top=$tmp/rpmbuild
# Debian's rpm keeps a database in ~/.rpmdb: this test's goes in $tmp.
db=(--dbpath "$tmp/rpmdb")

# ---------------------------------------------------------------- build

mkdir -p "$top/SOURCES" "$top/SPECS"
if [[ -n ${ER_DIST_TARBALL:-} ]]; then
	tarball=$ER_DIST_TARBALL
else
	make -s -C "$ER_BUILDDIR" dist >"$tmp/dist.log" 2>&1 ||
		h_fail "make dist failed: $(tail -n 20 "$tmp/dist.log")"
	version=$(awk '$1 == "VERSION" && $2 == "=" { print $3 }' "$ER_BUILDDIR/Makefile")
	tarball=$ER_BUILDDIR/event-relay-$version.tar.gz
fi
cp "$tarball" "$top/SOURCES/"
dir=$(basename "$tarball" .tar.gz)
tar -xzOf "$tarball" "$dir/packaging/rpm/event-relay.spec" >"$top/SPECS/event-relay.spec" ||
	h_fail "no packaging/rpm/event-relay.spec in $tarball"

rpmbuild "${db[@]}" -bb --nodeps --define "_topdir $top" "$top/SPECS/event-relay.spec" \
	>"$tmp/rpmbuild.log" 2>&1 || h_fail "rpmbuild failed: $(tail -n 30 "$tmp/rpmbuild.log")"
rpmfile=$(find "$top/RPMS" -name 'event-relay-[0-9]*.rpm' | head -n 1)
[[ -n $rpmfile ]] || h_fail "rpmbuild made no event-relay package: $(find "$top/RPMS")"
h_log "built ${rpmfile##*/} from ${tarball##*/} in $((SECONDS - t0)) s"
if grep -i 'warning' "$tmp/rpmbuild.log" >&2; then
	h_log "(rpmbuild's warnings above)"
fi

# ------------------------------------------------------------- contents

libdir=$(rpm "${db[@]}" --eval '%{_libdir}')
rpm "${db[@]}" -qlp "$rpmfile" >"$tmp/files"
want=(
	/usr/sbin/event-relayd
	/usr/sbin/event-relayctl
	"$libdir/event-relay/worker.so"
	/usr/share/man/man8/event-relayd.8
	/usr/share/man/man8/event-relayctl.8
	/usr/share/man/man5/event-relay.conf.5
	/usr/share/man/man5/event-relay-routes.5
	/usr/share/doc/event-relay/examples/routes.d/10-binary.yaml.example
	/etc/event-relay/event-relay.conf
	/etc/event-relay/routes.d
	/etc/sysconfig/event-relay
	/etc/logrotate.d/event-relay
	/usr/lib/systemd/system/event-relay.service
	/usr/lib/tmpfiles.d/event-relay.conf
	/var/log/event-relay
)
# Man pages are compressed where rpm's brp-compress runs (not on Debian).
for f in "${want[@]}"; do
	grep -qxF -e "$f" -e "$f.gz" "$tmp/files" || h_fail "$f is not in the package: $(cat "$tmp/files")"
done
! grep -q '^/run' "$tmp/files" || h_fail "the package ships files under /run: $(grep '^/run' "$tmp/files")"
h_log "rpm -qlp: $(wc -l <"$tmp/files") paths, all ${#want[@]} expected ones present, none under /run"

# %config(noreplace) is the file flags "cn"; the file may hold passwords.
# shellcheck disable=SC2016 # rpm query formats, not shell expansions
rpm "${db[@]}" -qp --qf '[%{FILEFLAGS:fflags} %{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILENAMES}\n]' \
	"$rpmfile" >"$tmp/attrs"
conf=$(awk '$4 == "/etc/event-relay/event-relay.conf"' "$tmp/attrs")
[[ $conf == "cn -rw-r----- root:event-relay /etc/event-relay/event-relay.conf" ]] ||
	h_fail "event-relay.conf: got '$conf', want config(noreplace) -rw-r----- root:event-relay"
for f in /etc/sysconfig/event-relay /etc/logrotate.d/event-relay; do
	[[ $(awk -v f="$f" '$4 == f { print $1 }' "$tmp/attrs") == cn ]] ||
		h_fail "$f is not %config(noreplace): $(grep -F "$f" "$tmp/attrs")"
done
h_log "config(noreplace): $(awk '$1 == "cn" { printf "%s ", $4 }' "$tmp/attrs")"

# ----------------------------------------------------------- scriptlets

rpm "${db[@]}" -qp --scripts "$rpmfile" >"$tmp/scripts"
if grep -n '%' "$tmp/scripts" >&2; then
	h_fail "unexpanded macros (a % sign) in the scriptlets (above)"
fi
# Split "preinstall scriptlet (using /bin/sh):" sections into files.
awk -v d="$tmp" '/^[a-z]+ scriptlet \(using \/bin\/sh\):$/ { f = d "/" $1 ".sh"; next }
	f != "" { print > f }' "$tmp/scripts"
for s in preinstall postinstall preuninstall postuninstall; do
	[[ -s $tmp/$s.sh ]] || h_fail "no $s scriptlet: $(cat "$tmp/scripts")"
	sh -n "$tmp/$s.sh" || h_fail "$s scriptlet: sh syntax error"
done

# Stubs for every command the scriptlets run: each logs its arguments;
# getent finds nothing, as on a machine without the user.
mkdir -p "$tmp/stubs"
for c in getent groupadd useradd systemctl systemd-tmpfiles; do
	printf '#!/bin/sh\necho "%s $*" >>"%s"\n%s\n' "$c" "$tmp/calls" \
		"$([[ $c == getent ]] && echo 'exit 2' || echo 'exit 0')" >"$tmp/stubs/$c"
	chmod +x "$tmp/stubs/$c"
done
# scriptlet NAME ARG: run it as rpm does ($1 = instances left after
# the operation) with the stubs first in PATH; print the calls made.
scriptlet() {
	: >"$tmp/calls"
	PATH=$tmp/stubs:/usr/bin:/bin sh "$tmp/$1.sh" "$2" >/dev/null 2>&1 ||
		h_fail "$1 scriptlet with \$1=$2 exited non-zero"
	cat "$tmp/calls"
}
out=$(scriptlet preinstall 1)
grep -q '^groupadd -r event-relay$' <<<"$out" || h_fail "%pre does not create the group: $out"
grep -q '^useradd -r -g event-relay .*event-relay$' <<<"$out" || h_fail "%pre does not create the user: $out"
out=$(scriptlet postinstall 1)
grep -q '^systemctl --no-reload enable event-relay.service$' <<<"$out" ||
	h_fail "%post does not enable the unit on installation: $out"
out=$(scriptlet postinstall 2)
! grep -q enable <<<"$out" || h_fail "%post enables the unit again on upgrade: $out"
out=$(scriptlet preuninstall 0)
grep -q '^systemctl --no-reload disable event-relay.service$' <<<"$out" ||
	h_fail "%preun does not disable the unit on removal: $out"
out=$(scriptlet preuninstall 1)
[[ -z $out ]] || h_fail "%preun does something on upgrade: $out"
# Stopping and restarting need a running systemd (/run/systemd/system):
# check that the commands are there, guarded.
grep -A 2 'run/systemd/system' "$tmp/preuninstall.sh" | grep -q 'systemctl stop event-relay.service' ||
	h_fail "%preun does not stop the service: $(cat "$tmp/preuninstall.sh")"
grep -q 'systemctl try-restart event-relay.service' "$tmp/postuninstall.sh" ||
	h_fail "%postun does not restart the service on upgrade: $(cat "$tmp/postuninstall.sh")"
h_log "rpm -qp --scripts: no % left; pre creates user and group, post enables the unit," \
	"preun stops and disables it on removal only, postun restarts on upgrade"

# ------------------------------------------------------ packaged binary

mkdir -p "$tmp/root"
(cd "$tmp/root" && rpm2cpio "$rpmfile" | cpio -idm --quiet) || h_fail "rpm2cpio failed"
# Unpacked, not installed: event-relayd takes a worker.so next to itself
# before the one in its library directory (here, /usr/lib64 is empty).
ln -s "../${libdir#/usr/}/event-relay/worker.so" "$tmp/root/usr/sbin/worker.so"
v=$("$tmp/root/usr/sbin/event-relayd" -V) || h_fail "the packaged event-relayd -V failed"
out=$(env -i PATH=/usr/bin:/bin "$tmp/root/usr/sbin/event-relayd" -t \
	-c "$tmp/root/etc/event-relay/event-relay.conf" 2>&1) ||
	h_fail "event-relayd -t on the packaged configuration: $out"
h_log "packaged: $v; -t on its event-relay.conf: $out"
h_log "rpm: passed in $((SECONDS - t0)) s"
