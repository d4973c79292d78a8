# SPDX-License-Identifier: ISC
# ollama_lib.sh: what the ollama_* scenarios share, on top of lib.sh
# (sourced after it). A loopback mesh whose every host has a fake Ollama
# (tests/tools/fake_ollama.py) on its own 127.213.K.I address, and
# helpers to steer a fake and to ask the failover endpoint.
#
#   ollama_mesh alpha beta            # mesh_loopback + `ollama =` per peer
#   fake_start alpha tiny,big [loaded] [port]
#   start_all; wait_until 5 settled
#   px alpha /api/generate '{"model":"tiny"}'   # body in $BODY, headers $HDRS

FAKE=$PW_SRC_DIR/tests/tools/fake_ollama.py
OPORT=17900 # the fakes' port
declare -A FPID=()

# ollama_mesh NAME...: a loopback mesh, each peer with an Ollama URL;
# OLLAMA_MESH_EXTRA adds [mesh] lines; OLLAMA_PROBE_INTERVAL (300ms)
ollama_mesh() {
	command -v python3 >/dev/null 2>&1 || skip "needs python3 (fake Ollama)"
	command -v curl >/dev/null 2>&1 || skip "needs curl"
	MESH_EXTRA="ollama_probe_interval = ${OLLAMA_PROBE_INTERVAL:-300ms}
ollama_backoff = 3s
${OLLAMA_MESH_EXTRA:-}" mesh_loopback "$@"
	local n tmp=$T/peers.conf.tmp
	cp "$T/peers.conf" "$tmp"
	for n in "$@"; do
		awk -v l="ollama_listen = ${ADDR[$n]}:17948" \
		    -v add="ollama = http://${ADDR[$n]}:$OPORT" \
		    '{ print } $0 == l { print add }' "$tmp" >"$T/peers.conf"
		cp "$T/peers.conf" "$tmp"
	done
	rm -f "$tmp"
}

# fake_start NAME MODELS [LOADED] [HOST]: NAME's fake Ollama (on NAME's
# address unless HOST), ready when it answers
fake_start() {
	local n=$1 host=${4:-${ADDR[$1]}}
	python3 "$FAKE" --host "$host" --port "$OPORT" --name "$n" \
	    --models "$2" --loaded "${3:-}" >>"$T/fake-$n.log" 2>&1 &
	FPID[$n]=$!
	ALL_PIDS+=($!)
	wait_until 10 curl -sf -o /dev/null "http://$host:$OPORT/" ||
	    fail "fake Ollama of $n did not come up"
	log "fake Ollama $n on $host:$OPORT (pid ${FPID[$n]}): $2"
}

# fake_kill NAME: the fake dies (SIGKILL), reaped
fake_kill() {
	kill -KILL "${FPID[$1]}"
	{ wait "${FPID[$1]}" || true; } 2>/dev/null
	log "fake Ollama $1 killed"
}

# fake_set NAME JSON: change a fake's behaviour at run time
fake_set() {
	curl -sf -o /dev/null "http://${ADDR[$1]}:$OPORT/_fake" -d "$2" ||
	    fail "cannot steer the fake of $1"
}

# px NAME PATH [BODY] [CURL ARGS...]: a request to NAME's ollama_listen;
# status into CODE, body into BODY, headers into HDRS, the backend that
# answered (X-Peerwatch-Backend) into BACKEND
px() {
	local n=$1 path=$2 body=${3:-} out
	shift 3 || shift $#
	out=$T/px.$$
	if [ -n "$body" ]; then
		CODE=$(curl -s -o "$out.b" -D "$out.h" -w '%{http_code}' \
		    --max-time 20 "$@" "http://${ADDR[$n]}:17948$path" \
		    -d "$body") || CODE=000
	else
		CODE=$(curl -s -o "$out.b" -D "$out.h" -w '%{http_code}' \
		    --max-time 20 "$@" "http://${ADDR[$n]}:17948$path") ||
		    CODE=000
	fi
	BODY=$(cat "$out.b" 2>/dev/null || true)
	HDRS=$(cat "$out.h" 2>/dev/null || true)
	BACKEND=$(printf '%s' "$HDRS" | tr -d '\r' |
	    awk -F': ' 'tolower($1) == "x-peerwatch-backend" { print $2 }')
	rm -f "$out.b" "$out.h"
}

# metric NAME LINE-PREFIX: the value of one /metrics line of NAME
metric() {
	curl -s "http://${ADDR[$1]}:17947/metrics" |
	    awk -v p="$2" 'index($0, p " ") == 1 { print $NF }'
}

# backend_sees NAME PEER FIELD VALUE: NAME's /status says so of PEER's
# backend
backend_sees() {
	status "$1" || return 1
	[ "$(jget "$ST" -d none "ollama.backends.$2.$3")" = "$4" ]
}

# ollama_up FROM PEER: start every daemon, wait for the mesh, then for
# FROM to hear PEER's Ollama report
ollama_up() {
	start_all
	wait_until 8 settled || fail "mesh did not come up"
	wait_until 5 backend_sees "$1" "$2" reported_up true ||
	    fail "$1 never heard $2's Ollama report"
}
