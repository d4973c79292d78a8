#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# revive/deploy_units (scenario 10): `peerwatch deploy-units` for a host
# with two guards. --linux -o DIR writes peerwatch.service,
# peerwatch-revive.{path,service} and peerwatch-flag-GUARD.{path,service};
# `systemd-analyze verify` accepts every one (and, as a check of the check,
# refuses a deliberately broken unit). --macos plists are well-formed (and
# carry on_flag through XML escaping intact). -o into a directory that
# already holds the files exits 1 and leaves them as they were.
# No daemon runs; needs no root or sshd, only systemd-analyze for verify.
set -euo pipefail
. "$(cd "$(dirname "$0")/.." && pwd)/lib.sh"
pw_setup "$@"

SDA=${SYSTEMD_ANALYZE:-/usr/bin/systemd-analyze}
line=$("$PW" keygen -o "$T/key" 2>/dev/null)
# on_flag with characters systemd (%, $, \, ") and XML (<, >, &) treat
# specially; flags in a dir with a space
app_cmd='systemctl restart app.service'
bot_cmd='sh -c "date +%s > /tmp/pw-never-run-$$ && echo \"a\\b\" <x> & true"'
cat >"$T/peers.conf" <<EOF
[mesh]
key = $T/key
state_dir = $T/state
ssh_key = $T/client
revive_flag = $T/flags dir/revive-peerwatch.flag

[peer host1]
address = 127.214.$K.1
$line
ssh = root@127.214.$K.1:2222
ssh_hostkey = SHA256:gMRCtzKiMG1dBNwvNT57GB4L/AdTXuW22QK6C41z5rg

[guard app@host1]
file = $T/app/app.json
require = server.port
backups = {file}.bak mesh
flag = $T/flags dir/app.flag
on_flag = $app_cmd

[guard bot@host1]
file = $T/bot/config.json
require = token
backups = {file}.bak
flag = $T/flags dir/bot.flag
on_flag = $bot_cmd
EOF
"$PW" check-config -c "$T/peers.conf" >&2 || fail "check-config refused the test config"
# "sha256 name" of every file in DIR
rv_snap() {
	(cd "$1" && pw_sha256 -- * | sort)
}
units() {
	"$PW" deploy-units -c "$T/peers.conf" --name host1 --bin "$PW" "$@"
}

# --- Linux -------------------------------------------------------------------
mkdir "$T/linux"
units --linux -o "$T/linux" >&2 || fail "deploy-units --linux -o failed"
want="peerwatch-flag-app.path peerwatch-flag-app.service peerwatch-flag-bot.path peerwatch-flag-bot.service peerwatch-revive.path peerwatch-revive.service peerwatch-sleep.service peerwatch.service"
have=$(ls "$T/linux" | sort | tr '\n' ' ')
[ "$have" = "$want " ] || fail "unit files: $have; want $want"
# the printed form is the same units
printed=$(units --linux) || fail "deploy-units --linux (stdout) failed"
for u in $want; do
	grep -qx "# ---- $u ----" <<<"$printed" || fail "stdout lacks $u"
done
grep -qxF "WantedBy=sleep.target" "$T/linux/peerwatch-sleep.service" ||
    fail "peerwatch-sleep.service is not pulled in by sleep.target"
grep -q "sleep-notice" "$T/linux/peerwatch-sleep.service" ||
    fail "peerwatch-sleep.service does not send the notice"
grep -qxF "PathExists=$T/flags dir/app.flag" "$T/linux/peerwatch-flag-app.path" ||
    fail "peerwatch-flag-app.path does not watch the app flag"
grep -qxF "Unit=peerwatch-flag-app.service" "$T/linux/peerwatch-flag-app.path" ||
    fail "peerwatch-flag-app.path does not start its service"
grep -qxF "PathExists=$T/flags dir/revive-peerwatch.flag" "$T/linux/peerwatch-revive.path" ||
    fail "peerwatch-revive.path does not watch the revive flag"
grep -qF "$app_cmd" "$T/linux/peerwatch-flag-app.service" ||
    fail "peerwatch-flag-app.service does not run on_flag"
grep -q "^ExecStart=$PW run" "$T/linux/peerwatch.service" ||
    fail "peerwatch.service does not run $PW"

if [ ! -x "$SDA" ]; then
	log "no $SDA: systemd-analyze verify NOT run"
