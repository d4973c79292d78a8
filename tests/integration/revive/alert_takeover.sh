#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# revive/alert_takeover: exactly one sender per incident when the sender
# dies (issue 10). Five peers (two down still leave a quorum); gamma dies with its sshd down, so every
# revive fails and escalates (unreachable:gamma); alpha acts and sends.
#
#   sent:    the fake Bot API takes alpha's PROBLEM; the others hear alpha
#            report it delivered; kill -9 alpha; the next acting peer for
#            gamma (NEXT, whoever the mesh picks) fails too and raises the
#            same incident: no second PROBLEM (alert_dropped). sshd back:
#            NEXT revives gamma, exactly one RESOLVED, from NEXT.
#   pending: the fake answers 500, alpha's PROBLEM stays in its outbox;
#            kill -9 alpha, the fake answers ok again; NEXT sends the
#            PROBLEM once; alpha restarted drops its outbox message
#            (alert_dropped) instead of sending it: still one PROBLEM.
#            sshd back: exactly one RESOLVED.
set -euo pipefail
. "$(dirname "$0")/revive_lib.sh"
rv_setup "$@"
CASE=${PW_ARGS[0]:-sent}
. "$(dirname "$0")/../alert_lib.sh"
TG_GRACE=2s tg_setup "127.214.$K.200"

RV_MESH_EXTRA=$TG_MESH RV_SSH=gamma rv_mesh alpha beta gamma delta epsilon
rv_guard app gamma
rv_sshd_start gamma
rv_watch gamma
if [ "$CASE" = pending ]; then tg_start 500; else tg_start ok; fi
rv_start_all
wait_until 15 settled || fail "mesh did not come up"

ID=unreachable:gamma
# delivered_by NAME PEER: NAME's /status says PEER reported $ID delivered
delivered_by() {
	status "$1" || return 1
	[ "$(jget "$ST" -d none "alerts.delivered_by.$ID.$2")" = true ]
}
# acting_for NAME: who NAME's /status says acts for gamma (or none)
acting_for() {
	status "$1" || return 1
	jget "$ST" -d none peers.gamma.acting_peer
}
# next_acting: NEXT := the survivor acting for gamma once alpha is gone
next_acting() {
	NEXT=$(acting_for epsilon) || return 1
	case $NEXT in beta | delta | epsilon) ;; *) return 1 ;; esac
	[ "$(acting_for beta)" = "$NEXT" ]
}
problems() { tg_count "PROBLEM unreachable gamma"; }
one_problem() { [ "$(problems)" -eq 1 ]; }
all_texts() { tg_texts | tr '\0\n' '| '; }

rv_sshd_stop gamma
rv_kill9 gamma
wait_until 20 rv_escalations_ge alpha unreachable 1 gamma ||
    fail "alpha: no unreachable escalation for gamma"

if [ "$CASE" = sent ]; then
	wait_until 10 tg_has 1 "PROBLEM unreachable gamma" || fail "no PROBLEM"
	tg_has 1 "; from alpha)" || fail "not sent by alpha: $(all_texts)"
	# the mesh knows: the others heard alpha report it delivered
	for n in beta delta epsilon; do
		wait_until 10 delivered_by $n alpha ||
		    fail "$n never heard alpha report $ID delivered"
	done
	rv_kill9 alpha
	wait_until 20 next_acting || fail "nobody took gamma over from alpha"
	OBS=beta; [ "$NEXT" != beta ] || OBS=delta
	log "$NEXT acts for gamma now"
	wait_until 30 rv_escalations_ge "$NEXT" unreachable 1 gamma ||
	    fail "$NEXT: its revive of gamma did not escalate"
	# its PROBLEM is due alert_grace (2 s) after the escalation; there it
	# is dropped (alert_dropped), never queued. A PROBLEM queued instead
	# would reach the fake within the 1 s burst, two 200 ms ticks and the
	# send: hold 2 s from the decision (was a fixed 8 s from escalating)
	wait_until 10 ev_has "$NEXT" alert_dropped "$NEXT" ||
	    fail "$NEXT: no alert_dropped for the incident alpha delivered; $(problems) PROBLEMs: $(all_texts)"
	hold 2 one_problem || fail "$(problems) PROBLEMs: $(all_texts)"
	# NEXT owns it now: it reports it, and sends the recovery
	wait_until 10 delivered_by "$OBS" "$NEXT" || fail "$OBS: $NEXT does not report $ID"
	old_pid=$(rv_pid gamma)
	rv_sshd_start gamma
	wait_until 60 rv_restarted gamma "$old_pid" || fail "gamma not revived"
	wait_until 15 tg_has 1 "RESOLVED unreachable gamma" || fail "no RESOLVED"
	hold 4 eval '[ "$(tg_count "RESOLVED unreachable gamma")" -eq 1 ] && one_problem' ||
	    fail "messages after the revive: $(all_texts)"
	tg_texts | grep -zF "RESOLVED unreachable gamma" | grep -qzF "; from $NEXT)" ||
	    fail "RESOLVED not from $NEXT: $(all_texts)"
else
	wait_until 15 eval '[ "$(outbox_count alpha)" -ge 1 ] && [ "$(tg_attempts)" -ge 1 ]' ||
	    fail "alpha: no PROBLEM waiting in its outbox"
	[ "$(tg_total)" -eq 0 ] || fail "the fake took a message: $(all_texts)"
	rv_kill9 alpha
	tg_set '{"mode":"ok"}'
	wait_until 20 next_acting || fail "nobody took gamma over from alpha"
	OBS=beta; [ "$NEXT" != beta ] || OBS=delta
	log "$NEXT acts for gamma now"
	wait_until 40 tg_has 1 "PROBLEM unreachable gamma" || fail "$NEXT sent no PROBLEM"
	tg_has 1 "; from $NEXT)" || fail "not sent by $NEXT: $(all_texts)"
	wait_until 10 delivered_by "$OBS" "$NEXT" || fail "$OBS: $NEXT does not report $ID"
	[ "$(outbox_count alpha)" -ge 1 ] || fail "alpha's outbox emptied while it was dead"
	rv_start alpha
	# its outbox is decided within down_after + 4 s of its start
	wait_until 15 eval '[ "$(outbox_count alpha)" -eq 0 ]' ||
	    fail "alpha: outbox still holds $(outbox_count alpha)"
	hold 3 one_problem || fail "$(problems) PROBLEMs: $(all_texts)"
	ev_has alpha alert_dropped alpha ||
	    fail "alpha: its pending PROBLEM was not dropped"
	# alpha may act for gamma again (then both hold it: the first name
	# sends the recovery) or not: either way one RESOLVED
	old_pid=$(rv_pid gamma)
	rv_sshd_start gamma
	wait_until 60 rv_restarted gamma "$old_pid" || fail "gamma not revived"
	wait_until 15 tg_has 1 "RESOLVED unreachable gamma" || fail "no RESOLVED"
	hold 4 eval '[ "$(tg_count "RESOLVED unreachable gamma")" -eq 1 ] && one_problem' ||
	    fail "messages after the revive: $(all_texts)"
fi
log "messages: $(all_texts)"
tg_no_token_leak
rv_pass
