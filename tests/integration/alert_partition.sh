#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# alert_partition: five peers split 2|3 (alpha, beta | gamma, delta,
# epsilon) with a fake Telegram Bot API in the hub namespace, reachable
# from both sides. Each isolated peer sends its own quorum_lost once; the
# majority's acting peer (delta) sends its incidents about alpha and beta
# (no_ssh: no SSH is configured) once each; gamma and epsilon send
# nothing. After healing each of those incidents gets one recovery.
. "$(dirname "$0")/lib.sh"
pw_setup "$@"
. "$(dirname "$0")/alert_lib.sh"

MINORITY=(alpha beta)
MAJORITY=(gamma delta epsilon)

TG_GRACE=2s tg_setup "10.213.$K.254"
MESH_EXTRA=$TG_MESH mesh_netns alpha beta gamma delta epsilon
# the fake's address on both bridges, behind one MAC, so a peer reaches it
# from either side of the cut without waiting for ARP to give up
ip -n "$HUB" link set br0 address 02:54:47:00:00:01
ip -n "$HUB" link set br1 address 02:54:47:00:00:01
ip -n "$HUB" addr add "$TG_ADDR/24" dev br0
ip -n "$HUB" addr add "$TG_ADDR/32" dev br1
TG_NS=$HUB

# split_mesh NAMES: cut them off (lib.sh's partition) and route the fake's answers to them
# over br1; heal_all undoes both
split_mesh() {
	local n
	partition "$@"
	for n in "$@"; do
		ip -n "$HUB" route add "${ADDR[$n]}/32" dev br1
	done
}
heal_all() {
	local n
	for n in "${MINORITY[@]}"; do
		ip -n "$HUB" route del "${ADDR[$n]}/32" dev br1
	done
	heal
}

# from NAME: messages NAME sent (its name closes each text)
from() {
	tg_count "; from $1)"
}

tg_start ok
start_all
wait_until 6 settled || fail "mesh did not come up"

split_mesh "${MINORITY[@]}"
for n in "${MINORITY[@]}"; do
	wait_until 15 tg_has 1 "PROBLEM quorum_lost $n:" || fail "no quorum_lost message from $n"
done
for n in "${MINORITY[@]}"; do
	wait_until 15 tg_has 1 "PROBLEM no_ssh $n:" || fail "no message about $n from the majority"
done
hold 4 true
texts=$(tg_texts | tr '\0' '\n')
log "during the partition: $(tg_total) messages: $(tr '\n' '|' <<<"$texts")"
for n in "${MINORITY[@]}"; do
	[ "$(tg_count "PROBLEM quorum_lost $n:")" -eq 1 ] || fail "quorum_lost $n sent $(tg_count "PROBLEM quorum_lost $n:") times"
	[ "$(tg_texts | grep -zF "PROBLEM quorum_lost $n:" | grep -zcF "; from $n)" || true)" -eq 1 ] ||
	    fail "quorum_lost $n not sent by $n itself"
	[ "$(tg_count "PROBLEM no_ssh $n:")" -eq 1 ] || fail "no_ssh $n sent $(tg_count "PROBLEM no_ssh $n:") times"
done
[ "$(from gamma)" -eq 0 ] && [ "$(from epsilon)" -eq 0 ] ||
    fail "a majority peer that does not act sent: gamma $(from gamma), epsilon $(from epsilon)"
# escalations, grouped or not: each text starts a line with PROBLEM
escalations() {
	tg_texts | tr '\0' '\n' | grep -c '^PROBLEM ' || true
}
recoveries() {
	tg_texts | tr '\0' '\n' | grep -c '^RESOLVED ' || true
}
[ "$(escalations)" -eq 4 ] || fail "$(escalations) escalations, want 4"

heal_all
wait_until 8 settled || fail "not settled after healing"
for n in "${MINORITY[@]}"; do
	wait_until 15 tg_has 1 "RESOLVED quorum_lost $n:" || fail "no recovery of quorum_lost $n"
	wait_until 15 tg_has 1 "RESOLVED no_ssh $n:" || fail "no recovery of no_ssh $n"
done
hold 3 eval '[ "$(recoveries)" -eq 4 ] && [ "$(escalations)" -eq 4 ]' ||
    fail "after healing: $(tg_texts | tr '\0\n' '| ')"
stop_all_clean
tg_no_token_leak
pass
