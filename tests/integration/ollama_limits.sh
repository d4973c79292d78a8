#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# ollama_limits: the Ollama endpoint at its limits.
# Out of descriptors: with ulimit -n 32 and more idle connections than
# that, accept() fails with EMFILE: the daemon neither spins (a readable
# listening socket retried for ever) nor floods its log, counts the
# failures in /metrics, keeps its heartbeats, and serves again once the
# connections are gone.
# At the connection cap (half the descriptor limit less 64, so 96 with
# ulimit -n 256): 120 idle connections never take it past the cap, a new
# client is served at once (the longest idle connection makes room), and
# there is no accept() failure.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ollama_lib.sh"
pw_setup "$@"
[ -d /proc/self/fd ] || skip "needs /proc to count the daemon's descriptors and CPU time"

ollama_mesh alpha beta
A=${ADDR[alpha]}
fake_start beta tiny
start alpha sh -c 'ulimit -n 32 && exec "$0" "$@"'
start beta
wait_until 8 settled || fail "mesh did not come up"
wait_until 5 backend_sees alpha beta reported_up true ||
    fail "alpha never heard beta's Ollama report"

# cpu_ticks: alpha's user+system time so far, in clock ticks
cpu_ticks() {
	awk '{ print $14 + $15 }' "/proc/${PID[alpha]}/stat"
}

px alpha /api/version
[ "$CODE" = 200 ] || fail "the endpoint does not answer before the test: $CODE"
size0=$(wc -c <"$T/alpha.log")
open_idle "$A:17948" 20 48
wait_until 5 grep -q "ollama_listen $A:17948: accept: Too many open files" "$T/alpha.log" ||
    fail "alpha did not log running out of descriptors"
t0=$(cpu_ticks)
hold 3 true
t1=$(cpu_ticks)
size1=$(wc -c <"$T/alpha.log")
hz=$(getconf CLK_TCK)
log "48 idle connections, 32 descriptors: alpha used $((t1 - t0)) ticks ($hz/s) in 3 s; its log grew $((size1 - size0)) bytes"
# a spin takes every tick of a core: 3 s x hz; an idle daemon a few
[ $((t1 - t0)) -lt $((hz * 3 / 4)) ] || fail "alpha spins: $((t1 - t0)) ticks in 3 s"
[ $((size1 - size0)) -lt 4096 ] || fail "alpha's log grew $((size1 - size0)) bytes"
sees beta alive alpha || fail "beta lost alpha while its endpoint was out of descriptors"
close_idle 20 48
wait_until 10 eval 'px alpha /api/version; [ "$CODE" = 200 ]' ||
    fail "alpha's endpoint does not serve again after the descriptors came back ($CODE)"
n=$(metric alpha peerwatch_ollama_accept_failures_total)
[ "${n:-0}" -ge 1 ] || fail "no accept failures in /metrics ($n)"

# --- the cap: 256 descriptors, so at most 96 connections ------------------
kill_peer alpha TERM
start alpha sh -c 'ulimit -n 256 && exec "$0" "$@"'
wait_until 8 settled || fail "mesh did not come back"
wait_until 5 backend_sees alpha beta reported_up true ||
    fail "alpha never heard beta's Ollama report again"
open_idle "$A:17948" 20 120
wait_until 5 eval '[ "$(metric alpha peerwatch_ollama_connection_cap_total)" -ge 1 ]' ||
    fail "alpha never reached its connection cap"
pw_now
t0=$NOW_MS
px alpha /api/version
pw_now
[ "$CODE" = 200 ] || fail "a new client at the cap: $CODE"
log "a new client at the cap served in $((NOW_MS - t0)) ms"
open=$(metric alpha peerwatch_ollama_connections)
[ "$open" -le 96 ] || fail "alpha holds $open connections, over its cap of 96"
n=$(ls "/proc/${PID[alpha]}/fd" | wc -l)
[ "$n" -lt 256 ] || fail "alpha holds $n descriptors"
[ "$(metric alpha peerwatch_ollama_accept_failures_total)" = 0 ] ||
    fail "accept() failed at the cap"
close_idle 20 120
stop_all_clean
pass
