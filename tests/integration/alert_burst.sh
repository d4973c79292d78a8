#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# alert_burst: escalation to a fake Telegram Bot API (loopback). An
# incident that closes within alert_grace (a circuit_open re-armed by
# `peerwatch reset` at once) sends nothing. A burst of 20 incidents (20
# services whose restarts fail, breaker_failures = 1, added by SIGHUP) goes
# out as a few grouped messages, none over 4096 characters, every incident
# in exactly one of them, all from alpha (the services' own host); beta
# sends nothing. The token appears in no file the test collects (logs,
# events, /status, /metrics, state).
. "$(dirname "$0")/lib.sh"
pw_setup "$@"
. "$(dirname "$0")/alert_lib.sh"
tg_setup "127.213.$K.200"
MESH_EXTRA=$TG_MESH mesh_loopback alpha beta
. "$(dirname "$0")/watch_lib.sh"
A=${ADDR[alpha]}
N=20

# blip: its first restart fails (breaker open at once), later ones work
cat >>"$T/peers.conf" <<CONF
[service blip@alpha]
probe = tcp://$A:18070
interval = 200ms
timeout = 150ms
failures_before_restart = 1
start_grace = 300ms
restart = sh -c 'test -f $T/blip.ok && exec python3 $PWSVC restart $SVC $A:18070; echo "blip cannot start" >&2; exit 3'
restart_timeout = 5s
breaker_failures = 1
breaker_cooldown = 10m

CONF
tg_start ok
start_all
wait_until 10 settled || fail "mesh did not come up"

# 1. open and closed within alert_grace (3 s): only logged
wait_until 10 sv_is blip breaker open || fail "blip's breaker never opened"
touch "$T/blip.ok"
pw_cli alpha reset blip >/dev/null || fail "reset blip failed"
wait_until 5 sv_is blip state up || fail "blip not up after reset: $(sv blip detail)"
ev_has alpha incident_closed || fail "no incident_closed event"
hold 5 eval '[ "$(tg_total)" -eq 0 ]' ||
    fail "a message for an incident closed within alert_grace: $(tg_texts | tr '\0' '|')"
wait_until 3 grep -q 'within alert_grace: not sent' "$T/alpha.log" ||
    fail "alpha did not log the held incident"

# 2. twenty incidents at once
for i in $(seq -w 1 $N); do
	cat >>"$T/peers.conf" <<CONF
[service burst-$i-with-a-rather-long-service-name@alpha]
probe = tcp://$A:181$i
interval = 200ms
timeout = 150ms
failures_before_restart = 1
start_grace = 200ms
restart = sh -c 'echo "burst $i: cannot start, the configuration file is broken beyond repair" >&2; exit 3'
restart_timeout = 5s
breaker_failures = 1
breaker_cooldown = 10m

CONF
done
kill_peer alpha HUP
wait_until 20 tg_has 1 "PROBLEM circuit_open burst-" ||
    fail "no escalation for the burst"
wait_until 10 eval '[ "$(tg_count "PROBLEM circuit_open burst-")" -ge 1 ] && [ "$(outbox_count alpha)" -eq 0 ]' ||
    fail "alpha's outbox does not empty"
# nothing more comes after the burst's few messages
hold 3 eval '[ "$(outbox_count alpha)" -eq 0 ]'
msgs=$(tg_count "PROBLEM circuit_open burst-")
log "burst of $N incidents: $msgs message(s), longest $(tg_longest) characters"
{ [ "$msgs" -ge 1 ] && [ "$msgs" -le 5 ]; } || fail "$msgs messages for $N incidents"
[ "$(tg_longest)" -le 4096 ] || fail "a message of $(tg_longest) characters"
for i in $(seq -w 1 $N); do
	c=$(tg_count "PROBLEM circuit_open burst-$i-with")
	[ "$c" -eq 1 ] || fail "burst-$i in $c messages"
done
texts=$(tg_texts | tr '\0' '\n')
grep -q '; from alpha)' <<<"$texts" || fail "messages do not say who sent them"
! grep -q 'from beta' <<<"$texts" || fail "beta sent a message"
# /status and /metrics say what was sent (kept under $T for the grep)
status alpha
printf '%s\n' "$ST" >"$T/status-alpha.json"
[ "$(jget "$ST" alerts.outbox)" -eq 0 ] || fail "status: outbox $(jget "$ST" alerts.outbox)"
[ "$(jget "$ST" alerts.sent)" -eq "$(tg_total)" ] ||
    fail "status: sent $(jget "$ST" alerts.sent), the fake took $(tg_total)"
curl -sf "http://$A:17947/metrics" >"$T/metrics-alpha.txt" || fail "no /metrics"
grep -q "^peerwatch_alerts_sent_total $(tg_total)\$" "$T/metrics-alpha.txt" ||
    fail "metrics: $(grep alert "$T/metrics-alpha.txt")"
grep -q '^peerwatch_alerts_held_total 1$' "$T/metrics-alpha.txt" || fail "metrics: held not 1"
stop_all_clean
tg_no_token_leak
pass
