#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# alert_outbox: delivery to a fake Telegram Bot API (loopback).
# A token file readable by others stops the daemon at start with a clear
# error. `peerwatch alert-test` sends and prints the API's answer. A 429
# with retry_after: delivered once, not before retry_after. The API down
# (500) while the daemon is killed -9 and restarted: the message waits in
# state_dir/outbox and is delivered after the restart, once; incidents
# sent before the restart are not sent again, and their recovery still
# goes out. An API that hangs times out and is retried while the daemon
# keeps answering. A 401 is retried; a 400 sets the message aside as
# outbox/rejected-* and the queue goes on. Reminders follow every alert_repeat while an incident stays
# open. Without Telegram the daemon says once that escalation is off.
# The token is in no file under the test's temp dir but the token file.
. "$(dirname "$0")/lib.sh"
pw_setup "$@"
. "$(dirname "$0")/alert_lib.sh"
TG_GRACE=1s tg_setup "127.213.$K.200"
MESH_EXTRA=$TG_MESH mesh_loopback alpha beta
. "$(dirname "$0")/watch_lib.sh"
A=${ADDR[alpha]}

# add_dead NAME PORT: a service whose restarts fail until $T/NAME.ok exists
add_dead() {
	tg_service "$1" "$2" "sh -c 'test -f $T/$1.ok && exec python3 $PWSVC restart $SVC $A:$2; echo \"$1 cannot start\" >&2; exit 3'"
}

# msg_time PATTERN: when the fake took the first message containing it
msg_time() {
	python3 -c '
import json, sys
for l in open(sys.argv[1], encoding="utf-8"):
    o = json.loads(l)
    if sys.argv[2] in o["text"]:
        print(o["t"]); break' "$T/tg.messages" "$1"
}

# 1. a token file others may read: refused at start, clearly, unquoted
chmod 644 "$T/tg.token"
rc=0
PEERWATCH_CONFIG=$T/peers.conf PEERWATCH_NAME=alpha timeout 10 "$PW" run \
    >"$T/refused.log" 2>&1 || rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "alpha ran with a 0644 token file (rc $rc)"
grep -q "telegram_token_file $T/tg.token: readable by group or others" "$T/refused.log" ||
    fail "unclear refusal: $(cat "$T/refused.log")"
chmod 600 "$T/tg.token"

tg_start ok
start_all
wait_until 10 settled || fail "mesh did not come up"

# 2. alert-test: the API's answer, no token
pw_cli alpha alert-test >"$T/alert-test.out" 2>&1 || fail "alert-test failed: $(cat "$T/alert-test.out")"
grep -q '^sent: HTTP 200' "$T/alert-test.out" || fail "alert-test output: $(cat "$T/alert-test.out")"
grep -q '"message_id": 1' "$T/alert-test.out" || fail "alert-test does not show the answer"
[ "$(tg_count "alert-test from alpha")" -eq 1 ] || fail "the fake has no test message"
pw_cli alpha alert-test --json >"$T/alert-test.json" || fail "alert-test --json failed"

