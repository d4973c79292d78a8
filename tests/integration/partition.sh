#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# partition: five peers split 2|3 (alpha, beta | gamma, delta, epsilon).
# The 2-side loses quorum and never acts, watched for the whole partition;
# the 3-side keeps quorum, confirms both others down, and exactly one of it
# (delta, the smallest name there) acts for each. After healing everyone is
# alive again and nobody starts acting.
. "$(dirname "$0")/lib.sh"
pw_setup "$@"

MINORITY=(alpha beta)
MAJORITY=(gamma delta epsilon)

# the 2-side: never acting; without quorum once LOST=1
minority_ok() {
	local n q
	for n in "${MINORITY[@]}"; do
		status "$n" || return 1
		[ "$(jget "$ST" acting)" = "{}" ] ||
		    fail "$n (minority) acts: $(jget "$ST" acting)"
		q=$(jget "$ST" has_quorum)
		if [ "$LOST" = 1 ] && [ "$q" != false ]; then
			fail "$n (minority) has quorum again"
		fi
		[ "$q" = false ] || return 1
	done
}

# the 3-side: quorum kept; at most one acts per target, and for nobody else
majority_ok() {
	local n t a=0 b=0
	for n in "${MAJORITY[@]}"; do
		status "$n" || return 1
		[ "$(jget "$ST" has_quorum)" = true ] || fail "$n (majority) lost quorum"
		for t in $(jget "$ST" -k acting); do
			case $t in
			alpha) a=$((a + 1)) ;;
			beta) b=$((b + 1)) ;;
			*) fail "$n acts for $t" ;;
			esac
		done
	done
	[ "$a" -le 1 ] && [ "$b" -le 1 ] ||
	    fail "$a peers act for alpha, $b for beta"
	ACTED=$((a + b))
}

# the partition as it should settle: both targets confirmed down by the
# 3-side, one actor each
partitioned() {
	minority_ok || return 1
	majority_ok || return 1
	confirmed_by alpha "${MAJORITY[@]}" || return 1
	confirmed_by beta "${MAJORITY[@]}" || return 1
	[ "$ACTED" -eq 2 ]
}

acting_events() {
	local n sum=0
	for n in "${NAMES[@]}"; do
		sum=$((sum + $(ev_count "$n" acting)))
	done
	echo "$sum"
}

mesh_netns alpha beta gamma delta epsilon
start_all
wait_until 6 settled || fail "mesh did not come up"

LOST=0
partition "${MINORITY[@]}"
pw_now
t_part=$NOW_MS
wait_until 5 minority_ok || fail "the minority kept quorum"
LOST=1
pw_now
log "minority without quorum $((NOW_MS - t_part)) ms after the cut"
wait_until 8 partitioned || fail "the majority did not confirm and act"
pw_now
log "majority confirmed both down, one acting each, $((NOW_MS - t_part)) ms after the cut"
hold 2 partitioned || fail "the partition did not stay settled"
for n in "${MAJORITY[@]}"; do
	status "$n"
	for t in alpha beta; do
		[ "$(jget "$ST" "peers.$t.acting_peer")" = delta ] ||
		    fail "$n: acting peer for $t is $(jget "$ST" "peers.$t.acting_peer"), want delta"
	done
done
for n in "${MINORITY[@]}"; do
	ev_has "$n" quorum_lost || fail "$n: no quorum_lost event"
	[ "$(ev_count "$n" acting)" -eq 0 ] || fail "$n (minority) logged acting"
	[ "$(ev_count "$n" peer_confirmed_down)" -eq 0 ] || fail "$n (minority) confirmed someone down"
done
before=$(acting_events)
[ "$before" -eq 2 ] || fail "$before acting events during the partition, want 2"

heal
pw_now
t_heal=$NOW_MS
wait_until 6 settled || fail "not everyone alive with quorum after healing"
pw_now
log "everyone alive with quorum $((NOW_MS - t_heal)) ms after healing"
wait_until 3 acting_empty "${NAMES[@]}" || fail "acting not cleared after healing"
hold 3 settled || fail "the healed mesh did not stay settled"
acting_empty "${NAMES[@]}" || fail "someone acts after healing"
after=$(acting_events)
[ "$after" -eq "$before" ] || fail "$((after - before)) new acting events after healing"
for n in "${MINORITY[@]}"; do
	ev_has "$n" quorum_regained || fail "$n: no quorum_regained"
done
pass
