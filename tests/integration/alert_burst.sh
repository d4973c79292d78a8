#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# alert_burst: escalation to a fake Telegram Bot API (loopback). An
# incident that closes within alert_grace (a circuit_open re-armed by
# `peerwatch reset` at once) sends nothing. A burst of 20 incidents (20
# services whose restarts fail, breaker_failures = 1, added by SIGHUP) goes
# out as a few grouped messages, none over 4096 characters, every incident
# in exactly one of them, all from alpha (the services' own host); beta
# sends nothing. A service whose breaker opens a third time within the
# hour (alert_flap_limit = 2) becomes one `flapping` message, and further
# opens send nothing. The token appears in no file the test collects (logs,
# events, /status, /metrics, state).
. "$(dirname "$0")/lib.sh"
pw_setup "$@"
. "$(dirname "$0")/alert_lib.sh"
TG_MESH_EXTRA="alert_flap_limit = 2" tg_setup "127.213.$K.200"
MESH_EXTRA=$TG_MESH mesh_loopback alpha beta
. "$(dirname "$0")/watch_lib.sh"
A=${ADDR[alpha]}
N=20

# blip: its first restart fails (breaker open at once), later ones work
tg_service blip 18070 "sh -c 'test -f $T/blip.ok && exec python3 $PWSVC restart $SVC $A:18070; echo \"blip cannot start\" >&2; exit 3'"
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
	tg_service "burst-$i-with-a-rather-long-service-name" "181$i" \
	    "sh -c 'echo \"burst $i: cannot start, the configuration file is broken beyond repair\" >&2; exit 3'"
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

# 3. flapping: flappy opens, is re-armed, opens again... (limit 2 an hour):
# the third open becomes one `flapping` incident, sent at once; the fourth
# and fifth send nothing more
tg_service flappy 18069 "sh -c 'echo flappy cannot start >&2; exit 3'"
kill_peer alpha HUP
opens() {
	ev_count alpha escalation flappy@alpha
}
for i in 1 2 3 4 5; do
	wait_until 10 eval '[ "$(opens)" -ge '"$i"' ]' || fail "flappy did not open a ${i}th time"
	[ "$i" -eq 5 ] || pw_cli alpha reset flappy >/dev/null || fail "reset flappy failed"
done
wait_until 10 tg_has 1 "PROBLEM flapping circuit_open:flappy@alpha: opened " ||
    fail "no flapping message: $(tg_texts | tr '\0\n' '| ' | tail -c 600)"
hold 4 eval '[ "$(tg_count flappy@alpha)" -eq 1 ]' ||
    fail "flappy in $(tg_count flappy@alpha) messages"
[ "$(tg_count "PROBLEM circuit_open flappy@alpha")" -eq 0 ] ||
    fail "a short open of flappy was sent on its own"

# a reload that removes Telegram keeps the daemon (and its old settings)
grep -v '^telegram_' "$T/peers.conf" >"$T/peers.conf.new"
mv "$T/peers.conf.new" "$T/peers.conf"
n=$(ev_count alpha config_reloaded)
kill -HUP "${PID[alpha]}"
wait_until 5 eval '[ "$(ev_count alpha config_reloaded)" -gt '"$n"' ]' ||
    fail "alpha did not reload"
status alpha || fail "alpha died on a reload without Telegram"
grep -q 'telegram settings removed' "$T/alpha.log" ||
    fail "no word on the removed Telegram settings"
stop_all_clean
tg_no_token_leak
pass
