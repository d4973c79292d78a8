#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# mesh_up: N peers (3 or 5) in their own network namespaces, started one
# after the other, all see each other alive within 3 intervals (1.5 s) of
# the last start, plus slack for sanitizer builds and a loaded CI box.
. "$(dirname "$0")/lib.sh"
pw_setup "$@"
N=${PW_ARGS[0]:-3}
ALL=(alpha beta gamma delta epsilon)
[ "$N" -ge 2 ] && [ "$N" -le 5 ] || fail "N=$N: want 2..5"

mesh_netns "${ALL[@]:0:N}"
pw_cli alpha check-config >/dev/null || fail "check-config refuses the mesh config"
start_all
pw_now
last_start=$NOW_MS

# 3 intervals + 3 s of slack
wait_until 4.5 all_alive || fail "$N peers not all alive 4.5 s after the last start"
pw_now
log "all $N peers alive at every peer $((NOW_MS - last_start)) ms after the last start"

# every host answers with its own name and quorum, the same incarnation
# for a peer everywhere, and nothing confirmed down or acted on
for n in "${NAMES[@]}"; do
	status "$n" || fail "$n: no status"
	[ "$(jget "$ST" self)" = "$n" ] || fail "$n: status says self=$(jget "$ST" self)"
	[ "$(jget "$ST" has_quorum)" = true ] || fail "$n: no quorum"
	[ "$(jget "$ST" acting)" = "{}" ] || fail "$n: acting for $(jget "$ST" acting)"
	inc=$(jget "$ST" incarnation)
	for o in $(others "$n"); do
		status "$o"
		[ "$(jget "$ST" "peers.$n.incarnation")" = "$inc" ] ||
		    fail "$o sees $n at incarnation $(jget "$ST" "peers.$n.incarnation"), $n says $inc"
		[ "$(jget "$ST" "peers.$n.confirmed_down")" = false ] ||
		    fail "$o has $n confirmed down"
	done
	ev_has "$n" started || fail "$n: no started event"
	[ "$(ev_count "$n" peer_alive)" -eq $((N - 1)) ] ||
	    fail "$n: $(ev_count "$n" peer_alive) peer_alive events, want $((N - 1))"
	for t in peer_down peer_confirmed_down acting; do
		[ "$(ev_count "$n" $t)" -eq 0 ] || fail "$n logged $t"
	done
done
pass
