#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# ollama_proxy: the failover endpoint forwards the Ollama API as Ollama
# answers it: streams NDJSON and SSE chunk by chunk, names the backend in
# X-Peerwatch-Backend, routes by model (loaded first, local first), and
# answers bad requests in Ollama's {"error":...} shape.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ollama_lib.sh"
pw_setup "$@"

OLLAMA_MESH_EXTRA="ollama_max_body = 100000" ollama_mesh alpha beta gamma
fake_start alpha tiny
fake_start beta tiny,big
fake_start gamma tiny,big,huge huge
ollama_up alpha beta
wait_until 5 backend_sees alpha gamma loaded '["huge:latest"]' ||
    fail "alpha does not know what gamma has loaded"

# --- plain forwarding, local first -----------------------------------------
px alpha /api/version
[ "$CODE" = 200 ] && [ "$BACKEND" = alpha ] ||
    fail "/api/version: $CODE via '$BACKEND'"
[ "$(jget "$BODY" version)" = 0.12.0 ] || fail "/api/version body: $BODY"
# /api/tags: the union of every backend's models, each once
px alpha /api/tags
[ "$CODE" = 200 ] && [ "$BACKEND" = alpha,beta,gamma ] ||
    fail "/api/tags: $CODE via '$BACKEND'"
