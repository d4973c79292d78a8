#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# sigstop: freeze one of three peers (SIGSTOP) for 10 s, then wake it
# (SIGCONT). The survivors treat it as dead meanwhile: confirmed down, one
# acts (alpha). The frozen peer, on waking, must distrust itself: a
# self_stall event and no peer_down, peer_confirmed_down or acting about the
# others, who were alive all along. No survivor ever acts for anyone else.
. "$(dirname "$0")/lib.sh"
pw_setup "$@"

# at most one of alpha, beta acts for gamma, and for nobody else
sane_acting() {
	local n t
	ACTING=0
	for n in alpha beta; do
		status "$n" || return 1
		for t in $(jget "$ST" -k acting); do
			[ "$t" = gamma ] || fail "$n acts for $t"
			ACTING=$((ACTING + 1))
		done
	done
	[ "$ACTING" -le 1 ] || fail "$ACTING peers act for gamma at once"
}

mesh_netns alpha beta gamma
start_all
wait_until 5 settled || fail "mesh did not come up"

kill_peer gamma STOP
# the whole freeze, watched: survivors confirm gamma down, one acts
hold 10 sane_acting || fail "acting went wrong while gamma was frozen"
confirmed_by gamma alpha beta || fail "gamma not confirmed down after 10 s frozen"
acting_is gamma 1 alpha || fail "alpha does not act for frozen gamma"
for n in alpha beta; do
	status "$n"
	[ "$(jget "$ST" has_quorum)" = true ] || fail "$n lost quorum"
done

kill_peer gamma CONT
pw_now
t_wake=$NOW_MS
wait_until 5 all_alive || fail "not all alive after gamma woke"
pw_now
log "all alive $((NOW_MS - t_wake)) ms after SIGCONT"
wait_until 3 acting_empty alpha beta gamma || fail "acting not cleared after gamma woke"
# and it stays so, while gamma's self-distrust runs out (down_after)
hold 3 all_alive || fail "the mesh did not stay alive after gamma woke"
acting_empty alpha beta gamma || fail "someone acts after gamma woke"

ev_has gamma self_stall || fail "gamma logged no self_stall"
after=$(events gamma | awk -F'\t' 'seen { print } $1 == "self_stall" { seen = 1 }')
log "gamma's events after its stall: $(echo "$after" | cut -f1 | tr '\n' ' ')"
if echo "$after" | grep -E $'^(peer_suspect|peer_down|peer_confirmed_down|acting)\t'; then
	fail "gamma judged the others after its own stall"
fi
for n in alpha beta; do
	[ "$(ev_count "$n" self_stall)" -eq 0 ] || fail "$n logged a self_stall"
done
[ "$(ev_count alpha acting gamma)" -eq 1 ] || fail "alpha: $(ev_count alpha acting gamma) acting events for gamma"
[ "$(ev_count alpha acting)" -eq 1 ] && [ "$(ev_count beta acting)" -eq 0 ] ||
    fail "acting events: alpha $(ev_count alpha acting), beta $(ev_count beta acting); want 1 and 0"
[ "$(ev_count gamma acting)" -eq 0 ] || fail "gamma acted"
pass
