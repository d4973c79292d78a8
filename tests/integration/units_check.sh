#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# units_check: `peerwatch check-config` warns about a systemd unit written
# by hand that restarts a service on a guard's flag without `systemctl
# reset-failed` first (after StartLimitBurst the restart would fail and the
# service stay down), names the file, keeps exit 0; and stays quiet about
# the units deploy-units writes. No root needed.
set -euo pipefail
PW=$1
SRC=$(cd "$(dirname "$0")/../.." && pwd)
CONF=$SRC/deploy/peers.conf.example
T=$(mktemp -d /tmp/pw-units-check.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "units_check: FAIL: $*" >&2; exit 1; }
check() { PEERWATCH_SYSTEMD_DIR=$1 "$PW" check-config -c "$CONF" "${@:2}"; }

# deploy-units' own units clear the start limit: no warning
out=$(check "$SRC/deploy/linux" 2>&1) || fail "check-config failed: $out"
grep -q '^warning:' <<<"$out" && fail "warned about deploy-units' units: $out"

# the same flag unit without its reset-failed line
mkdir "$T/own"
cp "$SRC"/deploy/linux/* "$T/own/"
grep -v reset-failed "$SRC/deploy/linux/peerwatch-flag-bot.service" \
    >"$T/own/peerwatch-flag-bot.service"
out=$(check "$T/own" 2>&1) || fail "a warning changed the exit code: $out"
grep -q "^warning: $T/own/peerwatch-flag-bot.service: restarts bot.service when the flag of \[guard bot@vps\]" <<<"$out" ||
    fail "no warning naming the unit: $out"
[ "$(grep -c '^warning:' <<<"$out")" -eq 1 ] || fail "want exactly one warning: $out"
json=$(check "$T/own" --json 2>/dev/null)
grep -q '"warnings": \[' <<<"$json" && grep -q 'peerwatch-flag-bot.service: restarts bot.service' <<<"$json" ||
    fail "--json carries no warnings: $json"

# a unit of the user's own naming, PathChanged=, a bare systemctl line
mkdir "$T/mine"
cat >"$T/mine/bot-flag.path" <<UNIT
[Path]
PathChanged=/var/lib/peerwatch/flags/revive-bot.flag
Unit=bot-restart.service
UNIT
cat >"$T/mine/bot-restart.service" <<UNIT
[Service]
Type=oneshot
ExecStart=/bin/systemctl --no-block restart bot.service
UNIT
out=$(check "$T/mine" 2>&1) || fail "check-config failed: $out"
grep -q "^warning: $T/mine/bot-restart.service: restarts bot.service" <<<"$out" ||
    fail "no warning for the user's own unit: $out"
# ... and once it clears the start limit, quiet
sed -i 's|^ExecStart=|ExecStart=/bin/systemctl reset-failed bot.service\nExecStart=|' "$T/mine/bot-restart.service"
out=$(check "$T/mine" 2>&1) || fail "check-config failed: $out"
grep -q '^warning:' <<<"$out" && fail "warned although the unit runs reset-failed: $out"

# a heal worker the daemon would not find is said, the exit unchanged
out=$(PEERWATCH_HEAL=$T/no-heal check "$T/mine" 2>&1) || fail "a missing worker changed the exit code: $out"
grep -q "^warning: heal worker $T/no-heal: No such file or directory: revives and repairs cannot run" <<<"$out" ||
    fail "no warning about the missing heal worker: $out"
echo "units_check: 1 passed, 0 failed"
