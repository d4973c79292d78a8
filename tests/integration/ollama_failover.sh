#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# ollama_failover: every way a backend fails, seen through alpha's
# endpoint. Before the first byte (refused, 503 busy, a hang past
# ollama_first_byte_timeout) the request is retried on beta and succeeds;
# mid-stream (cut, or silent for that long) the client gets one
# {"error":...} line (an SSE error event on /v1/), never done:true, and
# the next request goes elsewhere; a slow client pauses the backend; a client
# that leaves cancels the transfer; a peer whose Ollama answers on
# 127.0.0.1 only is diagnosed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ollama_lib.sh"
pw_setup "$@"

OLLAMA_MESH_EXTRA="ollama_first_byte_timeout = 1500ms" \
    ollama_mesh alpha beta gamma
fake_start alpha tiny
fake_start beta tiny
ollama_up alpha beta

# alpha's own backend is usable again (after a failure's backoff)
alpha_ok() {
	backend_sees alpha alpha marked_down false &&
	    backend_sees alpha alpha reported_up true
}

gen='{"model":"tiny","prompt":"x","stream":false}'

# --- mid-stream death: the error line, no done, then elsewhere -------------
fake_set alpha '{"die_after":3}'
px alpha /api/generate '{"model":"tiny","prompt":"x"}'
[ "$CODE" = 200 ] && [ "$BACKEND" = alpha ] || fail "stream: $CODE via $BACKEND"
[ "$(printf '%s\n' "$BODY" | wc -l)" -eq 4 ] || fail "mid-stream body: $BODY"
[ "$(printf '%s\n' "$BODY" | tail -n 1)" = '{"error":"backend alpha died mid-stream"}' ] ||
    fail "no error line at the end: $BODY"
printf '%s\n' "$BODY" | grep -q '"done": *true' && fail "a done:true after a death: $BODY"
px alpha /api/generate "$gen"
[ "$CODE" = 200 ] && [ "$BACKEND" = beta ] ||
    fail "after the death the next request went to '$BACKEND' ($CODE)"
wait_until 3 ev_has alpha ollama_mid_stream alpha || fail "no ollama_mid_stream event"
[ "$(metric alpha 'peerwatch_ollama_backend_failures_total{backend="alpha",kind="mid_stream"}')" = 1 ] ||
    fail "mid-stream death not counted"
fake_set alpha '{"die_after":null}'
wait_until 8 alpha_ok || fail "alpha's backend never came back"

# stuck mid-stream: no data for ollama_first_byte_timeout is a death too
fake_set alpha '{"stall_after":2}'
pw_now
t0=$NOW_MS
px alpha /api/generate '{"model":"tiny","prompt":"x"}'
pw_now
[ "$(printf '%s\n' "$BODY" | wc -l)" -eq 3 ] &&
    [ "$(printf '%s\n' "$BODY" | tail -n 1)" = '{"error":"backend alpha died mid-stream"}' ] ||
    fail "stalled stream: $BODY"
log "stalled stream ended with the error after $((NOW_MS - t0)) ms"
[ $((NOW_MS - t0)) -ge 1400 ] && [ $((NOW_MS - t0)) -lt 5000 ] ||
    fail "stalled stream took $((NOW_MS - t0)) ms"
fake_set alpha '{"stall_after":null}'
wait_until 8 alpha_ok || fail "alpha's backend never came back"

# the same on /v1/: an SSE error event, no [DONE]
fake_set alpha '{"die_after":2}'
px alpha /v1/chat/completions '{"model":"tiny","stream":true,"messages":[]}'
printf '%s\n' "$BODY" | grep -q '^data: \[DONE\]' && fail "a [DONE] after a death: $BODY"
printf '%s\n' "$BODY" | grep '^data: ' | tail -n 1 | sed 's/^data: //' |
    "$PWJSON" error.message | grep -qx 'backend alpha died mid-stream' ||
    fail "no SSE error event: $BODY"
fake_set alpha '{"die_after":null}'
wait_until 8 alpha_ok || fail "alpha's backend never came back"

# --- 503 busy: retried on beta; every backend busy: Ollama's 503 ------------
fake_set alpha '{"busy":true}'
px alpha /api/generate "$gen"
[ "$CODE" = 200 ] && [ "$BACKEND" = beta ] || fail "busy alpha: $CODE via $BACKEND"
fake_set beta '{"busy":true}'
px alpha /api/generate "$gen"
[ "$CODE" = 503 ] && jget "$BODY" error | grep -q 'busy' ||
    fail "all busy: $CODE $BODY"
fake_set alpha '{"busy":false}'
fake_set beta '{"busy":false}'

