#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# watch_breaker: a service whose restart command always fails. The breaker
# opens after breaker_failures failed restarts (an incident
# circuit_open:NAME@PEER is raised), no restart follows until the cool-off
# ends, then exactly one half-open try, which fails and reopens it. The
# daemon restarted while the breaker is open finds it still open (state_dir)
# and does not restart; `peerwatch reset` re-arms it at once. Backoff: the
# gaps between restarts in a row grow. (loopback)
. "$(dirname "$0")/lib.sh"
pw_setup "$@"
mesh_loopback alpha beta
. "$(dirname "$0")/watch_lib.sh"
A=${ADDR[alpha]}
COUNT=$T/restarts

restarts() {
	ev_count alpha service_restart
}
incident_open() {
	status alpha || return 1
	jget "$ST" incidents | grep -q "\"kind\":\"circuit_open\",\"subject\":\"dead@alpha\""
}

# nothing listens on the port; the restart command fails and counts itself
cat >>"$T/peers.conf" <<EOF
[service dead@alpha]
probe = tcp://$A:18089
interval = 200ms
timeout = 150ms
failures_before_restart = 1
start_grace = 200ms
restart = sh -c 'echo try >>$COUNT; echo "cannot start: config broken" >&2; exit 3'
restart_timeout = 2s
restart_backoff = 2
breaker_failures = 3
breaker_window = 1m
breaker_cooldown = 5s

EOF
start_all
wait_until 10 sv_is dead breaker open || fail "the breaker never opened"
# epoch ms when the cool-off ends: opened + breaker_cooldown, the daemon's
half_at=$(sv dead half_open_at)
[ "$(restarts)" -eq 3 ] || fail "want 3 restarts before it opened, got $(restarts)"
[ "$(wc -l <"$COUNT")" -eq 3 ] || fail "the restart command ran $(wc -l <"$COUNT") times"
ev_has alpha circuit_open || fail "no circuit_open event"
wait_until 3 incident_open || fail "no circuit_open incident in /status"
# the failure's output is kept for the event log
grep restart_failed "$(events_file alpha)" | grep -q 'cannot start: config broken' ||
    fail "restart_failed does not carry the command's output"
grep restart_failed "$(events_file alpha)" | grep -q 'exit 3' ||
    fail "restart_failed does not say the exit code"
# the backoff: restart 2 waited interval, restart 3 twice that
"$PWJSON" -l type backoff_ms <"$(events_file alpha)" | awk -F'\t' \
    '$1 == "service_restart" {b[++n] = $2} END {exit !(n == 3 && b[1] == 0 && b[2] == 200 && b[3] == 400)}' ||
    fail "backoff not 0, 200, 400 ms: $("$PWJSON" -l type backoff_ms <"$(events_file alpha)" | grep service_restart | tr '\n' ' ')"

# open: no restart during the cool-off (5 s from opening: held until just
# before half_open_at, not a fixed time that a slow run pushes past it)
hold_before "$half_at" eval '[ "$(restarts)" -eq 3 ]' || fail "a restart while the breaker was open"
# then half-open: exactly one try, which fails and reopens
wait_until 6 eval '[ "$(restarts)" -ge 4 ]' || fail "no half-open try after the cool-off"
pw_now
[ "$NOW_MS" -ge "$half_at" ] || fail "the half-open try came $((half_at - NOW_MS)) ms before the cool-off ended"
ev_has alpha circuit_half_open || fail "no circuit_half_open event"
wait_until 3 sv_is dead breaker open || fail "a failed half-open try did not reopen it"
half_at=$(sv dead half_open_at)
hold 1 eval '[ "$(restarts)" -eq 4 ]' || fail "more than one half-open try"

# the daemon restarted while open: still open, the same cool-off, no
# restart until it ends (the reopened breaker's 5 s include this restart:
# a fixed hold after it could run into the next half-open try)
kill_peer alpha TERM
start alpha
wait_until 5 sv_is dead breaker open || fail "breaker not open after a daemon restart: $(sv dead breaker)"
[ "$(sv dead half_open_at)" = "$half_at" ] ||
    fail "the restarted daemon's cool-off ends at $(sv dead half_open_at), not $half_at"
hold_before "$half_at" eval '[ "$(restarts)" -eq 4 ]' || fail "the restarted daemon restarted an open breaker's service"

# peerwatch reset: closed at once, one restart try follows
pw_cli alpha reset dead >/dev/null || fail "peerwatch reset failed"
wait_until 3 eval '[ "$(restarts)" -ge 5 ]' || fail "no restart after reset"
ev_has alpha service_reset || fail "no service_reset event"
pw_cli alpha reset nosuch 2>"$T/err" && fail "reset of an unknown service succeeded"
grep -q 'no service nosuch' "$T/err" || fail "unclear error: $(cat "$T/err")"
stop_all_clean
pass
