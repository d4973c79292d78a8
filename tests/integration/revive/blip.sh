#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# revive/blip (issue 12): gamma's link is gone for a few seconds and comes
# back. Everything to and from gamma's 127.214.K.3 is dropped with
# nftables (a table of this run's own, deleted on exit), so its heartbeats
# and its sshd are cut alike; alpha and beta confirm it down and alpha
# starts a revive, whose SSH connect hangs. The whole link is restored as
# soon as that revive has started (about 2 s after the cut). gamma is
# heard again with its old incarnation; the revive in flight is stopped
# (told by SIGUSR1, or answered stop when it asks before its first
# write): no flag written, no service restarted, no escalation, one
# `revive_aborted` with the reason at alpha, gamma alive everywhere.
#
# Why nftables and not SIGSTOP of gamma's daemon: a stopped daemon keeps
# its sshd answering (the revive would connect at once and race the
# abort), and a lost link is what a roaming laptop has. gamma's
# incarnation is unchanged in both, as it is here.
set -euo pipefail
. "$(dirname "$0")/revive_lib.sh"
rv_setup "$@"
[ "$PW_OS" = Linux ] || skip "nftables is Linux-only"
NFT=${NFT:-/usr/sbin/nft}
[ -x "$NFT" ] || skip "no $NFT"
TBL="${RUN}blip"

blip_cleanup() {
	local rc=$?
	trap '' INT TERM HUP PIPE # finish even when stopped (lib.sh)
	set +e
	"$NFT" delete table inet "$TBL" 2>/dev/null || true
	(exit "$rc")
	rv_cleanup
}
trap blip_cleanup EXIT

RV_SSH=gamma rv_mesh alpha beta gamma
rv_guard app gamma
rv_sshd_start gamma
rv_watch gamma
rv_start_all
wait_until 10 settled || fail "mesh did not come up"

gamma_pid=$(rv_pid gamma)
status gamma
inc=$(jget "$ST" incarnation)
app_before=$(rv_snapshot "$T/gamma/app")

g=${ADDR[gamma]}
"$NFT" -f - <<EOF || fail "nft refused the table $TBL"
table inet $TBL {
	chain out {
		type filter hook output priority 0; policy accept;
		ip saddr $g drop
		ip daddr $g drop
	}
}
EOF
pw_now
t_cut=$NOW_MS
log "gamma's link cut ($g, nft table inet $TBL)"
wait_until 10 ev_has alpha revive_start gamma ||
    fail "alpha did not start a revive of gamma while its link was cut"
# The whole link comes back at once, heartbeats and SSH alike, while the
# revive's connect hangs: SSH may connect before gamma's next heartbeat
# reaches alpha. The worker asks alpha right before its first write;
# alpha answers after one and a half heartbeat periods, by when it has
# heard gamma again: stop.
"$NFT" delete table inet "$TBL" || fail "nft table $TBL not deleted"
pw_now
log "gamma's link back (heartbeats and SSH at once) after $((NOW_MS - t_cut)) ms"
heard_again() { [ "$(jget "$(pw_cli alpha status --json)" -d none peers.gamma.state)" = alive ]; }
wait_until 10 heard_again || fail "alpha did not hear gamma again"

wait_until 10 ev_has alpha revive_aborted gamma ||
    fail "alpha did not abort its revive of gamma"
reason=$(rv_ev alpha type peer detail |
    awk -F'\t' '$1 == "revive_aborted" && $2 == "gamma" { print $3 }')
log "alpha: revive_aborted: $reason"
[[ "$reason" == *"heard again"* ]] || fail "reason does not say heard again"
[[ "$reason" == *"before any flag was written"* ]] ||
    fail "reason does not say no flag was written"
wait_until 10 all_alive || fail "gamma not alive again everywhere"

# a few seconds more: a late worker result must still write nothing
quiet() {
	[ ! -s "$T/gamma/flags.log" ] && [ "$(rv_pid gamma)" = "$gamma_pid" ] &&
	    ! pw_gone "$gamma_pid"
}
hold 4 quiet || fail "gamma was flagged or restarted: $(cat "$T/gamma/flags.log")"
rv_unchanged "$T/gamma/app" "$app_before" || fail "gamma's app files changed"
status gamma
[ "$(jget "$ST" incarnation)" = "$inc" ] || fail "gamma's incarnation changed"
for n in alpha beta gamma; do
	for e in escalation flag_dropped config_restored revive_failed revive_ok; do
		[ "$(ev_count "$n" "$e")" -eq 0 ] || fail "$n logged $e"
	done
done
[ "$(ev_count alpha revive_aborted gamma)" -eq 1 ] ||
    fail "want one revive_aborted, have $(ev_count alpha revive_aborted gamma)"
rv_pass
