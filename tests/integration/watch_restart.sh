#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# watch_restart: the local watch keeps a real HTTP service (pwsvc.py) up.
# Killed -9 -> down after failures_before_restart probes -> restarted ->
# up, within interval x failures + restart time + start_grace. Accepting
# connections but never answering -> probe timeouts -> restarted. Flapping
# between 200 and 503 -> never restarted (hysteresis). SIGHUP adds and
# removes a service without disturbing the other. /metrics with services
# stays promtool-clean. (loopback)
. "$(dirname "$0")/lib.sh"
pw_setup "$@"
mesh_loopback alpha beta
. "$(dirname "$0")/watch_lib.sh"
A=${ADDR[alpha]}
ADDR_PORT=$A:18080


svc_pid() {
	cat "$SVC/pid" 2>/dev/null
}
svc_starts() {
	wc -l <"$SVC/starts" 2>/dev/null | tr -d ' '
}

cat >>"$T/peers.conf" <<EOF
# timeout 450 ms: while web flaps, one 200 answered later than the
# timeout sits between two 503s, two failures in a row, and a restart;
# pwsvc.py on a loaded machine has taken over 250 ms to answer
[service web@alpha]
probe = http://$ADDR_PORT/health
interval = 500ms
timeout = 450ms
failures_before_restart = 2
successes_before_up = 2
start_grace = 1s
restart = python3 $PWSVC restart $SVC $ADDR_PORT
restart_timeout = 5s

EOF
python3 "$PWSVC" start "$SVC" "$ADDR_PORT"
wait_until 5 test -s "$SVC/pid" || fail "pwsvc did not start"
start_all
wait_until 10 sv_is web state up || fail "web never reported up: $(sv web detail)"
log "web up: $(sv web detail)"

# 1. kill -9: down, restarted, up again
old=$(svc_pid)
pw_now
t0=$NOW_MS
kill -KILL "$old"
wait_until 5 sv_is web state down || fail "web not down after kill -9"
# interval 0.3 s x 2 failures + restart + 1 s grace + 2 good probes: ~3 s
wait_until 8 sv_is web state up || fail "web not back up: $(sv web detail)"
pw_now
log "kill -9 -> up again in $((NOW_MS - t0)) ms"
[ "$(svc_pid)" != "$old" ] || fail "the service was not restarted"
[ "$(ev_count alpha service_restart)" -eq 1 ] ||
    fail "want one restart, got $(ev_count alpha service_restart)"
ev_has alpha service_restarted || fail "no service_restarted event"
ev_has alpha service_down || fail "no service_down event"
[ "$(sv web breaker)" = closed ] || fail "breaker $(sv web breaker)"

# 2. accepts connections, never answers: probe timeouts, restarted
old=$(svc_pid)
echo hang >"$SVC/mode"
wait_until 8 sv_is web state down || fail "a hanging web was not seen down"
# the reason it went down is in its service_down event (the status shows
# the latest probe's outcome, which a restart under way may have changed)
down_reason() {
	"$PWJSON" -l type detail <"$(events_file alpha)" |
	    awk -F'\t' '$1 == "service_down" { d = $2 } END { print d }'
}
down_reason | grep -qi 'timeout\|timed out' ||
    fail "want a timeout as the reason, got: $(down_reason)"
wait_until 8 sv_is web state up || fail "web not back after the hang"
[ "$(svc_pid)" != "$old" ] || fail "the hanging service was not restarted"
[ "$(ev_count alpha service_restart)" -eq 2 ] ||
    fail "want 2 restarts, got $(ev_count alpha service_restart)"

# 3. flapping 200/503: never two failures in a row, never restarted
starts=$(svc_starts)
echo flap >"$SVC/mode"
hold 4 sv_is web state up || fail "a flapping web left 'up'"
[ "$(svc_starts)" = "$starts" ] || fail "a flapping web was restarted"
grep -q flap "$SVC/hits" || fail "the probes did not reach the flapping web"
echo ok >"$SVC/mode"

# 4. SIGHUP: a second service joins, web keeps its counters; then leaves
restarts=$(sv web restarts)
cat >>"$T/peers.conf" <<EOF
[service port@alpha]
probe = tcp://$ADDR_PORT
interval = 300ms
timeout = 250ms

EOF
kill -HUP "${PID[alpha]}"
wait_until 5 sv_is port state up || fail "the added service was not watched"
[ "$(sv web restarts)" = "$restarts" ] || fail "reload reset web's counters"
sv_is web state up || fail "reload disturbed web"
ev_has alpha service_watch_start || fail "no service_watch_start event"
# remove it again (the last section)
sed -i.bak '/^\[service port@alpha\]/,$d' "$T/peers.conf"
kill -HUP "${PID[alpha]}"
wait_until 5 eval '[ "$(sv port state)" = none ]' ||
    fail "a removed service is still watched"
ev_has alpha service_watch_stop || fail "no service_watch_stop event"
sv_is web state up || fail "removing port disturbed web"

# 5. /metrics with services: promtool-clean, the gauge says up
if command -v promtool >/dev/null 2>&1; then
	M=$(curl -fsS --max-time 2 "http://$A:17947/metrics") || fail "no /metrics"
	out=$(promtool check metrics <<<"$M" 2>&1) || fail "promtool: $out"
	[ -z "$out" ] || fail "promtool says: $out"
	grep -q '^peerwatch_service_up{service="web"} 1$' <<<"$M" ||
	    fail "peerwatch_service_up for web is not 1"
fi

# 6. the table under the peers
pw_cli alpha status | grep -Eq '^web +up +closed' ||
    fail "peerwatch status has no services table: $(pw_cli alpha status)"
stop_all_clean
pass
