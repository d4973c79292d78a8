#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# metrics: /metrics of a live daemon passes `promtool check metrics`
# (HELP and TYPE for every family, Prometheus naming), and its counters
# move: heartbeats flow both ways in a two-peer loopback mesh.
. "$(dirname "$0")/lib.sh"
pw_setup "$@"
mesh_loopback alpha beta
command -v promtool >/dev/null 2>&1 ||
    fail "promtool not found (Debian: apt-get install prometheus; make deps does)"
command -v curl >/dev/null 2>&1 || fail "curl not found"
start_all
wait_until 5 all_alive || fail "mesh did not come up"

URL=http://${ADDR[alpha]}:17947/metrics
# heartbeats counted and quorum computed (on the first tick after both)
received() {
	M=$(curl -fsS --max-time 2 "$URL") || return 1
	awk '$1 == "peerwatch_heartbeats_received_total" && $2 > 0 {f=1} END {exit !f}' <<<"$M" &&
	    grep -q '^peerwatch_has_quorum 1$' <<<"$M"
}
wait_until 5 received || fail "no heartbeats counted, or no quorum, in $URL"

out=$(promtool check metrics <<<"$M" 2>&1) && rc=0 || rc=$?
[ "$rc" -eq 0 ] || fail "promtool check metrics exit $rc: $out"
[ -z "$out" ] || fail "promtool says: $out"

# every TYPE has its HELP, and every sample belongs to a declared family
for fam in $(awk '$1 == "#" && $2 == "TYPE" {print $3}' <<<"$M"); do
	grep -q "^# HELP $fam " <<<"$M" || fail "$fam: TYPE without HELP"
done
while read -r name _; do
	base=${name%%\{*}
	grep -q "^# TYPE $base " <<<"$M" || fail "sample $base has no TYPE line"
done < <(grep -v '^#' <<<"$M")
grep -q '^peerwatch_peers{state="alive"} 1$' <<<"$M" || fail "want one alive peer"
log "promtool clean: $(grep -c '^# TYPE' <<<"$M") families"
pass
