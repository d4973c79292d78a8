#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# install_linux: deploy/linux/install.sh and uninstall.sh into temporary
# roots (--root, DESTDIR-style; nothing on this machine changes):
#  - two runs give the same tree (sha256, mode of every file) and the
#    second says "nothing changed";
#  - the installed units pass `systemd-analyze verify` with no complaint,
#    and peerwatch.service is sandboxed for this host's guards;
#  - an invalid config stops the install with check-config's errors and
#    writes nothing; a unit edited by hand is kept before it is replaced;
#  - --ssh-account writes SFTP-only authorized_keys lines and the setfacl
#    lines it would run; refuses a key line that carries its own options;
#  - uninstall.sh leaves the root as it was before, the user's config kept.
# Needs: BUILD_DIR with peer/peerwatch; systemd-analyze (else that part
# skips: 77 when nothing else could run).
set -euo pipefail
BUILD=$1
SRC=$(cd "$(dirname "$0")/../.." && pwd)
INST=$SRC/deploy/linux/install.sh
UNINST=$SRC/deploy/linux/uninstall.sh
CONF=$SRC/deploy/peers.conf.example
T=$(mktemp -d /tmp/pw-install-linux.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "install_linux: FAIL: $*" >&2; exit 1; }
. "$(dirname "$0")/tree_lib.sh"
run() { bash "$INST" --from "$BUILD" --root "$R" "$@"; }

# a root with a user's own file in /etc/peerwatch already
R=$T/root
mkdir -p "$R/etc/peerwatch"
echo "mine" >"$R/etc/peerwatch/notes"
tree "$R" >"$T/before"

# invalid config: errors shown, nothing written
sed 's/^interval = 500ms/interval = fast/' "$CONF" >"$T/bad.conf"
if out=$(run -c "$T/bad.conf" --name vps 2>&1); then fail "installed with an invalid config"; fi
grep -q "bad.conf:[0-9]*:.*interval" <<<"$out" || fail "check-config's error not shown: $out"
tree "$R" | cmp -s - "$T/before" || fail "an invalid config changed the root"

# first and second run
out1=$(run -c "$CONF" --name vps) || fail "first run: $out1"
grep -q "would run: useradd --system" <<<"$out1" || fail "no useradd line: $out1"
grep -q "would run: systemctl enable --now peerwatch.service" <<<"$out1" || fail "no enable line: $out1"
grep -qx "would run: systemctl enable peerwatch-sleep.service" <<<"$out1" || fail "no enable line for the sleep notice: $out1"
tree "$R" >"$T/after1"
out2=$(run -c "$CONF" --name vps) || fail "second run: $out2"
tree "$R" >"$T/after2"
diff "$T/after1" "$T/after2" || fail "second run changed the tree"
grep -q "nothing changed" <<<"$out2" || fail "second run did not say nothing changed: $out2"
grep -q "^install.sh: \(install\|update\|create\)" <<<"$out2" && fail "second run acted: $out2"
for f in usr/local/sbin/peerwatch usr/local/libexec/peerwatch-heal etc/peerwatch/peers.conf etc/systemd/system/peerwatch.service \
    etc/systemd/system/peerwatch-revive.path etc/systemd/system/peerwatch-flag-bot.path \
    usr/local/share/man/man8/peerwatch.8 var/lib/peerwatch/flags etc/peerwatch/.installed; do
	[ -e "$R/$f" ] || fail "$f not installed"
done
[ "$(stat -c %a "$R/var/lib/peerwatch")" = 750 ] || fail "state_dir not 0750"
"$R/usr/local/sbin/peerwatch" version | grep -q '^peerwatch ' || fail "installed binary does not run"
# the installed daemon finds its installed heal worker (../libexec; this
# proves it only where the host has none in /usr/local/libexec itself,
# the built-in fallback)
out=$(env -u PEERWATCH_HEAL "$R/usr/local/sbin/peerwatch" check-config -c "$R/etc/peerwatch/peers.conf" 2>&1) ||
    fail "installed check-config: $out"
grep -q "heal worker" <<<"$out" && fail "the installed daemon misses its heal worker: $out"
grep -q "OK (" <<<"$out" || fail "installed check-config said nothing: $out"
[ ! -e /usr/local/libexec/peerwatch-heal ] ||
    echo "install_linux: this host has /usr/local/libexec/peerwatch-heal: the ../libexec lookup is not proven here"

# the sandbox: state_dir, the flag dir and the guarded file's dir writable
svc=$R/etc/systemd/system/peerwatch.service
for l in "ReadWritePaths=-/var/lib/peerwatch -/var/lib/peerwatch/flags -/srv/bot -/tmp -/var/tmp" \
    ProtectSystem=strict ProtectHome=read-only NoNewPrivileges=yes Restart=always \
    RestartSec=2 StartLimitBurst=10 StartLimitIntervalSec=60 \
    "ExecStartPre=-+/bin/mkdir -p -m 0700 \"/var/lib/peerwatch\"" "ExecStartPre=-+/bin/mkdir -p \"/srv/bot\""; do
	grep -qxF -- "$l" "$svc" || fail "peerwatch.service lacks $l"
done

