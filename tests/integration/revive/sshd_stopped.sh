#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# revive/sshd_stopped (scenario 7): gamma's sshd listener is frozen with
# SIGSTOP (the kernel still completes TCP handshakes into its backlog, but
# no SSH banner ever comes) and gamma dies. alpha's revive runs on a worker
# thread: every attempt fails cleanly within ssh_timeout (3 s) + slack as
# "unreachable", while all heartbeats keep flowing (no peer but gamma is
# ever suspect in anyone's event log; alpha and beta keep hearing each
# other within the 1 s suspect_after; alpha's /status keeps answering).
# After SIGCONT the next retry revives gamma.
set -euo pipefail
. "$(dirname "$0")/revive_lib.sh"
rv_setup "$@"

RV_SSH=gamma rv_mesh alpha beta gamma
rv_guard app gamma
rv_sshd_start gamma
rv_watch gamma
rv_start_all
wait_until 10 settled || fail "mesh did not come up"

# alpha and beta hear each other, recently: a heartbeat gap at either
# (alpha's loop thread blocked by the revive) fails the test at once
MAX_GAP=0
heartbeats_flow() {
	local a b
	status alpha || fail "alpha's /status does not answer"
	a=$(jget "$ST" peers.beta.last_heard_ms)
	status beta || fail "beta's /status does not answer"
	b=$(jget "$ST" peers.alpha.last_heard_ms)
	# heartbeats every 500 ms +-10 %: 1.5 s is three missed, which a
	# loop blocked on the frozen sshd (ssh_timeout 3 s) would show; 1 s
	# left a loaded run one late timer from failing
	[ "$a" -lt 1500 ] || fail "alpha last heard beta $a ms ago"
	[ "$b" -lt 1500 ] || fail "beta last heard alpha $b ms ago"
	[ "$a" -le "$MAX_GAP" ] || MAX_GAP=$a
	[ "$b" -le "$MAX_GAP" ] || MAX_GAP=$b
}
# heartbeats_flow every 100 ms until alpha logged N revive_failed
failed_while_flowing() {
	heartbeats_flow
	rv_ev_has_at_least alpha revive_failed "$1" gamma
}

kill -STOP "${SSHD_PID[gamma]}"
log "sshd of gamma frozen (SIGSTOP ${SSHD_PID[gamma]})"
old_pid=$(rv_pid gamma)
rv_kill9 gamma
wait_until 40 failed_while_flowing 2 ||
    fail "alpha did not fail two attempts against the frozen sshd"

# each attempt ended within ssh_timeout + 2 s of its start, as unreachable
mapfile -t rows < <(rv_ev alpha type peer ts reason |
    awk -F'\t' '$2 == "gamma" && ($1 == "revive_start" || $1 == "revive_failed")')
n=0 start=''
for r in "${rows[@]}"; do
	IFS=$'\t' read -r type _ ts reason <<<"$r"
	if [ "$type" = revive_start ]; then
		start=$(rv_ts_ms "$ts")
		continue
	fi
	n=$((n + 1))
	took=$(($(rv_ts_ms "$ts") - start))
	log "attempt $n failed after $took ms: $reason"
	[ "$reason" = unreachable ] || fail "attempt $n: reason $reason, want unreachable"
	[ "$took" -le 5000 ] || fail "attempt $n took $took ms (ssh_timeout 3 s)"
done
[ "$(rv_escalations alpha unreachable gamma)" -eq 1 ] ||
    fail "want one unreachable escalation, have $(rv_escalations alpha unreachable gamma)"
[ ! -s "$T/gamma/flags.log" ] || fail "the watcher saw flags: $(cat "$T/gamma/flags.log")"

kill -CONT "${SSHD_PID[gamma]}"
log "sshd of gamma continued; heartbeat gaps so far at most $MAX_GAP ms"
revived() {
	heartbeats_flow
	rv_restarted gamma "$old_pid" && ev_has alpha revive_ok gamma
}
wait_until 40 revived || fail "gamma not revived after SIGCONT"
wait_until 15 all_alive || fail "gamma not alive again everywhere"

# over the whole run nobody but gamma was ever suspect, anywhere
for n in alpha beta gamma; do
	s=$(rv_ev "$n" type peer | awk -F'\t' '$1 ~ /^peer_(suspect|down|confirmed_down)$/ && $2 != "gamma"')
	[ -z "$s" ] || fail "$n logged: $s"
done
for n in alpha beta; do
	[ "$(ev_count "$n" self_stall)" -eq 0 ] || fail "$n logged self_stall"
done
log "largest heartbeat age seen between alpha and beta: $MAX_GAP ms"
rv_pass
