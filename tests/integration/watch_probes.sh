#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# watch_probes: an exec probe, a TCP probe and push beats (peerwatch beat
# NAME, and a beat file) each detect down and up; the services reach the
# other peer in the heartbeat; `peerwatch run --once` prints the checks and
# exits 1 while one is down, 0 when all are up. (loopback)
. "$(dirname "$0")/lib.sh"
pw_setup "$@"
mesh_loopback alpha beta
. "$(dirname "$0")/watch_lib.sh"
A=${ADDR[alpha]}

# beta's view of alpha's services, from alpha's heartbeats
remote_sv_is() {
	status beta || return 1
	[ "$(jget "$ST" -d none "peers.alpha.services.$1")" = "$2" ]
}

cat >>"$T/peers.conf" <<EOF
[service marker@alpha]
probe = exec:test -e $T/marker
interval = 300ms
timeout = 300ms

[service port@alpha]
probe = tcp://$A:18081
interval = 200ms
timeout = 150ms

[service worker@alpha]
probe = beat:1s

[service cron@alpha]
probe = beat:1s
beat_file = $T/cron.beat

EOF
touch "$T/marker" "$T/cron.beat"
python3 "$PWSVC" start "$SVC" "$A:18081"
wait_until 5 test -s "$SVC/pid" || fail "pwsvc did not start"
start_all

# worker: beats through the control socket, every 300 ms for a while
# beats every 0.3 s until $T/beats.stop (at most 60): a fixed number of
# them could run out before a slow run has seen worker and cron up
beat_loop() {
	local i
	for i in $(seq 1 60); do
		[ ! -e "$T/beats.stop" ] || break
		pw_cli alpha beat worker >/dev/null 2>&1 || true
		touch "$T/cron.beat"
		sleep 0.3
	done
}
beat_loop &
BEATER=$!
wait_until 6 sv_is marker state up || fail "exec probe never up: $(sv marker detail)"
wait_until 6 sv_is port state up || fail "tcp probe never up: $(sv port detail)"
wait_until 6 sv_is worker state up || fail "beats never up: $(sv worker detail)"
wait_until 6 sv_is cron state up || fail "beat file never up: $(sv cron detail)"
wait_until 6 remote_sv_is marker u || fail "beta does not see alpha's services"
touch "$T/beats.stop"
wait_until 5 eval '! kill -0 $BEATER 2>/dev/null'
wait "$BEATER" 2>/dev/null

# the beats stop: both beat services go down within beat + 2 checks
wait_until 5 sv_is worker state down || fail "worker not down without beats"
wait_until 5 sv_is cron state down || fail "cron not down without a fresh file"
sv worker detail | grep -q 'last beat' || fail "worker detail: $(sv worker detail)"
pw_cli alpha beat worker >/dev/null || fail "peerwatch beat failed"
# a beat is fresh for 1 s and up takes two probes of 333 ms: one beat
# leaves a window of well under a second to see it up; beat on while
# polling, as a live worker would
wait_until 3 eval 'pw_cli alpha beat worker >/dev/null && sv_is worker state up' ||
    fail "worker not up after a beat"
wait_until 3 eval 'touch "$T/cron.beat" && sv_is cron state up' ||
    fail "cron not up after touching its file"
pw_cli alpha beat marker 2>"$T/err" && fail "a beat for an exec-probed service was taken"
grep -q 'not watched by beats' "$T/err" || fail "unclear error: $(cat "$T/err")"

# exec: the file goes, the service is down with the exit code
rm -f "$T/marker"
wait_until 5 sv_is marker state down || fail "exec probe not down"
sv marker detail | grep -q 'exit 1' || fail "marker detail: $(sv marker detail)"
wait_until 5 remote_sv_is marker d || fail "beta does not hear that marker is down"

# run --once: the table, exit 1 while marker is down
set +e
out=$(pw_cli alpha run --once 2>&1)
rc=$?
set -e
[ "$rc" -eq 1 ] || fail "run --once exit $rc with a service down: $out"
grep -Eq '^marker +down' <<<"$out" || fail "run --once table: $out"
grep -Eq '^port +up' <<<"$out" || fail "run --once table: $out"
touch "$T/marker"
wait_until 5 sv_is marker state up || fail "exec probe not up again"

# tcp: the listener dies, down; back, up
kill -KILL "$(cat "$SVC/pid")"
wait_until 5 sv_is port state down || fail "tcp probe not down"
python3 "$PWSVC" start "$SVC" "$A:18081"
wait_until 5 sv_is port state up || fail "tcp probe not up again"

# run --once --json with everything up (the beats are the daemon's: the
# worker is not checked here, the beat file is)
touch "$T/cron.beat"
J=$(pw_cli alpha run --once --json) || fail "run --once exit $? with all up: $J"
[ "$(jget "$J" ok)" = true ] || fail "run --once --json: $J"
[ "$(jget "$J" services.port.state)" = up ] || fail "run --once --json: $J"
stop_all_clean
pass
