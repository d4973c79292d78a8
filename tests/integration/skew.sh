#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# skew: gamma's wall clock runs 10 minutes ahead (faketime; its monotonic
# clock is left alone). Skew is reported, never a reason to drop: gamma
# stays alive in everyone's view, /status shows its clock_skew_ms near
# 600000 with clock_skew_warning, and each peer logs clock_skew once per
# skewed peer.
. "$(dirname "$0")/lib.sh"
pw_setup "$@"
command -v faketime >/dev/null 2>&1 || fail "needs faketime (deploy/deps.sh installs it)"

# skew_ok NAME PEER LOW HIGH: NAME sees PEER's clock_skew_ms in [LOW, HIGH]
# with the warning on
skew_ok() {
	local s w
	status "$1" || return 1
	s=$(jget "$ST" "peers.$2.clock_skew_ms") || return 1
	w=$(jget "$ST" "peers.$2.clock_skew_warning") || return 1
	log "$1 sees $2 skewed by $s ms (warning $w)"
	[ "$s" -ge "$3" ] && [ "$s" -le "$4" ] && [ "$w" = true ]
}

asan=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0
mesh_netns alpha beta gamma
start alpha
start beta
start gamma env FAKETIME_DONT_FAKE_MONOTONIC=1 ASAN_OPTIONS="$asan" \
    faketime -f +10m
wait_until 5 settled || fail "mesh did not come up"
hold 5 settled || fail "gamma did not stay alive for 5 s"

for n in alpha beta; do
	skew_ok "$n" gamma 595000 605000 || fail "$n: bad skew for gamma"
	skew_ok "$n" "$(others "$n" | grep -v gamma)" -5000 5000 &&
	    fail "$n warns about an unskewed peer"
	[ "$(ev_count "$n" clock_skew gamma)" -eq 1 ] ||
	    fail "$n: $(ev_count "$n" clock_skew gamma) clock_skew events for gamma, want 1"
	[ "$(ev_count "$n" clock_skew)" -eq 1 ] || fail "$n: clock_skew events for others"
done
for p in alpha beta; do
	skew_ok gamma "$p" -605000 -595000 || fail "gamma: bad skew for $p"
	[ "$(ev_count gamma clock_skew "$p")" -eq 1 ] ||
	    fail "gamma: $(ev_count gamma clock_skew "$p") clock_skew events for $p, want 1"
done
status alpha
[ "$(jget "$ST" drops.replay)" = 0 ] && [ "$(jget "$ST" drops.bad_signature)" = 0 ] ||
    fail "alpha dropped heartbeats: $(jget "$ST" drops)"
pass
