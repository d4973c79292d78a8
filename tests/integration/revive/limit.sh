#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# revive/limit (scenario 6): gamma dies three times within the hour, with
# max_revives_per_hour at its default of 2. The first two deaths are revived
# (two revive_ok); the third brings one revive_limit escalation and no
# further attempt: no revive_start, no flag, gamma stays down (held 6 s).
set -euo pipefail
. "$(dirname "$0")/revive_lib.sh"
rv_setup "$@"

RV_SSH=gamma rv_mesh alpha beta gamma
rv_guard app gamma
rv_sshd_start gamma
rv_watch gamma
rv_start_all
wait_until 10 settled || fail "mesh did not come up"

for i in 1 2; do
	old_pid=$(rv_pid gamma)
	rv_kill9 gamma
	wait_until 30 rv_restarted gamma "$old_pid" || fail "death $i: gamma not revived"
	wait_until 15 all_alive || fail "death $i: gamma not alive everywhere"
	wait_until 5 rv_ev_has_at_least alpha revive_ok "$i" gamma ||
	    fail "death $i: alpha logged no revive_ok"
	log "death $i: revived"
done
status alpha
[ "$(jget "$ST" -d none revive.gamma.revives_this_hour)" = 2 ] ||
    fail "alpha: revives_this_hour: $(jget "$ST" -d none revive.gamma)"

rv_kill9 gamma
wait_until 15 rv_escalations_ge alpha revive_limit 1 gamma ||
    fail "alpha: no revive_limit escalation for gamma"
wait_until 5 rv_incident_open alpha revive_limit gamma ||
    fail "alpha's /status has no open revive_limit incident for gamma"

# held: one escalation, still 2 attempts, no new flag, gamma stays down
limit_holds() {
	[ "$(ev_count alpha revive_start gamma)" -eq 2 ] &&
	[ "$(rv_escalations alpha revive_limit gamma)" -eq 1 ] &&
	[ "$(rv_flags_seen gamma revive)" -eq 2 ] &&
	[ -z "$(ls -A "$T/gamma/flags")" ] &&
	pw_gone "$(rv_pid gamma)" &&
	status alpha &&
	[ "$(jget "$ST" -d none acting.gamma.step)" = limit ]
}
hold 6 limit_holds || fail "the limit did not hold: revive_start $(ev_count alpha revive_start gamma), revive_limit $(rv_escalations alpha revive_limit gamma), acting $(jget "$ST" -d none acting.gamma)"
[ "$(ev_count beta revive_start)" -eq 0 ] || fail "beta took over the revive"
[ "$(ev_count alpha revive_ok gamma)" -eq 2 ] || fail "want 2 revive_ok"
rv_pass