# systemd-analyze verify, ExecStart pointed at the root's binary
if command -v systemd-analyze >/dev/null 2>&1; then
	mkdir "$T/verify"
	for f in "$R"/etc/systemd/system/peerwatch*; do
		sed "s|/usr/local/sbin/peerwatch|$R/usr/local/sbin/peerwatch|" "$f" >"$T/verify/${f##*/}"
	done
	(cd "$T/verify" && systemd-analyze verify ./*.service ./*.path) >"$T/verify.out" 2>&1 ||
		fail "systemd-analyze verify: $(cat "$T/verify.out")"
	[ ! -s "$T/verify.out" ] || fail "systemd-analyze verify complained: $(cat "$T/verify.out")"
	# ... and it does complain about a bad line (the check can fail)
	sed -i 's/^ProtectHome=read-only/ProtectHome=maybe/' "$T/verify/peerwatch.service"
	(cd "$T/verify" && systemd-analyze verify ./peerwatch.service) >"$T/verify.out" 2>&1 || true
	[ -s "$T/verify.out" ] || fail "verify is blind to ProtectHome=maybe"
else
	echo "install_linux: systemd-analyze missing: verify skipped"
fi

# --dry-run: says what it would do, changes nothing
echo "# local edit" >>"$R/etc/systemd/system/peerwatch-revive.path"
tree "$R" >"$T/pre-dry"
out=$(run -c "$CONF" --name vps --dry-run) || fail "dry run: $out"
grep -q "update /etc/systemd/system/peerwatch-revive.path" <<<"$out" || fail "dry run did not say what it would do: $out"
tree "$R" | diff "$T/pre-dry" - || fail "--dry-run changed the tree"
out=$(run -c "$CONF" --name vps) || fail "run after the dry run: $out"
rm -f "$R"/etc/systemd/system/peerwatch-revive.path.peerwatch-old-*

# a guard that leaves the config takes its flag units with it
awk '/^\[guard bot@vps\]/ { skip = 1; next } /^\[/ { skip = 0 } !skip' "$CONF" >"$T/nobot.conf"
out=$(run -c "$T/nobot.conf" --name vps) || fail "run without the bot guard: $out"
for f in peerwatch-flag-bot.path peerwatch-flag-bot.service; do
	[ ! -e "$R/etc/systemd/system/$f" ] || fail "$f left behind when its guard went: $out"
done
grep -q "remove /etc/systemd/system/peerwatch-flag-bot.path" <<<"$out" || fail "removal not said: $out"
out=$(run -c "$T/nobot.conf" --name vps) || fail "second run without the bot guard: $out"
grep -q "nothing changed" <<<"$out" || fail "second run without the bot guard: $out"
out=$(run -c "$CONF" --name vps) || fail "bot guard back: $out"
[ -e "$R/etc/systemd/system/peerwatch-flag-bot.path" ] || fail "flag unit not back with its guard"
rm -f "$R"/etc/peerwatch/peers.conf.peerwatch-old-*

# a unit edited by hand is kept, then replaced
echo "# local edit" >>"$svc"
out=$(run -c "$CONF" --name vps) || fail "third run: $out"
ls "$svc".peerwatch-old-* >/dev/null 2>&1 || fail "edited unit not kept: $out"
grep -q "# local edit" "$svc".peerwatch-old-* || fail "the kept copy is not the edit"
grep -q "# local edit" "$svc" && fail "edited unit not replaced"
rm -f "$svc".peerwatch-old-*

# --ssh-account: SFTP-only key lines, ACLs printed
ssh-keygen -q -t ed25519 -N '' -C peer1 -f "$T/peer1" 2>/dev/null ||
	echo "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeFakeFakeFakeFakeFakeFakeFakeFakeFake peer1" >"$T/peer1.pub"
mkdir -p "$R/srv/bot"
echo '{"token": "x"}' >"$R/srv/bot/config.json"
out=$(run -c "$CONF" --name vps --ssh-account pwpeers --authorized-key "$T/peer1.pub") || fail "ssh account: $out"
ak=$R/var/lib/peerwatch-ssh/pwpeers/.ssh/authorized_keys
[ "$(cat "$ak")" = "restrict,command=\"internal-sftp\" $(cat "$T/peer1.pub")" ] ||
	fail "authorized_keys: $(cat "$ak")"
[ "$(stat -c %a "$ak")" = 644 ] || fail "authorized_keys mode"
grep -q "would run: setfacl -m user:pwpeers:rwx $R/srv/bot$" <<<"$out" || fail "no ACL on the guard's dir: $out"
grep -q "would run: setfacl -m user:pwpeers:rw- $R/srv/bot/config.json$" <<<"$out" || fail "no ACL on the guard: $out"
grep -q "would run: setfacl -m user:pwpeers:rwx $R/var/lib/peerwatch/flags$" <<<"$out" || fail "no ACL on the flag dir: $out"
echo "from=\"1.2.3.4\" $(cat "$T/peer1.pub")" >"$T/opts.pub"
if out=$(run -c "$CONF" --name vps --ssh-account pwpeers --authorized-key "$T/opts.pub" 2>&1); then
	fail "took a key line with its own options"
fi
rm -rf "$R/srv"

# uninstall: the root as before, the config kept
out=$(bash "$UNINST" --root "$R") || fail "uninstall: $out"
[ -f "$R/etc/peerwatch/peers.conf" ] || fail "uninstall removed the config"
rm "$R/etc/peerwatch/peers.conf"
tree "$R" | diff "$T/before" - || fail "uninstall left more or less than before"
echo "install_linux: 1 passed, 0 failed"