# --- hang before the first byte: retried after the timeout ------------------
fake_set alpha '{"hang":true}'
pw_now
t0=$NOW_MS
px alpha /api/chat '{"model":"tiny","messages":[],"stream":false}'
pw_now
[ "$CODE" = 200 ] && [ "$BACKEND" = beta ] || fail "hang: $CODE via $BACKEND"
log "hang: answered by beta after $((NOW_MS - t0)) ms"
[ $((NOW_MS - t0)) -lt 5000 ] || fail "hang took $((NOW_MS - t0)) ms"
fake_set alpha '{"hang":false}'
wait_until 8 alpha_ok || fail "alpha's backend never came back"

# --- a client that leaves cancels the transfer ------------------------------
fake_set alpha '{"delay_ms":200,"tokens":100}'
curl -s -N --max-time 1 "http://${ADDR[alpha]}:17948/api/generate" \
    -d '{"model":"tiny"}' >/dev/null || true
idle() { [ "$(metric alpha peerwatch_ollama_active)" = 0 ]; }
wait_until 2 idle || fail "the transfer outlived its client"
[ "$(metric alpha 'peerwatch_ollama_backend_failures_total{backend="alpha",kind="client_gone"}')" = 1 ] ||
    fail "client_gone not counted"
fake_set alpha '{"delay_ms":0,"tokens":8,"hang":true}'
curl -s --max-time 1 "http://${ADDR[alpha]}:17948/api/generate" -d "$gen" \
    >/dev/null || true
wait_until 2 idle || fail "a transfer waiting for its first byte outlived its client"
fake_set alpha '{"hang":false}'
wait_until 8 alpha_ok || fail "alpha's backend never came back"

# --- a slow client holds the backend, not a copy of its whole answer -------
# A client that sends its request and then reads nothing: ~11 MB of stream
# is more than both socket buffers and the 1 MiB the endpoint queues, so
# the backend transfer must pause, however fast the fake writes (a client
# reading at a fixed rate for a fixed time made this depend on the
# fake's speed on a busy machine)
fake_set alpha '{"tokens":120000}'
slow='{"model":"tiny"}'
exec {slowfd}<>"/dev/tcp/${ADDR[alpha]}/17948"
printf 'POST /api/generate HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s' \
    "${ADDR[alpha]}" ${#slow} "$slow" >&$slowfd
paused() { [ "$(metric alpha peerwatch_ollama_slow_client_pauses_total)" -gt 0 ]; }
wait_until 20 paused || fail "the backend was never paused for a slow client"
[ "$(metric alpha peerwatch_ollama_active)" = 1 ] || fail "the paused request is not active"
exec {slowfd}>&-
wait_until 3 idle || fail "the slow client's transfer outlived it"
fake_set alpha '{"tokens":8}'

# --- the local Ollama dies: still served, by beta -----------------------
fake_kill alpha
for path in /api/generate /api/chat; do
	px alpha $path '{"model":"tiny","messages":[],"stream":false}'
	[ "$CODE" = 200 ] && [ "$BACKEND" = beta ] ||
	    fail "local dead, $path: $CODE via $BACKEND"
done
px alpha /api/chat '{"model":"tiny","messages":[]}'
[ "$(printf '%s\n' "$BODY" | tail -n 1 | "$PWJSON" done)" = true ] ||
    fail "local dead, streaming chat: $BODY"
wait_until 3 backend_sees alpha alpha reported_up false ||
    fail "alpha's probe did not see its Ollama die"

# --- gamma's Ollama answers on 127.0.0.1 only --------------------------------
LO_PORT=$((18000 + K))
sed -i "s#ollama = http://${ADDR[gamma]}:$OPORT#ollama = http://${ADDR[gamma]}:$LO_PORT#" \
    "$T/peers.conf"
for n in alpha beta gamma; do kill_peer $n HUP; done
python3 "$FAKE" --host 127.0.0.1 --port $LO_PORT --name gamma-lo \
    --models tiny >>"$T/fake-gamma.log" 2>&1 &
ALL_PIDS+=($!)
wait_until 10 curl -sf -o /dev/null "http://127.0.0.1:$LO_PORT/" ||
    fail "gamma's loopback fake did not come up"
wait_until 5 ev_has alpha ollama_unreachable gamma ||
    fail "no ollama_unreachable event for gamma"
wait_until 3 backend_sees alpha gamma loopback_only true ||
    fail "/status does not say gamma answers on loopback only"
status alpha
jget "$ST" ollama.backends.gamma.diagnostic | grep -q OLLAMA_HOST=0.0.0.0 ||
    fail "no OLLAMA_HOST hint: $(jget "$ST" ollama.backends.gamma)"
grep -q 'answers only on 127.0.0.1' "$T/gamma.log" ||
    fail "gamma did not warn about its own Ollama"
px alpha /api/generate "$gen"
[ "$CODE" = 200 ] && [ "$BACKEND" = beta ] || fail "after reload: $CODE via $BACKEND"
pass
