#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# revive/alert: escalation of a revive that cannot succeed, to a fake
# Telegram Bot API. gamma dies with its sshd down: the acting peer (alpha)
# sends exactly one escalation (unreachable gamma), beta and gamma send
# nothing, and no reminder follows within the test. With sshd back the
# revive works: one recovery message and the revive's report, from alpha.
# The token is in no file under the test's temp dir but the token file.
set -euo pipefail
. "$(dirname "$0")/revive_lib.sh"
rv_setup "$@"
. "$(dirname "$0")/../alert_lib.sh"
TG_GRACE=2s tg_setup "127.214.$K.200"

RV_MESH_EXTRA=$TG_MESH RV_SSH=gamma rv_mesh alpha beta gamma
rv_guard app gamma
rv_sshd_start gamma
rv_watch gamma
tg_start ok
rv_start_all
wait_until 10 settled || fail "mesh did not come up"

rv_sshd_stop gamma
rv_kill9 gamma
wait_until 20 rv_escalations_ge alpha unreachable 1 gamma ||
    fail "alpha: no unreachable escalation for gamma"
wait_until 10 tg_has 1 "PROBLEM unreachable gamma" || fail "no message for gamma"
# a few more failed attempts: still one message
wait_until 20 rv_ev_has_at_least alpha revive_failed 3 gamma ||
    fail "alpha's third attempt did not fail"
hold 3 eval '[ "$(tg_count PROBLEM)" -eq 1 ]' ||
    fail "$(tg_count PROBLEM) escalations: $(tg_texts | tr '\0' '|')"
texts=$(tg_texts | tr '\0' '\n')
grep -q 'PROBLEM unreachable gamma: .*' <<<"$texts" || fail "unclear message: $texts"
grep -q '; from alpha)' <<<"$texts" || fail "not sent by alpha: $texts"
for n in beta gamma; do
	! grep -q "from $n" <<<"$texts" || fail "$n sent a message: $texts"
	[ "$(ev_count "$n" alert_sent)" -eq 0 ] || fail "$n logged alert_sent"
done

# sshd back: revived; the incident closes with one recovery message
old_pid=$(rv_pid gamma)
rv_sshd_start gamma
wait_until 40 rv_restarted gamma "$old_pid" || fail "gamma not revived after sshd came back"
wait_until 15 ev_has alpha revive_ok gamma || fail "alpha: no revive_ok"
wait_until 10 tg_has 1 "RESOLVED unreachable gamma" || fail "no recovery message"
wait_until 10 tg_has 1 "REVIVED gamma" || fail "no revive report"
hold 3 eval '[ "$(tg_count "RESOLVED unreachable gamma")" -eq 1 ] && [ "$(tg_count PROBLEM)" -eq 1 ]' ||
    fail "messages after the revive: $(tg_texts | tr '\0' '|')"
log "messages: $(tg_texts | tr '\0\n' '| ')"
tg_no_token_leak
rv_pass
