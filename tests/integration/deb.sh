#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# deb: the .deb CPack builds (make deb): the control fields (Depends from
# dpkg-shlibdeps, libssh among them for the heal worker), the files it
# carries (binary, heal worker, gzipped man pages, example
# units and config under /usr/share/doc/peerwatch), no lintian errors; then
# `dpkg -i` of it in a throwaway copy (overlay) of the test root file
# system tests/tools/sdbox caches, chrooted in a private mount namespace,
# and `peerwatch version` there, and check-config finding the heal worker. Skips (77) without cpack/dpkg-deb; the
# dpkg -i part needs root and the cached root file system (else says so).
set -euo pipefail
BUILD=$1
SRC=$(cd "$(dirname "$0")/../.." && pwd)
for t in cpack dpkg-deb; do
	command -v $t >/dev/null || { echo "deb: $t missing: skipped"; exit 77; }
done
T=$(mktemp -d /tmp/pw-deb.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "deb: FAIL: $*" >&2; exit 1; }
(cd "$BUILD" && cpack -G DEB -B "$T/out" >"$T/cpack.log" 2>&1) || fail "cpack: $(tail -20 "$T/cpack.log")"
deb=$(ls "$T"/out/peerwatch_*.deb)
dpkg-deb -I "$deb" >"$T/info"
grep -q '^ Package: peerwatch$' "$T/info" || fail "package name: $(cat "$T/info")"
grep -q '^ Depends: .*libevent' "$T/info" || fail "no Depends from shlibdeps: $(cat "$T/info")"
grep -q '^ Depends: .*libssh' "$T/info" || fail "no Depends for the heal worker's libssh: $(cat "$T/info")"
dpkg-deb -c "$deb" | awk '{ print $6 }' >"$T/list"
for f in ./usr/sbin/peerwatch ./usr/libexec/peerwatch-heal ./usr/share/man/man8/peerwatch.8.gz ./usr/share/man/man5/peers.conf.5.gz \
    ./usr/share/doc/peerwatch/copyright ./usr/share/doc/peerwatch/changelog.Debian.gz \
    ./usr/share/doc/peerwatch/examples/peers.conf.example \
    ./usr/share/doc/peerwatch/examples/linux/peerwatch.service ./usr/share/doc/peerwatch/examples/linux/install.sh \
    ./usr/share/doc/peerwatch/examples/install-lib.sh; do
	grep -qxF "$f" "$T/list" || fail "$f not in the package"
done
dpkg-deb -x "$deb" "$T/x"
"$T/x/usr/sbin/peerwatch" version | grep -q '^peerwatch ' || fail "the packaged binary does not run"
if command -v lintian >/dev/null; then
	lintian --tag-display-limit 0 "$deb" >"$T/lintian" 2>&1 || true
	grep '^E:' "$T/lintian" && fail "lintian errors (above)"
	cat "$T/lintian" | grep -v 'root privileges' || true
else
	echo "deb: lintian missing: not run"
fi
rootfs=$(ls -d "${PW_ROOTFS_DIR:-/var/cache/peerwatch-tests}"/rootfs-*-v1 2>/dev/null | head -n 1 || true)
if [ "$(id -u)" -ne 0 ] || [ -z "$rootfs" ] || [ ! -f "$rootfs/.sdbox-complete" ]; then
	echo "deb: dpkg -i not tried (needs root and the root file system tests/tools/sdbox builds)"
	echo "deb: 1 passed, 0 failed"
	exit 0
fi
mkdir "$T/upper" "$T/work" "$T/merged"
cp "$deb" "$T/upper.deb"
unshare -m --propagation private bash -euc '
	mount -t overlay overlay -o "lowerdir=$1,upperdir=$2/upper,workdir=$2/work" "$2/merged"
	cp "$2/upper.deb" "$2/merged/tmp/peerwatch.deb"
	mount -t proc proc "$2/merged/proc"
	chroot "$2/merged" dpkg -i /tmp/peerwatch.deb
	chroot "$2/merged" /usr/sbin/peerwatch version
	# the daemon finds its worker where the package put it
	cp /dev/null "$2/merged/tmp/empty.conf"
	chroot "$2/merged" /usr/sbin/peerwatch check-config -c /tmp/empty.conf --json >"$2/merged/tmp/cc.json" || true
	grep -q "\"warnings\": \[\]" "$2/merged/tmp/cc.json" || { cat "$2/merged/tmp/cc.json"; exit 1; }
	chroot "$2/merged" /usr/libexec/peerwatch-heal x 2>&1 | grep -q "runs heal jobs"
	chroot "$2/merged" dpkg -s peerwatch | grep -q "^Status: install ok installed"
' _ "$rootfs" "$T" >"$T/dpkg.log" 2>&1 || fail "dpkg -i in the root: $(cat "$T/dpkg.log")"
grep -q '^peerwatch ' "$T/dpkg.log" || fail "peerwatch version after dpkg -i: $(cat "$T/dpkg.log")"
echo "deb: dpkg -i in $(basename "$rootfs") then peerwatch version: ok"
echo "deb: 1 passed, 0 failed"
