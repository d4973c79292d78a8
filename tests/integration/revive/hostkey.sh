#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# revive/hostkey (scenario 4): gamma's sshd comes back with a different host
# key than the one pinned by ssh_hostkey. gamma dies with a corrupt config:
# alpha must refuse the host (escalation kind hostkey, revive_failed reason
# hostkey), write nothing at all (file and directory untouched, no flag),
# and keep refusing on its retries. With the right key back, the next retry
# revives gamma.
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
rv_sshd_start gamma other
rv_kill9 gamma
rv_corrupt "$f"
before=$(rv_snapshot "$T/gamma/app")

wait_until 20 rv_escalations_ge alpha hostkey 1 gamma ||
    fail "alpha: no hostkey escalation for gamma"
wait_until 5 rv_incident_open alpha hostkey gamma ||
    fail "alpha's /status has no open hostkey incident for gamma"
reasons=$(rv_ev alpha type reason | awk -F'\t' '$1 == "revive_failed" { print $2 }' | sort -u)
[ "$reasons" = hostkey ] || fail "revive_failed reasons: $reasons"
# nothing was read or written, and a retry (after backoff) changes nothing
starts=$(ev_count alpha revive_start gamma)
wait_until 10 rv_ev_has_at_least alpha revive_start $((starts + 1)) gamma ||
    fail "alpha did not retry"
wait_until 10 rv_ev_has_at_least alpha revive_failed $((starts + 1)) gamma ||
    fail "alpha's retry did not fail"
hold 1 rv_unchanged "$T/gamma/app" "$before" || fail "gamma's files changed"
[ -z "$(ls -A "$T/gamma/flags")" ] || fail "flags dir not empty: $(ls -A "$T/gamma/flags")"
[ ! -s "$T/gamma/flags.log" ] || fail "the watcher saw flags: $(cat "$T/gamma/flags.log")"
for e in config_invalid config_restored flag_dropped revive_ok; do
	[ "$(ev_count alpha "$e" gamma)" -eq 0 ] || fail "alpha logged $e"
done
if grep -q "Accepted publickey" "$T/gamma/ssh/sshd.log"; then
	fail "alpha authenticated to the sshd with the wrong host key"
fi
[ "$(rv_escalations alpha hostkey gamma)" -eq 1 ] ||
    fail "want one hostkey escalation (an open incident is updated), have $(rv_escalations alpha hostkey gamma)"
log "refused $(ev_count alpha revive_failed gamma) times; nothing written"

# the pinned key back: the next retry revives gamma
old_pid=$(rv_pid gamma)
rv_sshd_stop gamma
rv_sshd_start gamma
wait_until 40 rv_restarted gamma "$old_pid" ||
    fail "gamma not revived after its right host key came back"
wait_until 15 ev_has alpha revive_ok gamma || fail "alpha: no revive_ok"
cmp -s "$f" "$f.bak" || fail "$f not restored from .bak"
wait_until 5 rv_no_incident alpha hostkey gamma || fail "hostkey incident not closed"
rv_pass
