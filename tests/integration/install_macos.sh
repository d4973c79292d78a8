#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# install_macos: deploy/macos/install.sh into a temporary root (--root, on
# this Linux machine: launchctl is printed, not run): the plists parse as
# property lists (python3 plistlib), com.peerwatch.peerwatch has RunAtLoad
# and KeepAlive, and every path they name exists under the root (binary,
# config, log directory, the flags' directories); a second run changes
# nothing; --ssh-account writes SFTP-only key lines and prints the dscl and
# chmod +a lines; --uninstall leaves the root as before, the config kept. The
# script itself is checked for GNU-only habits macOS's tools lack.
set -euo pipefail
BUILD=$1
SRC=$(cd "$(dirname "$0")/../.." && pwd)
INST=$SRC/deploy/macos/install.sh
CONF=$SRC/deploy/peers.conf.example
command -v python3 >/dev/null || { echo "install_macos: python3 missing: skipped"; exit 77; }
T=$(mktemp -d /tmp/pw-install-macos.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "install_macos: FAIL: $*" >&2; exit 1; }
. "$(dirname "$0")/tree_lib.sh"
# BSD sed/readlink/install/find lack these, bash 3.2 the rest
if grep -nE "sed -i( |$)|sed -i '|readlink -f|install -D|stat -c|find .*-printf|-perm /|\\bmapfile\\b|declare -A|\\$\\{[a-zA-Z_]+(,,|\\^\\^)\\}|;;&|\\|&|&>>" \
    "$INST" "$SRC/deploy/install-lib.sh" |
    grep -v ':\s*#' | grep -v 'stat -c %a "\$1" 2>/dev/null || stat -f %Lp'; then
	fail "GNU-only or bash 4 construct in the macOS install script (above)"
fi
R=$T/root
mkdir "$R"
tree "$R" >"$T/before"
out1=$(bash "$INST" --from "$BUILD" --root "$R" -c "$CONF" --name macbook) || fail "first run: $out1"
tree "$R" >"$T/after1"
out2=$(bash "$INST" --from "$BUILD" --root "$R" -c "$CONF" --name macbook) || fail "second run: $out2"
tree "$R" | diff "$T/after1" - || fail "second run changed the tree"
grep -q "nothing changed" <<<"$out2" || fail "second run: $out2"
grep -q "would run: launchctl bootstrap system /Library/LaunchDaemons/com.peerwatch.peerwatch.plist" <<<"$out1" ||
	fail "no bootstrap line: $out1"
ls "$R"/Library/LaunchDaemons/*.plist >/dev/null || fail "no plists"
[ -x "$R/usr/local/libexec/peerwatch-heal" ] || fail "the heal worker is not installed"
python3 - "$R" "$R"/Library/LaunchDaemons/*.plist <<'PY' || fail "plist check"
import os, plistlib, sys
root = sys.argv[1]
def under(p):
    return os.path.join(root, p.lstrip("/"))
for f in sys.argv[2:]:
    with open(f, "rb") as fh:
        pl = plistlib.load(fh)
    assert pl["Label"] + ".plist" == os.path.basename(f), f
    args = pl["ProgramArguments"]
    if pl["Label"] == "com.peerwatch.peerwatch":
        assert pl["RunAtLoad"] is True and pl["KeepAlive"] is True, f
        assert os.access(under(args[0]), os.X_OK), args[0]
        assert os.path.isfile(under(args[args.index("-c") + 1])), args
        log = args[args.index("--log") + 1]
        assert log.startswith("/usr/local/var/log/peerwatch/"), log
        assert os.path.isdir(under(os.path.dirname(log))), log
        assert os.path.isdir(os.path.dirname(under(pl["StandardErrorPath"])))
    else:
        assert pl["RunAtLoad"] is True, f
        for w in pl["WatchPaths"]:
            assert os.path.isdir(os.path.dirname(under(w))), w
        assert args[:2] == ["/bin/sh", "-c"], args
print("plists ok:", len(sys.argv) - 2)
PY
# --ssh-account: SFTP-only key lines, the dscl and chmod +a lines it
# would run (guard dir rwx, a glob's directory passing r on to new files)
ssh-keygen -q -t ed25519 -N '' -C peer1 -f "$T/peer1"
mkdir -p "$R/Users/felipe/.openclaw" "$R/Users/felipe/openclaw-backups/hourly"
echo '{}' >"$R/Users/felipe/.openclaw/openclaw.json"
echo '{}' >"$R/Users/felipe/openclaw-backups/hourly/1.json"
chmod 700 "$R/Users/felipe"
run_ssh() {
	bash "$INST" --from "$BUILD" --root "$R" -c "$CONF" --name macbook \
	    --ssh-account pwpeers --authorized-key "$T/peer1.pub"
}
out=$(run_ssh) || fail "ssh account: $out"
ak=$R/var/lib/peerwatch-ssh/pwpeers/.ssh/authorized_keys
[ "$(cat "$ak")" = "restrict,command=\"internal-sftp\" $(cat "$T/peer1.pub")" ] ||
	fail "authorized_keys: $(cat "$ak")"
for l in "dscl . -create /Users/pwpeers UserShell /usr/bin/false" \
    "dscl . -create /Users/pwpeers Password *" \
    "chmod +a user:pwpeers allow list,readattr,readextattr,readsecurity,add_file,add_subdirectory,delete_child,search $R/Users/felipe/.openclaw" \
    "chmod +a user:pwpeers allow read,readattr,readextattr,readsecurity,write,append,writeattr,writeextattr $R/Users/felipe/.openclaw/openclaw.json" \
    "chmod +a user:pwpeers allow read,readattr,readextattr,readsecurity,file_inherit,only_inherit $R/Users/felipe/openclaw-backups/hourly" \
    "chmod +a user:pwpeers allow read,readattr,readextattr,readsecurity $R/Users/felipe/openclaw-backups/hourly/1.json" \
    "chmod +a user:pwpeers allow search $R/Users/felipe" \
    "chmod +a user:pwpeers allow list,readattr,readextattr,readsecurity,add_file,add_subdirectory,delete_child,search $R/var/lib/peerwatch/flags"; do
	grep -qxF "would run: $l" <<<"$out" || fail "no \"$l\" in: $out"
done
out=$(run_ssh) || fail "ssh account, second run: $out"
grep -q "nothing changed" <<<"$out" || fail "second run with the account: $out"
echo "from=\"1.2.3.4\" $(cat "$T/peer1.pub")" >"$T/opts.pub"
if out=$(bash "$INST" --from "$BUILD" --root "$R" -c "$CONF" --name macbook \
    --ssh-account pwpeers --authorized-key "$T/opts.pub" 2>&1); then
	fail "took a key line with its own options"
fi
rm -rf "$R/Users"

out=$(bash "$INST" --uninstall --root "$R") || fail "uninstall: $out"
[ -f "$R/etc/peerwatch/peers.conf" ] || fail "uninstall removed the config"
rm "$R/etc/peerwatch/peers.conf"
rmdir "$R/etc/peerwatch" "$R/etc"
tree "$R" | diff "$T/before" - || fail "uninstall left more or less than before"
echo "install_macos: 1 passed, 0 failed"
