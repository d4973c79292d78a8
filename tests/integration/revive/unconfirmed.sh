#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# revive/unconfirmed: gamma's daemon is frozen (SIGSTOP), not dead, and
# nothing on gamma acts on revive flags (no watcher: a path unit that was
# never installed). alpha confirms gamma down, finds its config valid and
# drops gamma's revive flag; then gamma wakes with the same incarnation.
# The revive must end within revive_verify as `revive_unconfirmed` (it
# answers, but did not restart on its flag): never stuck in `verifying`,
# no revive_ok and no revive_failed escalation for a peer that is up.
set -euo pipefail
. "$(dirname "$0")/revive_lib.sh"
rv_setup "$@"

RV_SSH=gamma rv_mesh alpha beta gamma
rv_guard app gamma
rv_sshd_start gamma
rv_start_all
wait_until 10 settled || fail "mesh did not come up"

p=$(rv_pid gamma)
kill -STOP "$p"
log "gamma frozen (SIGSTOP $p); nothing on gamma watches its flags"
wait_until 20 ev_has alpha flag_dropped gamma || fail "alpha dropped no flag for gamma"
[ -e "$(rv_revive_flag gamma)" ] || fail "gamma's revive flag is not there"
kill -CONT "$p"
wait_until 10 all_alive || fail "gamma not alive everywhere after SIGCONT"
status alpha
[ "$(jget "$ST" -d none acting.gamma)" = none ] || fail "alpha still acts for gamma"
# revive_verify is 10 s from the flags
wait_until 15 ev_has alpha revive_unconfirmed gamma ||
    fail "the revive did not end as revive_unconfirmed"
for t in revive_ok revive_failed; do
	[ "$(ev_count alpha $t gamma)" -eq 0 ] || fail "alpha logged $t for gamma"
done
[ "$(rv_escalations alpha revive_failed gamma)" -eq 0 ] || fail "alpha escalated"
[ "$(jget "$(pw_cli alpha status --json)" -d none peers.gamma.state)" = alive ] ||
    fail "gamma is not alive at alpha"
log "$(rv_ev alpha type detail | awk -F'\t' '$1 == "revive_unconfirmed" {print $2}')"
rv_pass
