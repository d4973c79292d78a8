#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# lossy: a flaky network must not look like a dead host. Five peers, each
# host dropping 30 % of its outgoing UDP at random (nftables) for
# PW_LOSS_SECONDS (default 120): no local down, no confirmed down, nobody
# acts, and the event log gets no suspicion lines (a suspicion that
# resolves is counted in /metrics, not logged). Then at 10 % loss a real
# kill -9 is still confirmed down at every survivor within kill9.sh's
# bound; the figure goes to the log.
. "$(dirname "$0")/lib.sh"
pw_setup "$@"
SECS=${PW_LOSS_SECONDS:-120}
mesh_netns alpha beta gamma delta epsilon
command -v nft >/dev/null 2>&1 || skip "needs nft (nftables)"
start_all
wait_until 5 settled || fail "mesh did not come up"

for n in "${NAMES[@]}"; do loss "$n" 30; done
log "30 % UDP loss on every host for $SECS s"
# how many events of TYPE in every host's event log together
ev_total() {
	local n c=0 k
	for n in "${NAMES[@]}"; do
		k=$(grep -c "\"type\":\"$1\"" "$(events_file "$n")" || true)
		c=$((c + k))
	done
	echo "$c"
}
nothing_bad() {
	[ "$(ev_total peer_down)" -eq 0 ] &&
	    [ "$(ev_total peer_confirmed_down)" -eq 0 ] &&
	    [ "$(ev_total acting)" -eq 0 ]
}
hold "$SECS" nothing_bad ||
    fail "under 30 % loss: $(ev_total peer_down) peer_down, $(ev_total peer_confirmed_down) confirmed, $(ev_total acting) acting"
[ "$(ev_total peer_suspect)" -le 3 ] ||
    fail "$(ev_total peer_suspect) suspect lines in the event logs"
# what /metrics counted instead
metric() {
	awk -v k="peerwatch_detections_total{event=\"$2\"}" '$1 == k {print $2}' <<<"$1"
}
sus=0 held=0
for n in "${NAMES[@]}"; do
	m=$(ip netns exec "${NS[$n]}" curl -fsS --max-time 2 \
	    http://127.0.0.1:7947/metrics) || fail "$n: no /metrics"
	sus=$((sus + $(metric "$m" suspect)))
	held=$((held + $(metric "$m" down_held_by_evidence)))
done
# the loss bit: suspicions happened, counted rather than logged
[ "$sus" -gt 0 ] || fail "no suspicion counted under 30 % loss: the loss did not take"
log "30 % loss, $SECS s: 0 local downs, 0 confirmed, 0 acting, $(ev_total peer_suspect) suspect lines; /metrics: $sus suspicions, $held downs held by another peer's report"

for n in "${NAMES[@]}"; do loss "$n" 10; done
wait_until 10 all_alive || fail "not all alive at 10 % loss"
pw_now
t0=$NOW_MS
kill_peer epsilon KILL
wait_until 8 confirmed_by epsilon alpha beta gamma delta ||
    fail "kill -9 under 10 % loss: epsilon not confirmed down everywhere within 8 s"
pw_now
log "10 % loss: kill -9 -> confirmed down at every survivor in $((NOW_MS - t0)) ms"
for n in "${NAMES[@]}"; do loss "$n" 0; done
pass
