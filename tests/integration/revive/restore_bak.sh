#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# revive/restore_bak (scenario 1): gamma's peerwatch is killed with -9 and
# its guarded config corrupted. alpha (the acting peer) logs in to gamma's
# real sshd, restores the file from {file}.bak, keeps the corrupt bytes as
# FILE.broken-<t>, drops the guard flag and gamma's revive flag; the flag
# watcher (systemd's stand-in) restarts gamma, which comes back on a new
# incarnation. alpha's event log shows every step in order.
set -euo pipefail
. "$(dirname "$0")/revive_lib.sh"
rv_setup "$@"

RV_SSH=gamma rv_mesh alpha beta gamma
rv_guard app gamma
f=$(rv_file app gamma)
rv_sshd_start gamma
rv_watch gamma
rv_start_all
wait_until 10 settled || fail "mesh did not come up"

status gamma
old_inc=$(jget "$ST" incarnation)
old_pid=$(rv_pid gamma)
rv_kill9 gamma
rv_corrupt "$f"
cp "$f" "$T/corrupt.bytes"
pw_now
t_kill=$NOW_MS

wait_until 30 rv_restarted gamma "$old_pid" ||
    fail "gamma was not restarted by its revive flag"
wait_until 15 all_alive || fail "gamma not alive again everywhere"
wait_until 5 ev_has alpha revive_ok gamma || fail "alpha: no revive_ok"
pw_now
log "gamma back alive $((NOW_MS - t_kill)) ms after the kill"

# the file: restored from .bak, the corrupt bytes kept beside it
cmp -s "$f" "$f.bak" || fail "$f does not hold the .bak content"
broken=("$f".broken-*)
[ "${#broken[@]}" -eq 1 ] && [ -f "${broken[0]}" ] ||
    fail "want exactly one $f.broken-*, have: ${broken[*]}"
cmp -s "${broken[0]}" "$T/corrupt.bytes" ||
    fail "${broken[0]} does not hold the corrupt bytes"
[ ! -e "$f.peerwatch-tmp" ] || fail "$f.peerwatch-tmp left behind"

# the flags: both seen (and removed) by the watcher, bodies as documented
[ "$(rv_flags_seen gamma revive)" -eq 1 ] ||
    fail "watcher saw $(rv_flags_seen gamma revive) revive flags, want 1"
[ "$(rv_flags_seen gamma guard)" -eq 1 ] ||
    fail "watcher saw $(rv_flags_seen gamma guard) guard flags, want 1"
body=$(cat "$T"/gamma/seen/*-app.flag)
[ "$(jget "$body" by)" = alpha ] || fail "guard flag body: by is not alpha: $body"
[ "$(jget "$body" restored_from)" = "$f.bak" ] ||
    fail "guard flag body: restored_from is not $f.bak: $body"
jget "$body" at reason >/dev/null || fail "guard flag body lacks at/reason: $body"
body=$(cat "$T"/gamma/seen/*-revive-peerwatch.flag)
[ "$(jget "$body" by)" = alpha ] || fail "revive flag body: by is not alpha: $body"

# a new incarnation, seen by gamma itself and by alpha
status gamma
new_inc=$(jget "$ST" incarnation)
[ "$new_inc" -gt "$old_inc" ] || fail "gamma incarnation $new_inc <= $old_inc"
status alpha
[ "$(jget "$ST" peers.gamma.incarnation)" = "$new_inc" ] ||
    fail "alpha sees gamma at incarnation $(jget "$ST" peers.gamma.incarnation)"
[ "$(jget "$ST" -d none revive.gamma.revives_this_hour)" = 1 ] ||
    fail "alpha: revives_this_hour is not 1: $(jget "$ST" -d none revive.gamma)"

# alpha's event log: each step, in order
steps=$(rv_steps alpha gamma | tr '\n' ' ')
[ "$steps" = "revive_start config_invalid config_restored flag_dropped revive_ok " ] ||
    fail "alpha's revive events for gamma: $steps"
restored=$(rv_ev alpha type guard source broken_copy | awk -F'\t' '$1 == "config_restored"')
[ "$(cut -f2 <<<"$restored")" = app ] || fail "config_restored: guard: $restored"
[ "$(cut -f3 <<<"$restored")" = "$f.bak" ] || fail "config_restored: source: $restored"
[ "$(cut -f4 <<<"$restored")" = "${broken[0]}" ] ||
    fail "config_restored: broken_copy: $restored"
flags=$(rv_ev alpha type flags | awk -F'\t' '$1 == "flag_dropped" { print $2 }')
for want in "$(rv_guard_flag app gamma)" "$(rv_revive_flag gamma)"; do
	grep -qF "\"$want\"" <<<"$flags" || fail "flag_dropped lacks $want: $flags"
done
for n in beta gamma; do
	[ "$(ev_count "$n" revive_start)" -eq 0 ] || fail "$n logged revive_start"
done
rv_pass