# 3. 429 with retry_after 2, then 200: delivered once, 2 s after the 429
tg_set '{"mode":"429","count":1,"then":"ok","retry_after":2}'
add_dead dead1 18071
kill_peer alpha HUP
wait_until 15 tg_has 1 "PROBLEM circuit_open dead1@alpha" || fail "dead1 never delivered"
t429=$(python3 -c '
import json, sys
print([json.loads(l)["t"] for l in open(sys.argv[1]) if json.loads(l)["http"] == 429][0])' "$T/tg.attempts")
tok=$(msg_time "dead1@alpha")
python3 -c "import sys; sys.exit(not ($tok - $t429 >= 1.9))" ||
    fail "delivered $(python3 -c "print($tok - $t429)") s after the 429, before retry_after"
log "429 at $t429, delivered at $tok"
hold 3 eval '[ "$(tg_count dead1@alpha)" -eq 1 ]' || fail "dead1 delivered twice"
grep -q 'rate limited, retrying in 2 s' "$T/alpha.log" || fail "no retry_after in alpha's log"

# 4. the API down (500); alpha killed -9 with the message in its outbox
tg_set '{"mode":"500"}'
a0=$(tg_attempts)
add_dead dead2 18072
kill_peer alpha HUP
wait_until 15 eval '[ "$(tg_attempts)" -ge $((a0 + 2)) ]' || fail "no retries against a 500"
[ "$(outbox_count alpha)" -eq 1 ] || fail "outbox holds $(outbox_count alpha) messages"
st=$(curl -sf "http://$A:17947/status") || fail "no /status"
printf '%s\n' "$st" >"$T/status-500.json"
grep -q '"last_error": *"HTTP 500: Internal Server Error"' "$T/status-500.json" ||
    fail "status does not say why: $(jget "$st" alerts)"
kill_peer alpha KILL
tg_set '{"mode":"ok"}'
start alpha
wait_until 15 tg_has 1 "PROBLEM circuit_open dead2@alpha" || fail "dead2 not delivered after the restart"
hold 4 eval '[ "$(tg_count dead2@alpha)" -eq 1 ] && [ "$(tg_count dead1@alpha)" -eq 1 ]' ||
    fail "sent again after the restart: dead1 $(tg_count dead1@alpha), dead2 $(tg_count dead2@alpha)"
[ "$(outbox_count alpha)" -eq 0 ] || fail "outbox not empty after the restart"
grep -q 'outbox: 1 message(s) left from before' "$T/alpha.log" || fail "alpha did not say it found the outbox"

# 5. recovery of an incident sent before the restart
touch "$T/dead1.ok"
pw_cli alpha reset dead1 >/dev/null || fail "reset dead1 failed"
wait_until 10 tg_has 1 "RESOLVED circuit_open dead1@alpha" || fail "no recovery message for dead1"
hold 2 eval '[ "$(tg_count "RESOLVED circuit_open dead1@alpha")" -eq 1 ]' || fail "two recoveries"

# 6. the API hangs once: the loop keeps answering, the request times out
# (15 s) and the retry delivers, once
tg_set '{"mode":"hang","count":1,"then":"ok"}'
a0=$(tg_attempts)
add_dead dead3 18073
kill_peer alpha HUP
wait_until 10 eval '[ "$(tg_attempts)" -gt '"$a0"' ]' || fail "no attempt for dead3"
hold 3 status alpha || fail "alpha's control socket stopped answering while the API hangs"
wait_until 25 tg_has 1 "PROBLEM circuit_open dead3@alpha" || fail "dead3 never delivered after the hang"
grep -q 'not delivered (transfer: Operation timed out' "$T/alpha.log" || fail "the timeout is not logged"
hold 2 eval '[ "$(tg_count "PROBLEM circuit_open dead3@alpha")" -eq 1 ]' || fail "dead3 delivered twice"

# 7. 401 (a revoked token: retried, a new token would cure it); 400 (this
# message would never pass: set aside as rejected-*, the queue goes on)
tg_set '{"mode":"401","count":1,"then":"ok"}'
add_dead dead4 18074
kill_peer alpha HUP
wait_until 15 tg_has 1 "PROBLEM circuit_open dead4@alpha" || fail "dead4 not delivered after a 401"
tg_set '{"mode":"400","count":1,"then":"ok"}'
add_dead dead5 18075
add_dead dead6 18076
kill_peer alpha HUP
wait_until 15 ev_has alpha alert_rejected || fail "no alert_rejected event"
[ "$(find "${ETC[alpha]}/state/outbox" -name 'rejected-m*.json' | wc -l)" -eq 1 ] ||
    fail "the rejected message was not set aside"
grep -q 'rejected by the API (HTTP 400): rejected: Bad Request: chat not found' "$T/alpha.log" ||
    fail "the rejection is not logged"
wait_until 10 eval '[ "$(outbox_count alpha)" -eq 0 ]' || fail "the queue stopped after a rejection"

# 8. reminders: alert_repeat shortened by SIGHUP applies to dead2 (open)
sed -i 's/^alert_grace = 1s$/alert_grace = 1s\nalert_repeat = 3s/' "$T/peers.conf"
grep -q '^alert_repeat = 3s$' "$T/peers.conf" || fail "could not set alert_repeat"
kill_peer alpha HUP
# the first reminder is queued 3 s after the reload, the second 3 s after
# that, each sent a 1 s burst window and up to two 200 ms ticks later:
# ~7.6 s, so 15 s to spare a loaded run
wait_until 15 tg_has 2 "STILL OPEN circuit_open dead2@alpha" || fail "no reminders for dead2"
# A reminder is due alert_repeat after the tick that queued the last one;
# the 200 ms tick and the 1 s burst window each move the send by up to a
# tick, so two deliveries can be 3 s - 2 ticks apart, never much less.
python3 -c '
import json, sys
t = [json.loads(l)["t"] for l in open(sys.argv[1])
     if "STILL OPEN circuit_open dead2@alpha" in json.loads(l)["text"]]
sys.exit(not (t[1] - t[0] >= 2.5))' "$T/tg.messages" || fail "reminders less than alert_repeat apart"
[ "$(tg_count "STILL OPEN circuit_open dead1@alpha")" -eq 0 ] || fail "a reminder for dead1, which is closed"
stop_all_clean

# 9. without Telegram: said once at start; alert-test refuses
grep -v '^telegram_' "$T/peers.conf" >"$T/peers.off" && mv "$T/peers.off" "$T/peers.conf"
: >"$T/alpha.log"
start alpha
wait_until 5 grep -q 'escalation is off' "$T/alpha.log" || fail "alpha did not say escalation is off"
pw_cli alpha alert-test >"$T/off.out" 2>&1 && fail "alert-test succeeded without Telegram"
grep -q 'escalation is off' "$T/off.out" || fail "alert-test: $(cat "$T/off.out")"
[ "$(grep -c 'escalation is off' "$T/alpha.log")" -eq 1 ] || fail "said more than once"
stop_all_clean
tg_no_token_leak
pass
