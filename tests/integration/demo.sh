#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# demo: `make demo` the way the README tells a newcomer to run it (make's
# recipes under /bin/sh, which is dash on Debian; no terminal, CI=true),
# against this build tree. The demo checks its own story (confirmed down by
# quorum, config restored from backup, gamma back with a new incarnation)
# and must exit 0, leaving no process and no temp dir behind.
. "$(dirname "$0")/lib.sh"
pw_setup "$@"
command -v make >/dev/null 2>&1 || fail "make not found"

BUILD=$(cd "$(dirname "$PW")/.." && pwd)
[ -f "$BUILD/CMakeCache.txt" ] || fail "$BUILD is not a CMake build tree"
log "make -C $PW_SRC_DIR demo BUILD=$BUILD (sh is $(readlink -f /bin/sh))"
# the demo's three peers on addresses of this run, away from a user's demo
rc=0
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL CI=true TMPDIR="$T" \
    PW_DEMO_NET="127.214.$K" \
    make -C "$PW_SRC_DIR" --no-print-directory demo BUILD="$BUILD" \
    </dev/null >"$T/demo.out" 2>&1 || rc=$?
if [ "$rc" -ne 0 ]; then
	tail -n 30 "$T/demo.out" >&9
	fail "make demo exited $rc"
fi
grep -q '^demo: done (all checks passed)$' "$T/demo.out" ||
    fail "make demo did not report its checks: $(tail -n 3 "$T/demo.out")"
if [ "$(id -u)" -eq 0 ] && [ -x /usr/sbin/sshd ]; then
	grep -q 'ok: .*restored from its backup' "$T/demo.out" ||
	    fail "as root with sshd the demo must show the revive"
fi
grep -q FAILED "$T/demo.out" && fail "a demo check failed: $(grep FAILED "$T/demo.out")"
# nothing left behind: its temp dir (under our TMPDIR) and its processes
left=$(find "$T" -maxdepth 1 -name 'peerwatch-demo.*' | head -n 1)
[ -z "$left" ] || fail "the demo left $left behind"
pgrep -f "$T/peerwatch-demo" >/dev/null 2>&1 && fail "the demo left processes running"
log "$(grep -c '   ok:' "$T/demo.out") demo checks passed"
pass
