#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# ollama_load: sustained streaming through two peers' endpoints while the
# mesh runs. Nothing the proxy does may delay a heartbeat: no peer is ever
# suspected, and every stream ends in done:true.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ollama_lib.sh"
pw_setup "$@"

ollama_mesh alpha beta gamma
fake_start alpha tiny
fake_start beta tiny
fake_start gamma tiny
fake_set alpha '{"tokens":60,"delay_ms":10}'
fake_set beta '{"tokens":60,"delay_ms":10}'
fake_set gamma '{"tokens":60,"delay_ms":10}'
start_all
wait_until 8 settled || fail "mesh did not come up"

DURATION=15
CLIENTS=6
# client I: streaming generates through alpha or beta until the end time
client() {
	local i=$1 via end ok=0 bad=0
	pw_now
	end=$((NOW_MS + DURATION * 1000))
	while :; do
		via=alpha
		[ $((i % 2)) = 0 ] || via=beta
		if curl -s -N --max-time 10 \
		    "http://${ADDR[$via]}:17948/api/generate" \
		    -d '{"model":"tiny","prompt":"x"}' | tail -n 1 |
		    grep -q '"done": true'; then
			ok=$((ok + 1))
		else
			bad=$((bad + 1))
		fi
		pw_now
		[ "$NOW_MS" -lt "$end" ] || break
	done
	echo "$ok $bad" >"$T/client.$i"
}
CPIDS=()
for i in $(seq $CLIENTS); do
	client "$i" &
	CPIDS+=($!)
	ALL_PIDS+=($!)
done
log "$CLIENTS streaming clients for $DURATION s"
hold $((DURATION - 1)) all_alive || fail "a peer was suspected under load"
for p in "${CPIDS[@]}"; do
	wait "$p" || fail "a client failed"
done
ok=0
bad=0
for i in $(seq $CLIENTS); do
	read -r o b <"$T/client.$i"
	ok=$((ok + o))
	bad=$((bad + b))
done
log "streams completed: $ok, failed: $bad"
[ "$bad" = 0 ] || fail "$bad streams did not end in done:true"
[ "$ok" -ge $((CLIENTS * 5)) ] || fail "only $ok streams in $DURATION s"
for n in alpha beta gamma; do
	[ "$(metric $n 'peerwatch_detections_total{event="suspect"}')" = 0 ] ||
	    fail "$n suspected someone under load"
done
pass
