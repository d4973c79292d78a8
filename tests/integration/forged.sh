#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# forged: every kind of bad datagram pwforge can make, sent to alpha of a
# healthy 3-peer mesh (loopback addresses: no namespaces needed). Each is
# dropped and counted under its own reason, in /metrics and in /status
# "drops", and nothing else changes: the peer table (states, incarnations)
# stays as it was, beta's real heartbeats stay accepted, and a forged
# sender name never shows up as a peer. Signed datagrams whose incarnation
# or sent_at do not fit an int64 are bad_payload, and alpha lives on.
. "$(dirname "$0")/lib.sh"
pw_setup "$@"
command -v curl >/dev/null 2>&1 || fail "needs curl (deploy/deps.sh installs it)"

REASONS="too_short too_long bad_magic unknown_peer bad_signature replay bad_payload"

# METRICS: alpha's /metrics
metrics() {
	METRICS=$(curl -sf --max-time 3 "http://${ADDR[alpha]}:17947/metrics")
}

# drops_now: "reason=count ..." from /metrics, checked against /status
drops_now() {
	local r m s
	metrics || return 1
	status alpha || return 1
	DROPS=
	for r in $REASONS; do
		m=$(echo "$METRICS" | awk -v r="$r" \
		    '$1 == "peerwatch_heartbeat_drops_total{reason=\"" r "\"}" { print $2 }')
		[ -n "$m" ] || fail "/metrics has no drops counter for $r"
		s=$(jget "$ST" "drops.$r")
		[ "$m" = "$s" ] || [ "$m" -lt "$s" ] || return 1
		DROPS="$DROPS $r=$m"
	done
	[ "$(jget "$ST" -d none peers.mallory)" = none ] ||
	    fail "forged name mallory appears in alpha's peers"
}

# drops_are EXPECTED: the counters are exactly EXPECTED
drops_are() {
	drops_now || return 1
	[ "$DROPS" = "$1" ]
}

# expect_after REASON: EXPECT with REASON's counter + 1
bump() {
	local r=$1 out= kv
	for kv in $EXPECT; do
		if [ "${kv%%=*}" = "$r" ]; then
			kv="$r=$((${kv#*=} + 1))"
		fi
		out="$out $kv"
	done
	EXPECT=$out
}

# the peer table as alpha sees it: state and incarnation of beta and gamma
table() {
	status alpha || return 1
	jget "$ST" peers.beta.state peers.beta.incarnation peers.beta.confirmed_down \
	    peers.gamma.state peers.gamma.incarnation peers.gamma.confirmed_down | tr '\n' ' '
}

mesh_loopback alpha beta gamma
start_all
wait_until 5 settled || fail "mesh did not come up"
wait_until 3 drops_now || fail "no /metrics or /status from alpha"
EXPECT=$DROPS
log "drops before: $EXPECT"
before_table=$(table)
before_events=$(events alpha | wc -l)
status alpha
beta_inc=$(jget "$ST" peers.beta.incarnation)
log "alpha's table: $before_table"

FAR=1099511627776      # a sequence number far ahead of beta's
forge() {
	local mode=$1 reason=$2
	shift 2
	"$PWFORGE" "$@" "$mode" "${ADDR[alpha]}" 17946 ||
	    fail "pwforge $mode failed"
	bump "$reason"
	wait_until 3 drops_are "$EXPECT" ||
	    fail "after pwforge $mode: drops$DROPS, want$EXPECT"
	log "pwforge $mode: counted as $reason"
}
forge unknown unknown_peer --name mallory
forge wrongkey bad_signature --name beta
forge flip bad_signature --name beta --key "${ETC[beta]}/key" \
    --inc "$beta_inc" --seq "$FAR"
forge replay replay --name beta --key "${ETC[beta]}/key" --inc "$beta_inc" --seq 1
forge short too_short
forge long too_long
forge garbage bad_magic
forge badjson bad_payload --name beta --key "${ETC[beta]}/key" \
    --inc "$beta_inc" --seq "$FAR"
forge badmagic bad_magic --name beta
# numbers beyond int64 in a correctly signed datagram (issue 13 item 10:
# a sent_at of 2^63 overflowed the skew computation and crashed alpha)
forge signed bad_payload --name beta --key "${ETC[beta]}/key" \
    --inc "$beta_inc" --seq "$FAR" --sent-at 9223372036854775808
forge signed bad_payload --name beta --key "${ETC[beta]}/key" \
    --inc "$beta_inc" --seq "$FAR" --sent-at 18446744073709551615
forge signed bad_payload --name beta --key "${ETC[beta]}/key" \
    --inc 9223372036854775808 --seq 1

# beta's real heartbeats still pass (no forged datagram moved its replay
# window) and nothing else changed
hold 2 drops_are "$EXPECT" || fail "drops moved after the forgeries: $DROPS"
settled || fail "the mesh is not settled after the forgeries"
[ "$(table)" = "$before_table" ] || fail "alpha's table changed: $(table)"
new_events=$(events alpha | tail -n +$((before_events + 1)) | cut -f1 | tr '\n' ' ')
[ -z "$new_events" ] || fail "alpha logged events during the forgeries: $new_events"
pass
