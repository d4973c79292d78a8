#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# watch_resources_hang: a disk reading that does not return (the hook
# PEERWATCH_TEST_SYSINFO_HANG, a stand-in for statvfs on a hung NFS
# mount) holds only the reader thread, never the loop. While it hangs,
# alpha answers `peerwatch status`, its heartbeats go on (beta never
# stops seeing it alive, alpha writes no self_stall), and after three
# intervals and at least 10 s one `resources_stuck` event and one warning
# name the disk; the figures turn unknown, /status and `peerwatch status`
# show what is stuck. A SIGHUP changing the disks
# while stuck is taken; once the hang ends the reading comes back
# (`resources_resumed`) and the new disk list is read at once. Stuck
# again, SIGTERM still stops alpha cleanly at once. (loopback)
. "$(dirname "$0")/lib.sh"
pw_setup "$@"

MESH_EXTRA="resource_interval = 200ms
disk = / /data
disk_warn = 85%
disk_critical = 95%
swap_warn = 1G" mesh_loopback alpha beta
HANG=$T/hang
cat >"$T/alpha.fig" <<EOF
swap_total 4294967296
swap_used 1024
disk / 1000 500
disk /data 1000 900
disk /srv 1000 700
EOF

res() {
	status alpha || return 1
	jget "$ST" -d none "resources.$1"
}
res_is() {
	[ "$(res "$1")" = "$2" ]
}
# both see each other alive: heartbeats flow both ways
alive_both() {
	sees beta alive alpha && sees alpha alive beta
}
# stuck_seen N: polled while a reading hangs: responsive (or the test
# fails at once), and N resources_stuck events written
stuck_seen() {
	alive_both || fail "alpha or beta lost the other while a reading hung"
	[ "$(ev_count alpha resources_stuck)" = "$1" ]
}
resumed_seen() {
	ev_has alpha resources_resumed
}
no_stall() {
	[ "$(ev_count alpha self_stall)" = 0 ] ||
	    fail "alpha's loop stalled: $(grep self_stall "$(events_file alpha)")"
}
read_after() {
	res_is disk./data.used_pct 10 && res_is disk./srv.used_pct 30 &&
	    res_is swap.used 1024
}

start alpha env PEERWATCH_TEST_SYSINFO="$T/alpha.fig" \
    PEERWATCH_TEST_SYSINFO_HANG="$HANG"
start beta
wait_until 8 all_alive || fail "mesh did not come up"
wait_until 5 res_is disk./.used_pct 50 || fail "no disk reading: $ST"
grep -q 'readings wait while PEERWATCH_TEST_SYSINFO_HANG' "$T/alpha.log" ||
    fail "alpha does not say its readings may be held"

# --- a reading hangs: the loop goes on ------------------------------------
: >"$HANG"
pw_now
t0=$NOW_MS
# until it is stuck the last figures stand, and alpha stays responsive
# the reading is stuck 10 s after it began, which is after t0: until 7 s
# nothing may say so. Checked on every poll of the hold, not once after
# it: a slow run's last poll and the checks after it could reach 10 s.
not_yet_stuck() {
	! ev_has alpha resources_stuck ||
	    fail "stuck after $(($(elapsed_ms) - t0_rel)) ms, not 10 s"
	res_is disk./.used_pct 50 ||
	    fail "figures dropped before the reading was stuck: $ST"
	alive_both
}
t0_rel=$(elapsed_ms)
hold 7 not_yet_stuck || fail "alpha or beta lost the other while a reading hung"
wait_until 8 stuck_seen 1 || fail "no resources_stuck event"
pw_now
[ $((NOW_MS - t0)) -ge 9500 ] || fail "stuck after $((NOW_MS - t0)) ms, not 10 s"
grep -Eq 'resources: reading disk / has not returned for 1[0-9] s \(a hung file system\?\)' \
    "$T/alpha.log" || fail "no warning naming the stuck disk"
"$PWJSON" -l type reading <"$(events_file alpha)" |
    grep -qx $'resources_stuck\tdisk /' || fail "resources_stuck does not name disk /"
# unknown, not stale: no level, no figure, nothing in /metrics
res_is disk./.level unknown && res_is disk./data.level unknown &&
    res_is swap null || fail "stuck figures still shown: $(jget "$ST" resources)"
res_is stuck.reading "disk /" || fail "/status has no stuck reading: $(jget "$ST" resources)"
[ "$(res stuck.seconds)" -ge 10 ] || fail "stuck for $(res stuck.seconds) s"
out=$(pw_cli alpha status) || fail "peerwatch status (text) failed while stuck"
grep -Eq '^reading disk / stuck for 1[0-9] s \(a hung file system\?\)$' <<<"$out" ||
    fail "peerwatch status does not show the stuck reading: $out"
# said once, however long it stays stuck
hold 2 alive_both || fail "lost each other while stuck"
[ "$(ev_count alpha resources_stuck)" = 1 ] ||
    fail "resources_stuck $(ev_count alpha resources_stuck) times"
[ "$(grep -c 'has not returned for' "$T/alpha.log")" = 1 ] ||
    fail "the stuck reading was warned about more than once"

# a reload while stuck: / dropped, /srv added; taken at once
sed 's|^disk = / /data$|disk = /data /srv|' "$T/peers.conf" >"$T/peers.conf.new"
mv "$T/peers.conf.new" "$T/peers.conf"
kill -HUP "${PID[alpha]}"
reloaded() { ev_has alpha config_reloaded; }
wait_until 5 reloaded || fail "no reload while stuck"
res_is disk./ none && res_is disk./srv.level unknown ||
    fail "disks after the reload: $(jget "$ST" resources)"

# --- the hang ends: readings resume, the new disks read at once ----------
rm -f "$HANG"
wait_until 5 resumed_seen || fail "no resources_resumed event"
wait_until 5 read_after || fail "no readings after the hang: $(jget "$ST" resources)"
grep -Eq 'resources: reading disk / returned after [0-9]+ s' "$T/alpha.log" ||
    fail "no warning that the reading returned"
res_is disk./data.level ok && res_is swap.level ok && res_is stuck none ||
    fail "levels after the hang: $(jget "$ST" resources)"
no_stall
[ "$(ev_count beta peer_down alpha)" = 0 ] || fail "beta had alpha down"

# --- stuck again: SIGTERM does not wait for it -----------------------------
: >"$HANG"
# stuck 10 s after the next 200 ms reading begins: 20 s, not 14, to spare
# a loaded run's polls (each two status calls)
wait_until 20 stuck_seen 2 || fail "no second resources_stuck"
"$PWJSON" -l type reading <"$(events_file alpha)" |
    grep -qx $'resources_stuck\tdisk /data' ||
    fail "the second resources_stuck does not name disk /data"
no_stall
pw_now
t0=$NOW_MS
stop_all_clean
pw_now
[ $((NOW_MS - t0)) -lt 5000 ] || fail "stopping took $((NOW_MS - t0)) ms"
rm -f "$HANG"
pass
