#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# revive/dry_run (scenario 9): gamma is down with a corrupt config and the
# mesh will not revive it by itself (max_revives_per_hour = 0: alpha hits
# the limit at once). `peerwatch revive gamma --dry-run` at alpha prints
# would_restore with the source (.bak) and writes nothing on gamma (file
# bytes and directory listings unchanged, no flag), and which flags it
# would write and why: app's (restored) and gamma's own (its peerwatch is
# silent), not bot's (valid). Then `peerwatch revive gamma` restores from
# .bak, drops exactly those two flags, and gamma comes back.
set -euo pipefail
. "$(dirname "$0")/revive_lib.sh"
rv_setup "$@"

RV_MESH_EXTRA="max_revives_per_hour = 0" RV_SSH=gamma rv_mesh alpha beta gamma
rv_guard app gamma
rv_guard bot gamma
f=$(rv_file app gamma)
rv_sshd_start gamma
rv_watch gamma
rv_start_all
wait_until 10 settled || fail "mesh did not come up"

old_pid=$(rv_pid gamma)
rv_kill9 gamma
rv_corrupt "$f"
wait_until 15 rv_escalations_ge alpha revive_limit 1 gamma ||
    fail "alpha: no revive_limit escalation (max_revives_per_hour = 0)"
[ "$(ev_count alpha revive_start gamma)" -eq 0 ] || fail "alpha started a revive by itself"
app_before=$(rv_snapshot "$T/gamma/app")
ls_before=$(ls -la --time-style=+%s.%N "$T/gamma/app" "$T/gamma/flags")

# the dry run: JSON
out=$(pw_cli alpha revive gamma --dry-run --json) || fail "revive --dry-run --json failed: $out"
log "dry run: $(tr -d '\n\t' <<<"$out")"
[ "$(jget "$out" dry_run)" = true ] || fail "dry_run is not true"
[ "$(jget "$out" ssh)" = ok ] || fail "ssh: $(jget "$out" ssh)"
[ "$(jget "$out" guards.0.guard)" = app ] || fail "guard: $(jget "$out" guards.0.guard)"
[ "$(jget "$out" guards.0.outcome)" = would_restore ] ||
    fail "outcome: $(jget "$out" guards.0.outcome), want would_restore"
[ "$(jget "$out" guards.0.source)" = "$f.bak" ] ||
    fail "source: $(jget "$out" guards.0.source), want $f.bak"
[ -n "$(jget "$out" guards.0.invalid_reason)" ] || fail "no invalid_reason"
[ "$(jget "$out" flag_written)" = false ] || fail "flag_written is not false"
# flags: app's and gamma's own would be written, bot's not (valid)
for i in 0 1 2; do
	who=$(jget "$out" "flags.$i.for")
	want=$(jget "$out" "flags.$i.write")
	log "flag for $who: write $want ($(jget "$out" "flags.$i.why"))"
	case $who in
	app | peerwatch) [ "$want" = true ] || fail "$who: write is $want" ;;
	bot) [ "$want" = false ] || fail "bot: write is $want" ;;
	*) fail "flag for $who?" ;;
	esac
	[ "$(jget "$out" "flags.$i.written")" = false ] || fail "$who: written on a dry run"
done
# the dry run: text
txt=$(pw_cli alpha revive gamma --dry-run) || fail "revive --dry-run failed: $txt"
printf '%s\n' "$txt" >&2
grep -q "would_restore" <<<"$txt" || fail "the text output does not say would_restore"
grep -qF "from $f.bak" <<<"$txt" || fail "the text output does not name the source"
grep -qE "flag app +would_write" <<<"$txt" || fail "the text output does not say app's flag would be written"
grep -qE "flag peerwatch +would_write" <<<"$txt" || fail "the text output does not say gamma's flag would be written"
grep -qE "flag bot +not_written" <<<"$txt" || fail "the text output does not say bot's flag would not be written"
grep -qF "bot is valid" <<<"$txt" || fail "the text output does not say why bot is not flagged"

# nothing written: same bytes, same listing (names, sizes, mtimes), no flag
hold 1 rv_unchanged "$T/gamma/app" "$app_before" || fail "gamma's files changed"
ls_after=$(ls -la --time-style=+%s.%N "$T/gamma/app" "$T/gamma/flags")
[ "$ls_before" = "$ls_after" ] || fail "directory listing changed:
$ls_before
----
$ls_after"
[ ! -s "$T/gamma/flags.log" ] || fail "the watcher saw flags: $(cat "$T/gamma/flags.log")"
for e in config_restored flag_dropped; do
	[ "$(ev_count alpha "$e")" -eq 0 ] || fail "alpha logged $e on a dry run"
done
pw_gone "$(rv_pid gamma)" || fail "gamma restarted on a dry run"

# the real thing
out=$(pw_cli alpha revive gamma --json) || fail "revive --json failed: $out"
log "revive: $(tr -d '\n\t' <<<"$out")"
[ "$(jget "$out" dry_run)" = false ] || fail "dry_run is not false"
[ "$(jget "$out" guards.0.outcome)" = restored ] ||
    fail "outcome: $(jget "$out" guards.0.outcome), want restored"
[ "$(jget "$out" guards.0.source)" = "$f.bak" ] || fail "source: $(jget "$out" guards.0.source)"
[ "$(jget "$out" flag_written)" = true ] || fail "flag_written is not true"
cmp -s "$f" "$f.bak" || fail "$f not restored from .bak"
[ "$(ls "$f".broken-* | wc -l)" -eq 1 ] || fail "want one broken copy"
wait_until 20 rv_restarted gamma "$old_pid" || fail "gamma not restarted by its flag"
wait_until 15 all_alive || fail "gamma not alive again everywhere"
wait_until 10 ev_has alpha revive_ok gamma || fail "alpha: no revive_ok after the manual revive"
[ "$(rv_flags_seen gamma revive)" -eq 1 ] && [ "$(rv_flags_seen gamma guard)" -eq 1 ] ||
    fail "watcher: $(cat "$T/gamma/flags.log")"
grep -q " guard app.flag$" "$T/gamma/flags.log" || fail "app's flag not seen: $(cat "$T/gamma/flags.log")"
rv_pass
