#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# revive/one_reviver N (scenario 8): in an N-peer mesh (3 or 5) the target
# dies twice (the second time with a corrupt config). Per death exactly one
# survivor performs the revive: across all survivors' event logs there is
# exactly one revive_start for the target per death, all at the same peer
# (alpha, the smallest name), one config_restored in all for the corrupt
# death, and no two survivors ever act for the target at once.
set -euo pipefail
. "$(dirname "$0")/revive_lib.sh"
rv_setup "$@"

N=${PW_ARGS[0]:-3}
case $N in
3) names=(alpha beta gamma) target=gamma ;;
5) names=(alpha beta gamma delta epsilon) target=delta ;;
*) fail "N must be 3 or 5, not $N" ;;
esac
RV_SSH=$target rv_mesh "${names[@]}"
rv_guard app "$target"
f=$(rv_file app "$target")
rv_sshd_start "$target"
rv_watch "$target"
rv_start_all
wait_until 15 settled || fail "mesh did not come up"
mapfile -t survivors < <(others "$target")

# revive_start events for the target, summed over the survivors
starts_total() {
	local n c=0
	for n in "${survivors[@]}"; do
		c=$((c + $(ev_count "$n" revive_start "$target")))
	done
	echo "$c"
}
# never two acting at once (fails at once); done when the target is back.
# Once alpha's event log holds the revive_ok, every /status read after it
# must say nobody acts: the two agree at every instant.
revived_by_one() {
	acting_count "$target" "${survivors[@]}" || return 1
	[ "$ACTING" -le 1 ] || fail "$ACTING survivors act for $target at once"
	rv_restarted "$target" "$1" || return 1
	rv_ev_has_at_least alpha revive_ok "$2" "$target" || return 1
	acting_count "$target" "${survivors[@]}" || return 1
	[ "$ACTING" -eq 0 ] ||
	    fail "revive_ok logged, yet $ACTING survivor(s) still act for $target"
}

for death in 1 2; do
	old_pid=$(rv_pid "$target")
	rv_kill9 "$target"
	[ "$death" -eq 1 ] || rv_corrupt "$f"
	wait_until 30 revived_by_one "$old_pid" "$death" ||
	    fail "death $death: $target not revived"
	wait_until 15 all_alive || fail "death $death: $target not alive everywhere"
	# nobody acts from revive_ok on; a second reviver would show up
	# late: the condition must keep holding
	hold 2 acting_is "$target" 0 "${survivors[@]}" ||
	    fail "death $death: someone still acts for $target"
	[ "$(starts_total)" -eq "$death" ] ||
	    fail "death $death: $(starts_total) revive_start events for $target in all"
	[ "$(ev_count alpha revive_start "$target")" -eq "$death" ] ||
	    fail "death $death: alpha did not perform the revive"
	log "death $death: revived once, by alpha"
done
restored=0
for n in "${survivors[@]}"; do
	restored=$((restored + $(ev_count "$n" config_restored "$target")))
done
[ "$restored" -eq 1 ] || fail "$restored config_restored events in all, want 1"
[ "$(ls "$f".broken-* | wc -l)" -eq 1 ] || fail "want one broken copy: $(ls "$f".broken-*)"
[ "$(rv_flags_seen "$target" revive)" -eq 2 ] ||
    fail "$(rv_flags_seen "$target" revive) revive flags seen, want 2"
rv_pass
