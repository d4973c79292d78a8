#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# kill9: kill -9 one of three peers. Both survivors confirm it down; exactly
# one of them (beta: the smallest alive name) acts for it, never two; the
# dead peer restarts on a greater incarnation, everyone sees it alive and
# the acting ends.
. "$(dirname "$0")/lib.sh"
pw_setup "$@"

# exactly one of the NAMEs acts for TARGET; two is a failure at once
one_acts() {
	acting_count "$@" || return 1
	[ "$ACTING" -le 1 ] || fail "$ACTING peers act for $1 at once"
	[ "$ACTING" -eq 1 ]
}

mesh_netns alpha beta gamma
start_all
wait_until 5 settled || fail "mesh did not come up"
status alpha
old_inc=$(jget "$ST" incarnation)

pw_now
t_kill=$NOW_MS
kill_peer alpha KILL
wait_until 8 confirmed_by alpha beta gamma ||
    fail "alpha not confirmed down at both survivors"
pw_now
log "alpha confirmed down at beta and gamma $((NOW_MS - t_kill)) ms after the kill"
wait_until 5 one_acts alpha beta gamma || fail "nobody acts for alpha"
hold 2 one_acts alpha beta gamma || fail "acting for alpha did not stay with one peer"
for n in beta gamma; do
	status "$n"
	[ "$(jget "$ST" peers.alpha.acting_peer)" = beta ] ||
	    fail "$n says the acting peer is $(jget "$ST" peers.alpha.acting_peer), want beta"
	[ "$(jget "$ST" has_quorum)" = true ] || fail "$n lost quorum"
done
acting_is alpha 1 beta || fail "beta does not act for alpha"
[ "$(ev_count beta acting alpha)" -eq 1 ] || fail "beta: $(ev_count beta acting alpha) acting events"
[ "$(ev_count gamma acting)" -eq 0 ] || fail "gamma logged acting"

start alpha
pw_now
t_start=$NOW_MS
wait_until 5 all_alive || fail "alpha not alive again after its restart"
pw_now
log "alpha alive again everywhere $((NOW_MS - t_start)) ms after the restart"
wait_until 3 acting_empty beta gamma || fail "acting not cleared"
status alpha
new_inc=$(jget "$ST" incarnation)
[ "$new_inc" -gt "$old_inc" ] || fail "alpha restarted at incarnation $new_inc <= $old_inc"
for n in beta gamma; do
	status "$n"
	[ "$(jget "$ST" peers.alpha.incarnation)" = "$new_inc" ] ||
	    fail "$n sees alpha at incarnation $(jget "$ST" peers.alpha.incarnation), want $new_inc"
	[ "$(jget "$ST" peers.alpha.confirmed_down)" = false ] || fail "$n: alpha still confirmed down"
	[ "$(ev_count "$n" peer_restarted alpha)" -eq 1 ] || fail "$n: no peer_restarted event"
done
[ "$(ev_count beta acting_end alpha)" -eq 1 ] || fail "beta: no acting_end for alpha"
[ "$(ev_count beta acting)" -eq 1 ] && [ "$(ev_count gamma acting)" -eq 0 ] ||
    fail "acting events: beta $(ev_count beta acting), gamma $(ev_count gamma acting); want 1 and 0"
pass