[ "$(printf '%s' "$BODY" | grep -o '"name": *"[^"]*"' | sort | tr -d ' ' | tr '\n' ' ')" = \
    '"name":"big:latest" "name":"huge:latest" "name":"tiny:latest" ' ] ||
    fail "/api/tags is not the union: $BODY"
px alpha /api/show '{"model":"tiny"}'
[ "$CODE" = 200 ] && [ "$(jget "$BODY" capabilities.0)" = completion ] ||
    fail "/api/show: $CODE $BODY"
px alpha /api/generate '{"model":"tiny","prompt":"hi","stream":false}'
[ "$CODE" = 200 ] && [ "$BACKEND" = alpha ] &&
    [ "$(jget "$BODY" done)" = true ] || fail "generate: $CODE $BACKEND $BODY"
# a body of known length passes with it, not re-chunked; HEAD too
printf '%s\n' "$HDRS" | tr -d '\r' | grep -qix 'content-length: [0-9]*' &&
    ! printf '%s\n' "$HDRS" | grep -qi '^transfer-encoding' ||
    fail "non-streaming answer not passed with its length: $HDRS"
px alpha / '' -I
[ "$CODE" = 200 ] &&
    printf '%s\n' "$HDRS" | tr -d '\r' | grep -qix 'content-length: 17' ||
    fail "HEAD /: $CODE $HDRS"
px alpha /api/embed '{"model":"tiny","input":["a","bb"]}'
[ "$(jget "$BODY" embeddings.1.2)" = 2.0 ] || fail "embed: $BODY"

# --- streaming: every line, in order, ending in done:true -------------------
px alpha /api/chat '{"model":"tiny","messages":[{"role":"user","content":"x"}]}'
[ "$(printf '%s\n' "$BODY" | wc -l)" -eq 9 ] || fail "chat stream: $BODY"
printf '%s\n' "$HDRS" | grep -qi '^content-type: application/x-ndjson' ||
    fail "chat stream content type: $HDRS"
[ "$(printf '%s\n' "$BODY" | tail -n 1 | "$PWJSON" done)" = true ] ||
    fail "chat stream does not end in done:true"
px alpha /v1/chat/completions '{"model":"tiny","stream":true,"messages":[]}'
[ "$(printf '%s\n' "$BODY" | grep -c '^data: ')" -eq 10 ] &&
    printf '%s\n' "$BODY" | tail -n 2 | grep -qx 'data: \[DONE\]' ||
    fail "SSE stream: $BODY"

# chunks arrive as the backend sends them: with 300 ms between lines the
# first line is at the client long before the last is written
fake_set alpha '{"delay_ms":300,"tokens":6}'
pw_now
t0=$NOW_MS
first=
while IFS= read -r line; do
	if [ -z "$first" ]; then
		pw_now
		first=$((NOW_MS - t0))
	fi
done < <(curl -s -N "http://${ADDR[alpha]}:17948/api/generate" \
    -d '{"model":"tiny","prompt":"x"}')
pw_now
total=$((NOW_MS - t0))
log "streaming: first line after $first ms, last after $total ms"
# the fake sleeps 300 ms before each of its 6 lines: 1500 ms pass between
# the first and the last, whatever the start-up cost (curl, the proxy's
# connect) on a loaded run; a buffering proxy would hand both at once
[ -n "$first" ] && [ $((total - first)) -ge 1000 ] && [ "$total" -ge 1800 ] ||
    fail "stream not incremental: first line $first ms, end $total ms"
fake_set alpha '{"delay_ms":0,"tokens":8}'

# --- routing by model -------------------------------------------------------
px alpha /api/generate '{"model":"big","stream":false}'
[ "$BACKEND" = beta ] || fail "big: via '$BACKEND', want beta (no load, config order)"
px alpha /api/generate '{"model":"huge:latest","stream":false}'
[ "$BACKEND" = gamma ] || fail "huge: via '$BACKEND', want gamma"
# loaded beats unloaded: gamma has big loaded now
fake_set gamma '{"loaded":["big"]}'
wait_until 5 backend_sees alpha gamma loaded '["big:latest"]' ||
    fail "gamma's new loaded list never arrived"
px alpha /api/generate '{"model":"big","stream":false}'
[ "$BACKEND" = gamma ] || fail "big loaded on gamma: via '$BACKEND'"

# pull brings a model nobody has yet: this host's Ollama does it
px alpha /api/pull '{"model":"newone","stream":false}'
[ "$CODE" = 200 ] && [ "$BACKEND" = alpha ] &&
    [ "$(jget "$BODY" status)" = success ] || fail "pull: $CODE via '$BACKEND' $BODY"

# headers as the client sent them: no body and no type made up
last() { curl -s "http://${ADDR[alpha]}:$OPORT/_fake" | "$PWJSON" "last_request.$1"; }
curl -s -o /dev/null -X DELETE "http://${ADDR[alpha]}:17948/api/delete"
[ "$(last method)" = DELETE ] && [ "$(last content_length)" = null ] ||
    fail "a DELETE without a body got one: $(last content_length)"
px alpha /api/generate '{"model":"tiny","stream":false}' -H 'Content-Type:'
[ "$CODE" = 200 ] && [ "$(last content_type)" = null ] ||
    fail "a content type was made up for the backend: $(last content_type)"
px alpha /api/generate '{"model":"tiny","stream":false}' -H 'Content-Type: application/json'
[ "$(last content_type)" = application/json ] ||
    fail "the client's content type was not passed: $(last content_type)"

# --- errors in Ollama's shape ---------------------------------------------
px alpha /api/generate '{"model":"nope","stream":false}'
[ "$CODE" = 404 ] || fail "missing model: $CODE $BODY"
jget "$BODY" error | grep -q '"nope"' || fail "404 does not name the model: $BODY"
# on /v1/ errors come as Ollama's OpenAI layer sends them
px alpha /v1/chat/completions '{"model":"nope","messages":[]}'
[ "$CODE" = 404 ] && [ "$(jget "$BODY" error.type)" = not_found_error ] &&
    jget "$BODY" error.message | grep -q '"nope"' ||
    fail "/v1 missing model: $CODE $BODY"
px alpha /api/chat '{"model":'
[ "$CODE" = 400 ] && jget "$BODY" error | grep -q 'invalid JSON' ||
    fail "bad JSON: $CODE $BODY"
head -c 150000 /dev/zero | tr '\0' x >"$T/big.body"
px alpha /api/generate @"$T/big.body"
[ "$CODE" = 413 ] && jget "$BODY" error | grep -q 'ollama_max_body' ||
    fail "body over ollama_max_body: $CODE $BODY, want 413 in Ollama's shape"
# said before the body is sent, to a client that asks first
out=$(curl -s -H 'Expect: 100-continue' -w '%{http_code}' --max-time 10 \
    "http://${ADDR[alpha]}:17948/api/generate" --data-binary @"$T/big.body")
case $out in *'"error"'*413) ;; *) fail "413 with Expect: $out" ;; esac
[ "$(metric alpha 'peerwatch_ollama_rejected_total{reason="too_large"}')" = 2 ] ||
    fail "the 413s are not counted"

