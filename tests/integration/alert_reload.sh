#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# alert_reload: SIGHUP turns escalation on and off. alpha runs without
# Telegram while a service's breaker is open (an incident, logged only).
# Telegram settings added with an unsafe token file refuse the reload
# whole; with a safe one the reload turns escalation on and the incident
# already open is delivered, once. Settings removed: escalation goes off
# (an alert-test waiting on the API gets its answer), a new incident is
# not sent, alert-test says so.
. "$(dirname "$0")/lib.sh"
pw_setup "$@"
. "$(dirname "$0")/alert_lib.sh"
TG_GRACE=1s tg_setup "127.213.$K.200"
mesh_loopback alpha beta
. "$(dirname "$0")/watch_lib.sh"

# add_dead NAME PORT: a service that cannot start (its breaker opens)
add_dead() {
	tg_service "$1" "$2" "sh -c 'echo \"$1 cannot start\" >&2; exit 3'"
}

# tg_on: the Telegram lines into [mesh]
tg_on() {
	awk -v add="$TG_MESH" '{ print } $0 == "[mesh]" { print add }' \
	    "$T/peers.conf" >"$T/peers.tmp" && mv "$T/peers.tmp" "$T/peers.conf"
}

tg_start ok
add_dead dead1 18081
start_all
wait_until 10 settled || fail "mesh did not come up"
wait_until 10 grep -q 'escalation is off' "$T/alpha.log" ||
    fail "alpha did not say escalation is off"
wait_until 10 ev_has alpha escalation dead1@alpha || fail "no incident for dead1"

# 1. Telegram added, the token file readable by others: refused whole
chmod 644 "$T/tg.token"
tg_on
reload_peer alpha
ev_has alpha config_reload_failed || fail "a 0644 token file was taken"
grep -q "reload failed, keeping the running config: telegram_token_file $T/tg.token: readable by group or others" \
    "$T/alpha.log" || fail "unclear refusal of the token file"
pw_cli alpha alert-test >"$T/off.out" 2>&1 && fail "escalation on after a refused reload"

# 2. a safe token file: on, and the open incident is delivered, once
chmod 600 "$T/tg.token"
reload_peer alpha
ev_has alpha escalation_on || fail "no escalation_on event"
wait_until 20 tg_has 1 "PROBLEM circuit_open dead1@alpha" ||
    fail "the incident open before the reload was not delivered"
hold 2 eval '[ "$(tg_count "PROBLEM circuit_open dead1@alpha")" -eq 1 ]' ||
    fail "dead1 delivered twice"
pw_cli alpha alert-test >"$T/on.out" 2>&1 || fail "alert-test: $(cat "$T/on.out")"

# 3. settings removed: off, while an alert-test waits on a Bot API that
# hangs: the test gets its answer at once (else the control socket keeps
# it pending for ever); a new incident is only logged
tg_set '{"mode":"hang","count":1,"then":"ok"}'
a0=$(tg_attempts)
pw_cli alpha alert-test >"$T/hung.out" 2>&1 &
HT=$!
ALL_PIDS+=($HT)
wait_until 5 eval '[ "$(tg_attempts)" -gt '"$a0"' ]' || fail "the alert-test never reached the API"
grep -v '^telegram_' "$T/peers.conf" >"$T/peers.tmp" && mv "$T/peers.tmp" "$T/peers.conf"
n=$(tg_total)
reload_peer alpha
ev_has alpha escalation_off || fail "no escalation_off event"
wait_until 5 pw_gone "$HT" || fail "alert-test still waits after escalation was turned off"
rc=0
wait "$HT" || rc=$?
[ "$rc" = 1 ] && grep -q 'turned off by a reload' "$T/hung.out" ||
    fail "the waiting alert-test got (exit $rc): $(cat "$T/hung.out")"
add_dead dead2 18082
reload_peer alpha
wait_until 10 ev_has alpha escalation dead2@alpha || fail "no incident for dead2"
hold 3 eval '[ "$(tg_total)" -eq '"$n"' ]' || fail "a message was sent with escalation off"
pw_cli alpha alert-test >"$T/off2.out" 2>&1 && fail "alert-test succeeded with escalation off"
grep -q 'escalation is off' "$T/off2.out" || fail "alert-test: $(cat "$T/off2.out")"
stop_all_clean
tg_no_token_leak
pass