else
	# a broken unit first: the verifier must catch it, or it proves nothing
	mkdir "$T/broken"
	printf '[Path]\nPathExists=relative/flag\nUnit=nosuch.service\n' \
	    >"$T/broken/pw-broken.path"
	if "$SDA" verify --man=no "$T/broken/pw-broken.path" \
	    >"$T/broken.out" 2>&1; then
		cat "$T/broken.out" >&2
		fail "systemd-analyze verify accepted a broken unit: it cannot judge ours"
	fi
	log "verify refuses a broken unit: $(head -n 1 "$T/broken.out")"
	rc=0
	(cd "$T/linux" && "$SDA" verify --man=no ./*.service ./*.path) \
	    >"$T/verify.out" 2>&1 || rc=$?
	cat "$T/verify.out" >&2
	[ "$rc" -eq 0 ] || fail "systemd-analyze verify exited $rc"
	if grep -E 'peerwatch[^ ]*\.(service|path)' "$T/verify.out" |
	    grep -viE 'PID 1|container' >&2; then
		fail "systemd-analyze verify complained about our units"
	fi
	log "systemd-analyze verify accepts all $(ls "$T/linux" | wc -l) units"
fi

# -o over existing files: exit 1, nothing changed
before=$(rv_snap "$T/linux")
rc=0
units --linux -o "$T/linux" >"$T/again.out" 2>&1 || rc=$?
cat "$T/again.out" >&2
[ "$rc" -eq 1 ] || fail "deploy-units -o over existing files exited $rc, want 1"
[ "$(rv_snap "$T/linux")" = "$before" ] || fail "deploy-units -o changed existing files"
# one file there already, with other content: still exit 1, it is kept
mkdir "$T/partial"
echo "# mine" >"$T/partial/peerwatch-flag-bot.service"
rc=0
units --linux -o "$T/partial" >"$T/partial.out" 2>&1 || rc=$?
[ "$rc" -eq 1 ] || fail "deploy-units -o over one existing file exited $rc, want 1"
[ "$(cat "$T/partial/peerwatch-flag-bot.service")" = "# mine" ] ||
    fail "deploy-units -o overwrote an existing file"
log "-o over existing files: exit 1, unchanged"

# --- macOS -------------------------------------------------------------------
# The launchd flag job of a guard whose on_flag counts its runs, run the way
# launchd runs it: at load (RunAtLoad) and on every change of the watched
# path, which includes the job's own rm. Each flag must run on_flag once,
# a flag already there at load included; no flag, no run.
mac_job_runs() {
	[ -f "$T/macjob/ran" ] && wc -l <"$T/macjob/ran" | tr -d ' ' || echo 0
}
mac_job_runs_once() {
	local d=$T/macjob line2 args
	mkdir -p "$d/out"
	line2=$("$PW" keygen -o "$d/key" 2>/dev/null)
	cat >"$d/peers.conf" <<EOF
[mesh]
key = $d/key
state_dir = $d/state
revive_flag = $d/revive.flag
[peer m1]
address = 127.0.0.1
$line2
[guard probe@m1]
file = $d/probe.json
flag = $d/probe flag
on_flag = echo ran >>'$d/ran'
EOF
	"$PW" deploy-units -c "$d/peers.conf" --name m1 --bin "$PW" --macos \
	    -o "$d/out" >/dev/null || fail "deploy-units --macos (probe) failed"
	args=$("$PY" - "$d/out/com.peerwatch.flag.probe.plist" <<'EOF'
import plistlib, sys
d = plistlib.load(open(sys.argv[1], "rb"))
assert d.get("RunAtLoad") is True, "no RunAtLoad"
a = d["ProgramArguments"]
assert a[:2] == ["/bin/sh", "-c"], a
print(a[2])
EOF
) || fail "probe plist: no RunAtLoad or not /bin/sh -c"
	/bin/sh -c "$args" || fail "job at load without a flag failed"
	[ "$(mac_job_runs)" = 0 ] || fail "job ran on_flag without a flag"
	: >"$d/probe flag"
	/bin/sh -c "$args" || fail "job with a flag failed"
	[ "$(mac_job_runs)" = 1 ] || fail "a flag ran on_flag $(mac_job_runs) times, want 1"
	[ ! -e "$d/probe flag" ] || fail "job left the flag"
	# launchd fires again for the job's own rm: nothing more happens
	/bin/sh -c "$args" || fail "job after its own rm failed"
	[ "$(mac_job_runs)" = 1 ] || fail "the job's own rm ran on_flag again"
	# a flag present when the job is loaded (RunAtLoad)
	: >"$d/probe flag"
	/bin/sh -c "$args" || fail "job at load with a flag failed"
	[ "$(mac_job_runs)" = 2 ] ||
	    fail "a flag present at load: on_flag ran $(mac_job_runs) times in all, want 2"
	grep -qE '^/usr/local/var/log/peerwatch/peerwatch\.log[[:space:]].*[[:space:]]N$' \
	    "$d/out/peerwatch.newsyslog.conf" ||
	    fail "no newsyslog entry for /usr/local/var/log/peerwatch/peerwatch.log"
	"$PY" - "$d/out/com.peerwatch.peerwatch.plist" <<'EOF' ||
import plistlib, sys
d = plistlib.load(open(sys.argv[1], "rb"))
a = d["ProgramArguments"]
assert a[-2:] == ["--log", d["StandardErrorPath"]], a
EOF
	    fail "peerwatch plist does not log through --log to its StandardErrorPath"
	"$PY" - "$d/out/com.peerwatch.revive.plist" <<'EOF' ||
import plistlib, sys
d = plistlib.load(open(sys.argv[1], "rb"))
assert d.get("RunAtLoad") is True
assert d["ProgramArguments"][2].endswith(
    "; launchctl kickstart -k system/com.peerwatch.peerwatch")
EOF
	    fail "revive plist: no RunAtLoad or no kickstart -k"
}

mkdir "$T/macos"
units --macos -o "$T/macos" >&2 || fail "deploy-units --macos -o failed"
plists=("$T"/macos/*.plist)
[ "${#plists[@]}" -ge 4 ] && [ -f "${plists[0]}" ] ||
    fail "want >= 4 plists, have: $(ls "$T/macos")"
PY=
for p in /usr/bin/python3 "$(command -v python3 || true)"; do
	[ -n "$p" ] && [ -x "$p" ] && { PY=$p; break; }
done
if [ -n "$PY" ] && "$PY" -c 'import plistlib' 2>/dev/null; then
	"$PY" -c 'import plistlib,sys
for p in sys.argv[1:]: plistlib.load(open(p,"rb"))' "${plists[@]}" ||
	    fail "not every plist is well-formed"
	# bot's job runs exactly on_flag after removing the flag
	got=$("$PY" - "$T/macos" <<'EOF'
import glob, plistlib, sys
for p in glob.glob(sys.argv[1] + "/*.plist"):
    d = plistlib.load(open(p, "rb"))
    if any(w.endswith("/bot.flag") for w in d.get("WatchPaths", [])):
        print(d["ProgramArguments"][-1])
EOF
)
	case $got in
	*"; $bot_cmd") ;;
	*) fail "bot's launchd job runs: $got; want ...; $bot_cmd" ;;
	esac
	log "${#plists[@]} plists well-formed (python3 plistlib)"
	mac_job_runs_once
	log "launchd flag job: runs at load, once per flag, not on its own rm"
elif command -v xmllint >/dev/null 2>&1; then
	for p in "${plists[@]}"; do
		xmllint --noout "$p" || fail "$p: not well-formed XML"
	done
	log "${#plists[@]} plists well-formed (xmllint)"
else
	log "neither python3 nor xmllint: plist well-formedness NOT checked"
fi
before=$(rv_snap "$T/macos")
rc=0
units --macos -o "$T/macos" >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 1 ] || fail "deploy-units --macos -o over existing files exited $rc, want 1"
[ "$(rv_snap "$T/macos")" = "$before" ] || fail "deploy-units --macos -o changed existing files"
# run from elsewhere: -c given relative to the current directory must reach
# the unit as an absolute path (systemd runs ExecStart in /)
mkdir "$T/rel"
(cd "$T" && "$PW" deploy-units -c peers.conf --name host1 --bin "$PW" \
    --linux -o rel >/dev/null) || fail "deploy-units with a relative -c failed"
exec_line=$(grep '^ExecStart=' "$T/rel/peerwatch.service")
[ "$exec_line" = "ExecStart=$PW run -c $T/peers.conf" ] ||
    fail "with -c peers.conf (relative) peerwatch.service has: $exec_line; want ExecStart=$PW run -c $T/peers.conf"
log "relative -c made absolute in peerwatch.service"
pass
