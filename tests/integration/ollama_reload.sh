#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# ollama_reload: SIGHUP alone starts, moves and stops the Ollama failover
# endpoint. A mesh without any `ollama` URL has no endpoint; adding the
# URLs and reloading starts it; a new ollama_listen moves it (the old
# address refuses new connections, a stream already running there ends
# with its done:true); the same port on another address, which the
# running endpoint itself holds, is taken as a reload with the move left
# for the next restart; a port someone else holds refuses the reload whole
# and the endpoint stays where it was; removing the last URL stops it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ollama_lib.sh"
pw_setup "$@"

command -v python3 >/dev/null 2>&1 || skip "needs python3 (fake Ollama)"
command -v curl >/dev/null 2>&1 || skip "needs curl"
MESH_EXTRA="ollama_probe_interval = 300ms
ollama_backoff = 3s" mesh_loopback alpha beta
A=${ADDR[alpha]}
start_all
wait_until 8 settled || fail "mesh did not come up"

# answers HOST:PORT: the endpoint there answers /api/version
answers() {
	curl -sf -o /dev/null --max-time 3 "http://$1/api/version"
}
# refuses HOST:PORT: nothing accepts a connection there
refuses() {
	local rc=0
	curl -s -o /dev/null --max-time 3 "http://$1/api/version" || rc=$?
	[ "$rc" -eq 7 ]
}

# 1. no `ollama` URL anywhere: no endpoint, nothing in /status
refuses "$A:17948" || fail "an endpoint runs without any ollama URL"
status alpha || fail "no status from alpha"
[ "$(jget "$ST" -d none ollama)" = none ] || fail "/status has an ollama part"

# 2. the URLs added, SIGHUP: the endpoint starts and routes
fake_start alpha tiny
fake_start beta tiny
tmp=$T/peers.conf.tmp
for n in alpha beta; do
	awk -v l="ollama_listen = ${ADDR[$n]}:17948" \
	    -v add="ollama = http://${ADDR[$n]}:$OPORT" \
	    '{ print } $0 == l { print add }' "$T/peers.conf" >"$tmp"
	mv "$tmp" "$T/peers.conf"
done
kill_peer beta HUP
reload_peer alpha
ev_has alpha ollama_endpoint_started || fail "no ollama_endpoint_started event"
wait_until 5 answers "$A:17948" || fail "the endpoint did not start on reload"
wait_until 5 backend_sees alpha beta reported_up true ||
    fail "alpha never heard beta's Ollama report after the reload"
wait_until 5 backend_sees alpha alpha reported_up true ||
    fail "alpha's own Ollama probe has no answer after the reload"
px alpha /api/generate '{"model":"tiny","prompt":"x","stream":false}'
[ "$CODE" = 200 ] && [ "$BACKEND" = alpha ] ||
    fail "generate after the reload: $CODE via '$BACKEND'"

# 3. ollama_listen moves; a stream running on the old address finishes
fake_set alpha '{"delay_ms":300,"tokens":20}'
curl -sN --max-time 20 "http://$A:17948/api/generate" \
    -d '{"model":"tiny","prompt":"x"}' >"$T/old-stream.out" 2>&1 &
SPID=$!
ALL_PIDS+=($SPID)
wait_until 5 eval '[ -s "$T/old-stream.out" ]' || fail "the stream did not begin"
sed -i "s#^ollama_listen = $A:17948\$#ollama_listen = $A:17958#" "$T/peers.conf"
grep -q "^ollama_listen = $A:17958\$" "$T/peers.conf" || fail "could not edit ollama_listen"
reload_peer alpha
grep -q '"done": *true' "$T/old-stream.out" &&
    fail "the stream ended before the move: the test proves nothing"
ev_has alpha ollama_listen_moved || fail "no ollama_listen_moved event"
answers "$A:17958" || fail "nothing answers on the new ollama_listen"
refuses "$A:17948" || fail "the old ollama_listen still accepts"
wait "$SPID" || fail "the stream on the old address failed"
tail -n 1 "$T/old-stream.out" | grep -q '"done": *true' ||
    fail "the stream on the old address did not end in done:true: $(cat "$T/old-stream.out")"
fake_set alpha '{"delay_ms":0}'

# 3b. the same port on the wildcard address: Linux will not bind it while
# the endpoint listens on A:17958, and that is no reason to refuse the
# reload: it is taken, the endpoint stays, the log says when it moves
sed -i "s#^ollama_listen = $A:17958\$#ollama_listen = 0.0.0.0:17958#" "$T/peers.conf"
reload_peer alpha
[ "$(ev_count alpha config_reload_failed)" = 0 ] ||
    fail "the same port on another address refused the reload"
grep -q "reload: ollama_listen 0.0.0.0:17958: port 17958 is held by the endpoint on $A:17958; it moves with the next restart" \
    "$T/alpha.log" || fail "the kept listener is not explained in the log"
answers "$A:17958" || fail "the endpoint left $A:17958"
sed -i "s#^ollama_listen = 0.0.0.0:17958\$#ollama_listen = $A:17958#" "$T/peers.conf"
reload_peer alpha

# 4. a port someone else holds: the reload is refused whole
python3 -c '
import socket, sys, time
s = socket.socket()
s.bind((sys.argv[1], 17968))
s.listen(1)
print("bound", flush=True)
time.sleep(60)' "$A" >"$T/squatter.out" 2>&1 &
SQ=$!
ALL_PIDS+=($SQ)
wait_until 5 grep -q bound "$T/squatter.out" || fail "the squatter did not bind"
sed -i "s#^ollama_listen = $A:17958\$#ollama_listen = $A:17968#" "$T/peers.conf"
reload_peer alpha
ev_has alpha config_reload_failed || fail "a taken ollama_listen was not refused"
grep -q "reload failed, keeping the running config: ollama_listen $A:17968: cannot listen: Address already in use" \
    "$T/alpha.log" || fail "the refusal does not name ollama_listen and the reason"
answers "$A:17958" || fail "the endpoint left its address after a refused reload"
kill "$SQ"
{ wait "$SQ" || true; } 2>/dev/null

# 5. the last URL removed: the endpoint stops
sed -i "s#^ollama_listen = $A:17968\$#ollama_listen = $A:17958#" "$T/peers.conf"
sed -i '/^ollama = /d' "$T/peers.conf"
kill_peer beta HUP
reload_peer alpha
ev_has alpha ollama_endpoint_stopped || fail "no ollama_endpoint_stopped event"
refuses "$A:17958" || fail "the endpoint still answers without any ollama URL"
status alpha || fail "no status from alpha"
[ "$(jget "$ST" -d none ollama)" = none ] || fail "/status still has an ollama part"

stop_all_clean
pass
