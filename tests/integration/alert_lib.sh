# SPDX-License-Identifier: ISC
# alert_lib.sh: what the escalation scenarios share, on top of lib.sh (or
# revive_lib.sh), sourced after pw_setup/rv_setup. A fake Telegram Bot API
# (tests/tools/fake_telegram.py) on TG_ADDR:TG_PORT, a bot token in
# $T/tg.token (mode 0600), the [mesh] lines that point the daemons at them
# (TG_MESH, for MESH_EXTRA / RV_MESH_EXTRA), and helpers that read what
# the fake recorded: $T/tg.messages (one JSON line per accepted message)
# and $T/tg.attempts (one per request).
#
#   tg_setup 127.213.$K.200        # before the mesh is written
#   MESH_EXTRA=$TG_MESH mesh_loopback alpha beta
#   tg_start [MODE]
#   wait_until 10 tg_has 1 'PROBLEM circuit_open'
#   tg_no_token_leak

TG_FAKE=$PW_SRC_DIR/tests/tools/fake_telegram.py
TG_PORT=17980
TG_PID=
TG_NS=                  # set: the fake runs in this (own) namespace

# tg_in CMD...: CMD where the fake is
tg_in() {
	if [ -n "$TG_NS" ]; then
		ip netns exec "$TG_NS" "$@"
	else
		"$@"
	fi
}

tg_setup() {
	command -v python3 >/dev/null 2>&1 || skip "needs python3 (fake Bot API)"
	command -v curl >/dev/null 2>&1 || skip "needs curl"
	TG_ADDR=$1
	# a token shaped like a real one, unique to this run
	TG_TOKEN="$((100000 + $$)):AAH${RANDOM}fakeSecret${RANDOM}x-_Q"
	(umask 077 && printf '%s\n' "$TG_TOKEN" >"$T/tg.token")
	: >"$T/tg.messages"
	: >"$T/tg.attempts"
	TG_MESH="telegram_token_file = $T/tg.token
telegram_chat = -1001234567890
telegram_api = http://$TG_ADDR:$TG_PORT
alert_grace = ${TG_GRACE:-3s}
${TG_MESH_EXTRA:-}"
}

# tg_start [MODE]: the fake, ready when it answers (started directly, not
# through a function, so $! is its own PID: `ip netns exec` execs)
tg_start() {
	local args=(python3 "$TG_FAKE" --host "$TG_ADDR" --port "$TG_PORT"
	    --token-file "$T/tg.token" --messages "$T/tg.messages"
	    --attempts "$T/tg.attempts" --mode "${1:-ok}")
	if [ -n "$TG_NS" ]; then
		ip netns exec "$TG_NS" "${args[@]}" >>"$T/tg-fake.log" 2>&1 &
	else
		"${args[@]}" >>"$T/tg-fake.log" 2>&1 &
	fi
	TG_PID=$!
	ALL_PIDS+=($!)
	wait_until 10 tg_in curl -sf -o /dev/null "http://$TG_ADDR:$TG_PORT/_fake" \
	    -d '{}' || fail "fake Bot API did not come up"
	log "fake Bot API on $TG_ADDR:$TG_PORT (pid $TG_PID), mode ${1:-ok}"
}

# tg_set JSON: change the fake's behaviour ({"mode":"429","count":1,...})
tg_set() {
	tg_in curl -sf -o /dev/null "http://$TG_ADDR:$TG_PORT/_fake" -d "$1" ||
	    fail "cannot steer the fake Bot API"
}

# tg_texts: every accepted message's text, NUL-separated
tg_texts() {
	python3 -c '
import json, sys
for l in open(sys.argv[1], encoding="utf-8"):
    sys.stdout.write(json.loads(l)["text"] + "\0")' "$T/tg.messages"
}

# tg_count PATTERN: how many accepted messages contain PATTERN (fixed)
tg_count() {
	tg_texts | grep -zcF -- "$1" || true
}

# tg_has N PATTERN: at least N accepted messages contain PATTERN
tg_has() {
	[ "$(tg_count "$2")" -ge "$1" ]
}

tg_total() {
	wc -l <"$T/tg.messages" | tr -d ' '
}

tg_attempts() {
	wc -l <"$T/tg.attempts" | tr -d ' '
}

# the longest accepted message, in UTF-16 code units (Telegram's count)
tg_longest() {
	python3 -c '
import json, sys
m = [len(json.loads(l)["text"].encode("utf-16-le")) // 2
     for l in open(sys.argv[1], encoding="utf-8")]
print(max(m or [0]))' "$T/tg.messages"
}

# the token appears in no file under $T but the token file itself (logs,
# events, status answers, outbox, state)
tg_no_token_leak() {
	local hits
	hits=$(grep -rlF -- "$TG_TOKEN" "$T" 2>/dev/null | grep -vxF "$T/tg.token" || true)
	[ -z "$hits" ] || fail "the bot token leaked into: $hits"
	# nor its secret half alone
	hits=$(grep -rlF -- "${TG_TOKEN#*:}" "$T" 2>/dev/null | grep -vxF "$T/tg.token" || true)
	[ -z "$hits" ] || fail "the token's secret leaked into: $hits"
}

# outbox NAME: how many messages wait in NAME's outbox
outbox_count() {
	find "${ETC[$1]}/state/outbox" -name 'm*.json' 2>/dev/null | wc -l | tr -d ' '
}

# tg_service NAME PORT RESTART: [service NAME@alpha] probing tcp PORT on
# alpha's address, restarted by RESTART, its breaker open after one failed
# restart (for 10 min): each failure is an incident at once
tg_service() {
	cat >>"$T/peers.conf" <<CONF
[service $1@alpha]
probe = tcp://${ADDR[alpha]}:$2
interval = 200ms
timeout = 150ms
failures_before_restart = 1
start_grace = 300ms
restart = $3
restart_timeout = 5s
breaker_failures = 1
breaker_cooldown = 10m

CONF
}
