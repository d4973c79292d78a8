#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# deps_macos: deploy/deps.sh on macOS, with uname and brew faked in a temp
# dir (Homebrew's prefix layout: PREFIX/bin/brew, PREFIX/opt/FORMULA). As
# root it never runs brew: it prints the install line for the missing
# formulae (bash among them) and exits 1, or exits 0 when none is missing.
# As a user (via setpriv, when run as root) it runs brew install with
# exactly the missing formulae.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d /tmp/pw-deps-macos.XXXXXX)
trap 'rm -rf "$T"' EXIT
chmod 755 "$T"
fail() { echo "deps_macos: FAIL: $*" >&2; exit 1; }

mkdir -p "$T/fake" "$T/hb/bin" "$T/hb/opt"
printf '#!/bin/sh\necho Darwin\n' >"$T/fake/uname"
# the fake brew records its arguments; it must never run as root
cat >"$T/hb/bin/brew" <<EOF
#!/bin/sh
[ "\$(id -u)" -ne 0 ] || { echo ROOT >>"$T/brew.log"; exit 1; }
echo "\$*" >>"$T/brew.log"
EOF
chmod 755 "$T/fake/uname" "$T/hb/bin/brew"
# a copy the unprivileged user can read (the clone may sit in a 0700 dir)
cp "$SRC/deploy/deps.sh" "$T/deps.sh"
chmod 644 "$T/deps.sh"
run() { PATH="$T/fake:$T/hb/bin:/usr/bin:/bin" sh "$T/deps.sh"; }

for f in cmake pkg-config libevent libsodium curl jansson inih cmocka node \
    prometheus; do
	mkdir "$T/hb/opt/$f"
done
if [ "$(id -u)" -eq 0 ]; then
	rc=0
	run >"$T/out" 2>&1 || rc=$?
	cat "$T/out" >&2
	[ "$rc" -eq 1 ] || fail "as root with formulae missing: exit $rc, want 1"
	[ ! -e "$T/brew.log" ] || fail "brew ran as root: $(cat "$T/brew.log")"
	grep -q "brew install libssh bash\$" "$T/out" ||
	    fail "no 'brew install libssh bash' line for the user"
	if command -v setpriv >/dev/null 2>&1; then
		chown -R 65534 "$T/hb"
		touch "$T/brew.log" && chown 65534 "$T/brew.log"
		PATH="$T/fake:$T/hb/bin:/usr/bin:/bin" setpriv --reuid=65534 \
		    --regid=65534 --clear-groups sh "$T/deps.sh" >&2 ||
		    fail "as a user: deps.sh failed"
		[ "$(cat "$T/brew.log")" = "install libssh bash" ] ||
		    fail "as a user brew ran: $(cat "$T/brew.log"), want: install libssh bash"
		: >"$T/brew.log"
	fi
	mkdir "$T/hb/opt/libssh" "$T/hb/opt/bash"
	rc=0
	run >&2 || rc=$?
	[ "$rc" -eq 0 ] || fail "as root with every formula: exit $rc, want 0"
	[ ! -s "$T/brew.log" ] || fail "brew ran with nothing missing: $(cat "$T/brew.log")"
else
	run >&2 || fail "as a user: deps.sh failed"
	[ "$(cat "$T/brew.log")" = "install libssh bash" ] ||
	    fail "as a user brew ran: $(cat "$T/brew.log"), want: install libssh bash"
fi
echo "deps_macos: PASS"