# --- uploads stream: /api/blobs/ goes to the backend as it comes ------------
# A blob (ollama create) is no JSON to route by and can be gigabytes: it is
# not held whole, so ollama_max_body (100000 here) does not apply to it.
head -c 3000000 /dev/urandom >"$T/blob"
dig=sha256:$(sha256sum "$T/blob" | cut -d' ' -f1)
upload() {
	CODE=$(curl -s -o "$T/up.b" -D "$T/up.h" -w '%{http_code}' --max-time 20 \
	    --data-binary @"$T/blob" "http://${ADDR[alpha]}:17948/api/blobs/$1") ||
	    CODE=000
	BODY=$(cat "$T/up.b")
	BACKEND=$(tr -d '\r' <"$T/up.h" |
	    awk -F': ' 'tolower($1) == "x-peerwatch-backend" { print $2 }')
}
upload "$dig"
[ "$CODE" = 201 ] && [ "$BACKEND" = alpha ] ||
    fail "blob upload of 3 MB: $CODE via '$BACKEND' $BODY"
px alpha "/api/blobs/$dig" '' -I
[ "$CODE" = 200 ] || fail "HEAD of the uploaded blob: $CODE"
upload "sha256:$(printf %064d 0)"
[ "$CODE" = 400 ] && jget "$BODY" error | grep -q 'digest mismatch' ||
    fail "a wrong digest is the backend's 400: $CODE $BODY"
# streamed, not stored: a client sends half a chunked blob and waits until
# the backend has a good part of it before it sends the rest (a proxy
# that read the body whole first would leave it waiting forever)
python3 - "${ADDR[alpha]}" "$OPORT" "$T/blob" <<'PYEOF' ||
import hashlib, json, socket, sys, time, urllib.request
host, oport, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
data = open(path, "rb").read()
dig = "sha256:" + hashlib.sha256(data).hexdigest()
s = socket.create_connection((host, 17948), timeout=20)
s.sendall(("POST /api/blobs/%s HTTP/1.1\r\nHost: x\r\n"
           "Transfer-Encoding: chunked\r\n\r\n" % dig).encode())
def chunk(b):
    s.sendall(b"%x\r\n%s\r\n" % (len(b), b))
half = len(data) // 2
for i in range(0, half, 65536):
    chunk(data[i:min(i + 65536, half)])
got, t0 = 0, time.time()
while time.time() - t0 < 15:
    with urllib.request.urlopen("http://%s:%d/_fake" % (host, oport)) as r:
        got = json.load(r)["blob_bytes"]
    if got >= 1000000:
        break
    time.sleep(0.05)
if got < 1000000:
    sys.exit("the backend had %d bytes of the first %d after 15 s" % (got, half))
chunk(data[half:])
s.sendall(b"0\r\n\r\n")
resp = b""
while b"\r\n\r\n" not in resp:
    b = s.recv(4096)
    if not b:
        break
    resp += b
line = resp.split(b"\r\n")[0]
if b" 201 " not in line + b" ":
    sys.exit("streamed chunked blob: %r" % resp[:300])
print("backend had %d bytes before the client sent the second half" % got)
PYEOF
    fail "a chunked upload was not streamed to the backend"
# a backend that fails once part of a blob has gone to it: a 502 naming
# it, not a second backend given the rest (beta never sees the blob)
fake_set alpha '{"blob_die_after":1000000}'
upload "$dig"
[ "$CODE" = 502 ] && jget "$BODY" error | grep -q 'not sent twice' ||
    fail "an upload cut by its backend: $CODE $BODY, want 502"
