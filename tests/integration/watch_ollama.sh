#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# watch_ollama: the local Ollama is a service like any other. alpha's
# [service ollama@alpha] probes its (fake) Ollama and restarts it; the
# failover endpoint's own probe runs only every minute here, yet when the
# watch sees the Ollama die (and come back) alpha's report follows at
# once: beta hears alpha's Ollama down, then up, within seconds. (loopback)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ollama_lib.sh"
pw_setup "$@"

OLLAMA_PROBE_INTERVAL=1m ollama_mesh alpha beta
A=${ADDR[alpha]}
FPIDFILE=$T/fake-alpha.pid
pw_test_cleanup() {
	[ -s "$FPIDFILE" ] && kill -KILL "$(cat "$FPIDFILE")" 2>/dev/null
	return 0
}
cat >>"$T/peers.conf" <<CONF
[service ollama@alpha]
probe = http://$A:$OPORT/api/tags
interval = 300ms
timeout = 250ms
start_grace = 1s
restart = sh -c 'python3 $FAKE --host $A --port $OPORT --name alpha --models tiny >>$T/fake-alpha.log 2>&1 & echo \$! >$FPIDFILE'

CONF
fake_start alpha tiny
fake_start beta tiny
ollama_up beta alpha
sv_is() {
	status alpha || return 1
	[ "$(jget "$ST" -d none "services.ollama.state")" = "$1" ]
}
wait_until 5 sv_is up || fail "the watch never saw alpha's Ollama up"

pw_now
t0=$NOW_MS
fake_kill alpha
wait_until 5 backend_sees beta alpha reported_up false ||
    fail "beta did not hear that alpha's Ollama died (the endpoint's own probe is a minute away)"
pw_now
log "alpha's Ollama killed -> beta hears it down in $((NOW_MS - t0)) ms"
wait_until 10 eval 'ev_has alpha service_restarted' || fail "the watch did not restart alpha's Ollama"
wait_until 10 backend_sees beta alpha reported_up true ||
    fail "beta did not hear that alpha's Ollama is back"
pw_now
log "restarted by the watch; beta hears it up $((NOW_MS - t0)) ms after the kill"
px beta /api/generate '{"model":"tiny","prompt":"hi","stream":false}'
[ "$CODE" = 200 ] || fail "generate through beta: HTTP $CODE"
stop_all_clean
pass
