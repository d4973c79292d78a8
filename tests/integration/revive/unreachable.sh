#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# revive/unreachable (scenario 5): gamma's sshd is down (connection
# refused) when gamma dies. alpha escalates once (kind unreachable, an open
# incident), logs revive_failed (reason unreachable) per attempt and retries
# with a growing backoff (2 s, 4 s, ...): at least three revive_start events
# with growing gaps. No flag is written. With sshd back, a retry revives
# gamma and the incident closes.
set -euo pipefail
. "$(dirname "$0")/revive_lib.sh"
rv_setup "$@"

RV_SSH=gamma rv_mesh alpha beta gamma
rv_guard app gamma
f=$(rv_file app gamma)
rv_sshd_start gamma
rv_watch gamma
rv_start_all
wait_until 10 settled || fail "mesh did not come up"

rv_sshd_stop gamma
rv_kill9 gamma
before=$(rv_snapshot "$T/gamma/app")

wait_until 20 rv_escalations_ge alpha unreachable 1 gamma ||
    fail "alpha: no unreachable escalation for gamma"
wait_until 5 rv_incident_open alpha unreachable gamma ||
    fail "alpha's /status has no open unreachable incident for gamma"
wait_until 20 rv_ev_has_at_least alpha revive_start 3 gamma ||
    fail "alpha did not retry twice"
wait_until 10 rv_ev_has_at_least alpha revive_failed 3 gamma ||
    fail "alpha's third attempt did not fail"
status alpha
log "alpha acting for gamma: $(jget "$ST" -d none acting.gamma); revive: $(jget "$ST" -d none revive.gamma)"
case $(jget "$ST" -d none acting.gamma.step) in
backoff | connecting) ;;
*) fail "alpha's acting step for gamma: $(jget "$ST" -d none acting.gamma)" ;;
esac

# growing gaps between the attempts
mapfile -t starts < <(rv_ev alpha type peer ts |
    awk -F'\t' '$1 == "revive_start" && $2 == "gamma" { print $3 }')
prev='' prevgap=0
for ts in "${starts[@]:0:3}"; do
	ms=$(rv_ts_ms "$ts")
	if [ -n "$prev" ]; then
		gap=$((ms - prev))
		log "gap between attempts: $gap ms"
		[ "$gap" -ge 1500 ] || fail "attempts $gap ms apart: no backoff"
		[ "$gap" -gt "$prevgap" ] || fail "gap $gap ms not longer than $prevgap ms"
		prevgap=$gap
	fi
	prev=$ms
done
reasons=$(rv_ev alpha type reason | awk -F'\t' '$1 == "revive_failed" { print $2 }' | sort -u)
[ "$reasons" = unreachable ] || fail "revive_failed reasons: $reasons"
[ "$(rv_escalations alpha unreachable gamma)" -eq 1 ] ||
    fail "want one unreachable escalation, have $(rv_escalations alpha unreachable gamma)"
rv_unchanged "$T/gamma/app" "$before" || fail "gamma's files changed"
[ -z "$(ls -A "$T/gamma/flags")" ] || fail "flags dir not empty: $(ls -A "$T/gamma/flags")"
[ ! -s "$T/gamma/flags.log" ] || fail "the watcher saw flags: $(cat "$T/gamma/flags.log")"
[ "$(ev_count alpha flag_dropped)" -eq 0 ] || fail "alpha logged flag_dropped"

# sshd back: the next retry (backoff at most 8 s here) revives gamma
old_pid=$(rv_pid gamma)
rv_sshd_start gamma
wait_until 40 rv_restarted gamma "$old_pid" || fail "gamma not revived after sshd came back"
wait_until 15 ev_has alpha revive_ok gamma || fail "alpha: no revive_ok"
wait_until 5 rv_no_incident alpha unreachable gamma || fail "unreachable incident not closed"
ev_has alpha incident_closed gamma || fail "alpha: no incident_closed for gamma"
rv_pass
