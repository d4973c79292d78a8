#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# revive/local_backoff (issue 13, items 3 and 5): alpha guards its own
# config, and that config is a symbolic link (a dotfile manager's) to a
# broken file. The local check refuses it: the link is not replaced by a
# plain file, its target is not written through, no broken copy or temp
# file is made, and the refusal is a restore_failed incident that names
# the link. A repair that keeps failing backs off: with guard_interval 1s
# the checks come 2 s, then 4 s apart instead of every second.
set -euo pipefail
. "$(dirname "$0")/revive_lib.sh"
rv_setup "$@"

RV_TIMINGS="guard_interval = 1s" rv_mesh alpha beta
rv_guard app alpha
f=$(rv_file app alpha)
real=$T/alpha/app/real.json
rv_corrupt "$real"
cp "$real" "$T/real.bytes"
rm -f "$f"
ln -s "$real" "$f"
rv_start_all
wait_until 10 settled || fail "mesh did not come up"

invalid_ts() {
	rv_ev alpha type peer guard ts |
	    awk -F'\t' '$1 == "config_invalid" && $2 == "alpha" &&
	    $3 == "app" { print $4 }'
}
invalid_ge() {
	[ "$(invalid_ts | wc -l)" -ge "$1" ]
}
wait_until 30 invalid_ge 3 || fail "alpha did not check app three times"

# the file: still the link, its target untouched, nothing made beside it
[ -L "$f" ] || fail "$f is no longer a symbolic link"
[ "$(readlink "$f")" = "$real" ] || fail "$f points elsewhere: $(readlink "$f")"
cmp -s "$real" "$T/real.bytes" || fail "the link's target was written"
left=$(cd "$T/alpha/app" && ls -A | grep -E '\.(broken-|peerwatch-)' || true)
[ -z "$left" ] || fail "artefacts left beside the link: $left"

# the refusal is an incident that says why, raised once
wait_until 5 rv_escalations_ge alpha restore_failed 1 app@alpha ||
    fail "no restore_failed escalation for app@alpha"
[ "$(rv_escalations alpha restore_failed app@alpha)" -eq 1 ] ||
    fail "restore_failed raised $(rv_escalations alpha restore_failed app@alpha) times"
rv_ev alpha type detail | grep -q $'^escalation\t.*symbolic link' ||
    fail "the escalation does not name the symbolic link"

# backoff: the 1st and 3rd checks are at least 2 s + 4 s apart (every
# guard_interval, they would be 2 s apart)
first=$(invalid_ts | sed -n 1p)
third=$(invalid_ts | sed -n 3p)
gap=$(($(rv_ts_ms "$third") - $(rv_ts_ms "$first")))
log "first three checks over $gap ms"
[ "$gap" -ge 5500 ] || fail "checks not backed off: 3 checks in $gap ms"
grep -q "next check in 2 s" "$T/alpha.log" || fail "no 2 s backoff logged"
grep -q "next check in 4 s" "$T/alpha.log" || fail "no 4 s backoff logged"
rv_pass
