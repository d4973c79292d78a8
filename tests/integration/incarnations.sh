#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# incarnations: a signed peer floods alpha with new incarnations (issue 13
# item 13: each one cost a synchronous fsync of replay.json on the loop).
# alpha accepts them but writes replay.json at most once per second, from
# a timer: /status "heartbeats.replay_saves" grows by a handful, not by
# hundreds; the newest incarnation still reaches replay.json within a
# second or two; /status keeps answering during the flood.
. "$(dirname "$0")/lib.sh"
pw_setup "$@"

N=2000

saves() {
	status alpha || return 1
	SAVES=$(jget "$ST" heartbeats.replay_saves)
}

# replay.json holds beta's incarnation $1
saved_inc_is() {
	local f=${ETC[alpha]}/state/replay.json v
	[ -f "$f" ] || return 1
	v=$("$PWJSON" beta.inc <"$f" 2>/dev/null) || return 1
	[ "$v" = "$1" ]
}

mesh_loopback alpha beta
start alpha
wait_until 5 saves || fail "no status from alpha"
before=$SAVES
pw_now
t_before=$NOW_MS
base=$(($(date +%s) + 1000))
last=$((base + N - 1))
log "flooding alpha with $N incarnations of beta from $base"
pw_now
t0=$NOW_MS
"$PWFORGE" --name beta --key "${ETC[beta]}/key" --inc "$base" --seq 1 \
    --count "$N" signed "${ADDR[alpha]}" 17946 || fail "pwforge failed"
pw_now
t1=$NOW_MS
# the kernel drops what alpha's socket buffer cannot hold: the newest
# incarnation again, a higher seq each time, until replay.json has it
SEQ=1
resend_newest() {
	SEQ=$((SEQ + 1))
	"$PWFORGE" --name beta --key "${ETC[beta]}/key" --inc "$last" \
	    --seq "$SEQ" signed "${ADDR[alpha]}" 17946 || fail "pwforge failed"
	saved_inc_is "$last"
}
wait_until 5 resend_newest || fail "replay.json does not hold $last"
saves || fail "no status from alpha after the flood"
pw_now
t_after=$NOW_MS
status alpha
got=$(jget "$ST" heartbeats.received)
log "flood of $N took $((t1 - t0)) ms; alpha accepted $got;" \
    "replay.json written $((SAVES - before)) times"
[ "$got" -ge 100 ] || fail "alpha accepted only $got of the flood"
# the saves counted span the flood and the wait for the newest one, not
# the flood alone: at most one per HB_INC_SAVE_MS (1 s) and one per
# HB_SAVE_MS (10 s) in that time, each +1 for the window's edges, +1 slack
w=$((t_after - t_before))
max=$((w / 1000 + w / 10000 + 3))
[ $((SAVES - before)) -le "$max" ] ||
    fail "replay.json written $((SAVES - before)) times (at most $max)"
[ "$(jget "$ST" peers.beta.incarnation)" = "$last" ] ||
    fail "alpha's view of beta's incarnation: $(jget "$ST" peers.beta.incarnation)"
pass
