#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# alert_explain: with alert_explain_model set, an escalation carries the
# model's answer, asked through this host's own failover endpoint
# (ollama_listen) in front of fake Ollamas, and marked as the model's
# guess. With every Ollama hanging, the plain message goes out once
# alert_explain_timeout (3 s) has passed, not later. (loopback)
. "$(dirname "$0")/lib.sh"
pw_setup "$@"
. "$(dirname "$0")/alert_lib.sh"
. "$(dirname "$0")/ollama_lib.sh"
TG_GRACE=1s TG_MESH_EXTRA="alert_explain_model = tiny
alert_explain_timeout = 3s" tg_setup "127.213.$K.200"
OLLAMA_MESH_EXTRA=$TG_MESH ollama_mesh alpha beta
. "$(dirname "$0")/watch_lib.sh"
A=${ADDR[alpha]}

# add_dead NAME PORT: a service whose restarts always fail
add_dead() {
	tg_service "$1" "$2" "sh -c 'echo \"$1 cannot start\" >&2; exit 3'"
}

# delay SUBJECT: seconds from the escalation event to the message
delay() {
	python3 -c '
import json, sys, datetime
ev = [json.loads(l) for l in open(sys.argv[1])]
t0 = [e["ts"] for e in ev if e["type"] == "escalation" and e["peer"] == sys.argv[3]][0]
t0 = datetime.datetime.strptime(t0, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
    tzinfo=datetime.timezone.utc).timestamp()
m = [json.loads(l)["t"] for l in open(sys.argv[2]) if sys.argv[3] in json.loads(l)["text"]][0]
print("%.2f" % (m - t0))' "$(events_file alpha)" "$T/tg.messages" "$1"
}

fake_start alpha tiny
fake_start beta tiny
tg_start ok
ollama_up alpha beta

# 1. Ollama answers: the message carries its guess
add_dead one 18061
kill_peer alpha HUP
wait_until 15 tg_has 1 "PROBLEM circuit_open one@alpha" || fail "no message for one"
texts=$(tg_texts | tr '\0' '\n')
grep -q "The model's guess (tiny, unverified): The sky is blue" <<<"$texts" ||
    fail "no explanation in: $texts"
log "with an answer: $(delay one@alpha) s after the escalation"

# 2. every Ollama hangs: the plain message, after the timeout, on time
fake_set alpha '{"hang":true}'
fake_set beta '{"hang":true}'
add_dead two 18062
kill_peer alpha HUP
wait_until 15 tg_has 1 "PROBLEM circuit_open two@alpha" || fail "no message for two"
d=$(delay two@alpha)
log "with Ollama hanging: $d s after the escalation"
python3 -c "import sys; sys.exit(not (3.0 <= $d <= 8.0))" ||
    fail "sent $d s after the escalation: want grace 1 s + timeout 3 s (+ burst 1 s)"
[ "$(tg_count "two@alpha is down")" -eq 1 ] || fail "two sent $(tg_count "two@alpha is down") times"
texts=$(tg_texts | tr '\0' '\n')
[ "$(grep -A2 'two@alpha is down' <<<"$texts" | grep -c "model's guess" || true)" -eq 0 ] ||
    fail "a guess with a hanging model?"
grep -q 'explanation: none' "$T/alpha.log" || fail "alpha did not log the missing explanation"
fake_set alpha '{"hang":false}'
fake_set beta '{"hang":false}'
stop_all_clean
tg_no_token_leak
pass
