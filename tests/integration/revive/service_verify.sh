#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# revive/service_verify: a revive is done when the service is back, not
# when the daemon is. gamma's guard names the service it configures
# (`service = app@gamma`, a [service] that gamma's local watch probes).
# Death 1: gamma's peerwatch dies with app down and its config corrupt;
# alpha restores it and drops the flags; gamma's peerwatch is back at once,
# but the app only comes up 2 s later (when the test "restarts" it on its
# flag): no revive_ok before, then revive_ok naming app@gamma up. Death 2:
# the app never comes back: revive_incomplete within revive_verify,
# escalated once, never revive_ok; when the app comes up after all, the
# incident closes (revive_completed). Then gamma repairs its own config
# while running: repair_ok only once the app is up again; with the app
# down, repair_incomplete (escalated), closed by repair_completed.
set -euo pipefail
. "$(dirname "$0")/revive_lib.sh"
rv_setup "$@"

RV_SSH=gamma rv_mesh alpha beta gamma
rv_guard app gamma
f=$(rv_file app gamma)
UP=$T/gamma/app.up
# the guard names its service; the service is gamma's own check
sed -i.orig "s|^\[guard app@gamma\]\$|[guard app@gamma]\nservice = app@gamma|" "$T/peers.conf"
cat >>"$T/peers.conf" <<EOF
[service app@gamma]
probe = exec:test -e $UP
interval = 300ms
timeout = 300ms

EOF
grep -q '^service = app@gamma$' "$T/peers.conf" || fail "guard not linked"
touch "$UP"
rv_sshd_start gamma
rv_watch gamma
rv_start_all
wait_until 15 settled || fail "mesh did not come up"
app_reported() {
	status alpha || return 1
	[ "$(jget "$ST" -d none peers.gamma.services.app)" = "$1" ]
}
wait_until 10 app_reported u || fail "alpha never heard that app@gamma is up"
# the app stops, its config breaks, gamma's peerwatch dies; the watcher
# restarts peerwatch from its revive flag
die_with_app_down() {
	local old
	old=$(rv_pid gamma)
	rm -f "$UP"
	wait_until 5 app_reported d || fail "$1: alpha did not hear that app@gamma went down"
	rv_corrupt "$f"
	rv_kill9 gamma
	wait_until 30 rv_restarted gamma "$old" || fail "$1: gamma's peerwatch not restarted"
}

# --- death 1: the app comes up late ----------------------------------------
die_with_app_down "death 1"
wait_until 10 eval '[ "$(rv_flags_seen gamma guard)" -ge 1 ]' ||
    fail "app's flag was not dropped"
# peerwatch is back, the app is not: no revive_ok yet
hold 2 eval '[ "$(ev_count alpha revive_ok gamma)" -eq 0 ]' ||
    fail "revive_ok while app@gamma was still down"
touch "$UP" # the app's flag unit restarted it
wait_until 10 ev_has alpha revive_ok gamma || fail "no revive_ok once the app was up"
detail=$(rv_ev alpha type detail | awk -F'\t' '$1 == "revive_ok" {d = $2} END {print d}')
grep -q 'app@gamma up' <<<"$detail" || fail "revive_ok does not name the service: $detail"
log "death 1: revive_ok: $detail"

# --- death 2: the app never comes back --------------------------------------
wait_until 10 all_alive || fail "gamma not alive everywhere"
die_with_app_down "death 2"
# revive_verify = 10 s from the flags
wait_until 20 ev_has alpha revive_incomplete gamma ||
    fail "death 2: no revive_incomplete"
[ "$(ev_count alpha revive_ok gamma)" -eq 1 ] || fail "death 2 ended as revive_ok"
wait_until 5 rv_escalations_ge alpha revive_incomplete 1 gamma ||
    fail "revive_incomplete was not escalated"
rv_incident_open alpha revive_incomplete gamma || fail "no open revive_incomplete incident"
hold 2 eval '[ "$(rv_escalations alpha revive_incomplete gamma)" -eq 1 ]' ||
    fail "revive_incomplete escalated more than once"
# the app comes back by other means: the incident closes
touch "$UP"
wait_until 10 ev_has alpha revive_completed gamma || fail "no revive_completed"
wait_until 5 rv_no_incident alpha revive_incomplete gamma ||
    fail "the revive_incomplete incident stayed open"
[ "$(ev_count alpha revive_ok gamma)" -eq 1 ] || fail "a late revive_ok for death 2"

# --- gamma repairs its own config while it runs: the same rule -----------------
wait_until 10 all_alive || fail "gamma not alive everywhere"
repairs() {
	ev_count gamma config_restored gamma
}
n=$(repairs)
rm -f "$UP"
wait_until 5 app_reported d || fail "app@gamma not reported down"
rv_corrupt "$f"
wait_until 10 eval '[ "$(repairs)" -gt '"$n"' ]' || fail "gamma did not repair its config"
hold 1 eval '[ "$(ev_count gamma repair_ok gamma)" -eq 0 ]' ||
    fail "repair_ok while app@gamma was down"
touch "$UP"
wait_until 10 ev_has gamma repair_ok gamma || fail "no repair_ok once the app was up"
# and when the app stays down: repair_incomplete, escalated by gamma itself
n=$(repairs)
rm -f "$UP"
wait_until 5 app_reported d || fail "app@gamma not reported down"
rv_corrupt "$f"
wait_until 10 eval '[ "$(repairs)" -gt '"$n"' ]' || fail "gamma did not repair again"
wait_until 15 ev_has gamma repair_incomplete gamma || fail "no repair_incomplete"
wait_until 5 rv_escalations_ge gamma repair_incomplete 1 gamma ||
    fail "repair_incomplete not escalated"
touch "$UP"
wait_until 10 ev_has gamma repair_completed gamma || fail "no repair_completed"
rv_pass