[ "$(curl -s -o /dev/null -w '%{http_code}' -I \
    "http://${ADDR[beta]}:$OPORT/api/blobs/$dig")" = 404 ] ||
    fail "the rest of a cut upload went to beta"
fake_set alpha '{"blob_die_after":null}'
wait_until 10 eval 'px alpha /api/version; [ "$BACKEND" = alpha ]' ||
    fail "alpha's own Ollama not used again after the cut upload"
# a client that goes mid-upload: its transfer is cancelled at once
gone0=$(metric alpha 'peerwatch_ollama_backend_failures_total{backend="alpha",kind="client_gone"}')
python3 - "${ADDR[alpha]}" "$T/blob" <<'PYEOF' || fail "client-gone upload"
import socket, sys
host, path = sys.argv[1], sys.argv[2]
s = socket.create_connection((host, 17948), timeout=10)
s.sendall(b"POST /api/blobs/sha256:%s HTTP/1.1\r\nContent-Length: 3000000"
          b"\r\n\r\n" % (b"1" * 64))
s.sendall(open(path, "rb").read()[:500000])
s.close()
PYEOF
wait_until 5 eval '[ "$(metric alpha '"'"'peerwatch_ollama_backend_failures_total{backend="alpha",kind="client_gone"}'"'"')" -gt "${gone0:-0}" ]' ||
    fail "a client gone mid-upload was not counted as client_gone"

# --- what operators see ---------------------------------------------------
[ "$(metric alpha 'peerwatch_ollama_backend_requests_total{backend="gamma"}')" -ge 2 ] ||
    fail "gamma's requests not counted in /metrics"
[ "$(metric alpha 'peerwatch_ollama_rejected_total{reason="bad_request"}')" = 1 ] ||
    fail "the 400 is not counted"
if command -v promtool >/dev/null 2>&1; then
	M=$(curl -fsS --max-time 2 "http://${ADDR[alpha]}:17947/metrics")
	grep -q '^# HELP peerwatch_ollama_first_byte_seconds ' <<<"$M" ||
	    fail "no Ollama families in /metrics"
	out=$(promtool check metrics <<<"$M" 2>&1) ||
	    fail "promtool check metrics: $out"
	[ -z "$out" ] || fail "promtool says: $out"
else
	log "promtool not found: /metrics format not checked"
fi
status alpha
[ "$(jget "$ST" ollama.backends.beta.models)" = '["big:latest", "tiny:latest"]' ] ||
    [ "$(jget "$ST" ollama.backends.beta.models)" = '["big:latest","tiny:latest"]' ] ||
    fail "/status does not list beta's models: $(jget "$ST" ollama.backends.beta)"

out=$(ASAN_OPTIONS=detect_leaks=0 pw_cli alpha status)
printf '%s\n' "$out" | grep -q '^Ollama failover on' ||
    fail "peerwatch status has no Ollama table: $out"
printf '%s\n' "$out" | grep -Eq '^gamma +up .* big:latest\*' ||
    fail "peerwatch status does not show gamma's loaded big: $out"

# --- a backend that goes away closes the connections alpha keeps to it ---
# (idle in curl's cache, their events stay registered between requests):
# alpha must drop them, not spin on their end of file
px alpha /api/generate '{"model":"big","prompt":"hi","stream":false}'
far=$BACKEND
[ "$CODE" = 200 ] && { [ "$far" = beta ] || [ "$far" = gamma ]; } ||
    fail "big: $CODE via '$far'"
fake_kill "$far"
if [ -r "/proc/${PID[alpha]}/stat" ]; then
	# its CPU time (in ticks of 10 ms) while it answers from its own
	# Ollama for at least 800 ms: a few ticks; spinning (even niced and
	# sharing the machine) took over a quarter of that
	cpu0=$(awk '{ print $14 + $15 }' "/proc/${PID[alpha]}/stat")
	pw_now
	t0=$NOW_MS
	for i in $(seq 400); do
		px alpha /api/version
		[ "$CODE" = 200 ] || fail "/api/version after $far's going: $CODE"
		pw_now
		[ $((NOW_MS - t0)) -lt 800 ] || break
	done
	cpu=$(($(awk '{ print $14 + $15 }' "/proc/${PID[alpha]}/stat") - cpu0))
	[ $((cpu * 10 * 6)) -lt $((NOW_MS - t0)) ] ||
	    fail "alpha spun after $far's Ollama went: $cpu ticks in $((NOW_MS - t0)) ms"
	log "alpha: $cpu ticks in $((NOW_MS - t0)) ms after $far's Ollama went"
fi
if [ "$far" = beta ]; then
	fake_start beta tiny,big
else
	fake_start gamma tiny,big,huge huge
fi
wait_until 5 backend_sees alpha "$far" reported_up true ||
    fail "alpha never heard $far's Ollama back"
px alpha /api/generate '{"model":"big","prompt":"hi","stream":false}'
[ "$CODE" = 200 ] || fail "big after $far's Ollama came back: $CODE"

# --- model lists too long for a datagram: a digest, then /api/tags ---------
many=$(for i in $(seq 60); do printf '"library/a-model-with-a-long-name-%02d:7b",' "$i"; done)
fake_set beta "{\"models\":[${many%,}]}"
nmodels() {
	status alpha || return 1
	[ "$(jget "$ST" ollama.backends.beta.models | tr ',' '\n' | grep -c long-name)" = 60 ]
}
wait_until 5 nmodels || fail "alpha never learnt beta's 60 models"
px alpha /api/generate '{"model":"library/a-model-with-a-long-name-42:7b","stream":false}'
[ "$CODE" = 200 ] && [ "$BACKEND" = beta ] || fail "long list: $CODE via '$BACKEND'"
status beta
[ "$(jget "$ST" heartbeats.send_errors)" = 0 ] || fail "beta: heartbeat send errors"
hold 2 settled || fail "the mesh suffered from the long lists"
pass
