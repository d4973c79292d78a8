#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# revive/no_valid_backup (scenario 3): gamma dies with a corrupt config and
# every backup source is invalid too (.bak corrupt, .bak.1 missing a
# required path, both matches of a glob corrupt; no mesh source listed).
# alpha must leave the file byte for byte as it is, create nothing beside
# it, write no flag, and escalate (no_valid_backup) with an open incident.
set -euo pipefail
. "$(dirname "$0")/revive_lib.sh"
rv_setup "$@"

RV_SSH=gamma rv_mesh alpha beta gamma
rv_guard app gamma "{file}.bak {file}.bak.1 {file}.d/*.json"
f=$(rv_file app gamma)
mkdir "$f.d"
rv_sshd_start gamma
rv_watch gamma
rv_start_all
wait_until 10 settled || fail "mesh did not come up"

rv_kill9 gamma
rv_corrupt "$f"
rv_corrupt "$f.bak"
printf '{"server": {"host": "x"}, "name": "no port"}\n' >"$f.bak.1"
rv_corrupt "$f.d/daily-1.json"
rv_corrupt "$f.d/daily-2.json"
before=$(rv_snapshot "$T/gamma/app")

wait_until 20 rv_escalations_ge alpha no_valid_backup 1 app@gamma ||
    fail "alpha: no no_valid_backup escalation for app@gamma"
wait_until 5 rv_incident_open alpha no_valid_backup app@gamma ||
    fail "alpha's /status has no open no_valid_backup incident"
status alpha
log "incident: $(jget "$ST" incidents)"
[ "$(jget "$ST" -d none acting.gamma.step)" = escalated ] ||
    fail "alpha's acting step for gamma: $(jget "$ST" -d none acting.gamma)"
# the attempt is over; hold a little: nothing may appear later either
hold 3 rv_unchanged "$T/gamma/app" "$before" || fail "gamma's files changed"
after=$(rv_snapshot "$T/gamma/app")
[ "$before" = "$after" ] || fail "gamma's files changed:
$before
----
$after"
[ -z "$(ls -A "$T/gamma/flags")" ] || fail "flags dir not empty: $(ls -A "$T/gamma/flags")"
[ ! -s "$T/gamma/flags.log" ] || fail "the watcher saw flags: $(cat "$T/gamma/flags.log")"
[ "$(ev_count alpha flag_dropped)" -eq 0 ] || fail "alpha logged flag_dropped"
[ "$(ev_count alpha config_restored)" -eq 0 ] || fail "alpha logged config_restored"
[ "$(rv_escalations alpha no_valid_backup)" -eq 1 ] ||
    fail "want one no_valid_backup escalation, have $(rv_escalations alpha no_valid_backup)"
steps=$(rv_steps alpha gamma | tr '\n' ' ')
[ "$steps" = "revive_start config_invalid revive_failed " ] ||
    fail "alpha's revive events for gamma: $steps"
pw_gone "$(rv_pid gamma)" || fail "gamma was restarted"
rv_pass
