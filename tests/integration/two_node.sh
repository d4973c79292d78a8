#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# two_node: a 2-host mesh acts on one vote (like Corosync's two_node). Kill
# one; the other keeps quorum alone, confirms it down and acts; restart it
# and the acting ends.
. "$(dirname "$0")/lib.sh"
pw_setup "$@"

mesh_netns alpha beta
start_all
wait_until 5 settled || fail "mesh did not come up"
status beta
[ "$(jget "$ST" peers.alpha.votes_needed)" = 1 ] ||
    fail "2-host mesh needs $(jget "$ST" peers.alpha.votes_needed) votes, want 1"

pw_now
t_kill=$NOW_MS
kill_peer alpha KILL
wait_until 8 confirmed_by alpha beta || fail "beta did not confirm alpha down"
wait_until 3 acting_is alpha 1 beta || fail "beta does not act for alpha"
pw_now
log "beta confirmed alpha down and acts $((NOW_MS - t_kill)) ms after the kill"
status beta
[ "$(jget "$ST" has_quorum)" = true ] || fail "beta alone has no quorum"
[ "$(jget "$ST" peers.alpha.acting_peer)" = beta ] || fail "acting peer is not beta"
[ "$(ev_count beta acting alpha)" -eq 1 ] || fail "beta: $(ev_count beta acting alpha) acting events"

start alpha
wait_until 5 settled || fail "alpha not back"
wait_until 3 acting_empty alpha beta || fail "acting not cleared"
[ "$(ev_count beta acting_end alpha)" -eq 1 ] || fail "beta: no acting_end"
pass
