#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# watch_resources: the disk and swap guards on injected figures
# (PEERWATCH_TEST_SYSINFO, rewritten by rename between readings).
# Disk above disk_warn -> one disk_warn event and disk_cleanup ran once;
# hovering at the line -> no new crossing; above disk_critical -> an
# incident in /status; back down -> disk_ok and the incident closed; a
# second crossing -> the cleanup once more. A bad line in the file ->
# one warning naming file:line, the rest still used. SIGHUP dropping a
# disk closes its incident; bringing it back starts it afresh. Swap above swap_warn
# with three models loaded in a fake Ollama -> unloaded heaviest first
# (keep_alive 0), the last one kept; with one model loaded -> nothing
# unloaded. Swap above swap_critical -> incident, closed back below warn.
# beta, without the hook, shows this host's own / and swap as statvfs and
# /proc/meminfo have them. /metrics stays promtool-clean. This host in
# maintenance: crossings logged, but no cleanup, no unload, no incident
# until it ends. `run --once` reads the guards once, acts on nothing and
# exits 1 at a critical level. (loopback)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ollama_lib.sh"
pw_setup "$@"
command -v python3 >/dev/null 2>&1 || skip "needs python3 (fake Ollama)"
command -v curl >/dev/null 2>&1 || skip "needs curl"

G=1073741824 # 1 GiB
MESH_EXTRA="resource_interval = 200ms
disk = / /data
disk_warn = 85%
disk_critical = 95%
disk_cleanup = sh -c 'echo \$PEERWATCH_NAME >>$T/cleanups'
swap_warn = 1G
swap_critical = 75%" mesh_loopback alpha beta
A=${ADDR[alpha]}
# alpha's own Ollama (a fake); beta has none
awk -v l="ollama_listen = $A:17948" -v add="ollama = http://$A:$OPORT" \
    '{ print } $0 == l { print add }' "$T/peers.conf" >"$T/peers.conf.new"
mv "$T/peers.conf.new" "$T/peers.conf"

# figs FILE SWAP_USED ROOT_AVAIL [EXTRA LINE]: swap of 4 GiB, / and
# /data of 1000 bytes each (so avail 130 is 87 % used); atomic
figs() {
	{
		echo "# injected by watch_resources"
		echo "swap_total $((4 * G))"
		echo "swap_used $2"
		echo "disk / 1000 $3"
		echo "disk /data 1000 900"
		[ -z "${4:-}" ] || echo "$4"
	} >"$1.tmp"
	mv "$1.tmp" "$1"
}
# res PATH: alpha's /status resources.PATH
res() {
	status alpha || return 1
	jget "$ST" -d none "resources.$1"
}
res_is() {
	[ "$(res "$1")" = "$2" ]
}
read_root() {
	res_is disk./.used_pct "$1" && res_is swap.used "$SWAP"
}
# root PCT: write / at PCT % used and wait until alpha has read it
root() {
	figs "$T/alpha.fig" "$SWAP" $((1000 - $1 * 10)) "${EXTRA:-}"
	wait_until 5 read_root "$1" ||
	    fail "alpha never read / at $1 %, swap $SWAP: $ST"
}
# alpha's cleanups (beta reads this host's real figures and may run its own)
cleanups() {
	if [ -f "$T/cleanups" ]; then
		grep -c '^alpha$' "$T/cleanups" || true
	else
		echo 0
	fi
}
# polled: wait_until evaluates its arguments once, so no $(...) in them
cleanups_are() {
	[ "$(cleanups)" = "$1" ]
}
ev_is() { # TYPE COUNT: alpha has written COUNT events of TYPE
	[ "$(ev_count alpha "$1")" = "$2" ]
}
# has_incident KIND [SUBJECT]: one is open in alpha's /status
has_incident() {
	local i
	status alpha || return 1
	for i in 0 1 2 3 4 5 6 7; do
		[ "$(jget "$ST" -d none "incidents.$i.kind")" = "$1" ] ||
		    continue
		[ -z "${2:-}" ] ||
		    [ "$(jget "$ST" -d none "incidents.$i.subject")" = "$2" ] ||
		    continue
		return 0
	done
	return 1
}
open_incident() {
	has_incident "$1" "$2"
}
no_incident() {
	status alpha && ! has_incident "$1"
}
# the results of alpha's ollama_unload events, one a line
unload_results() {
	"$PWJSON" -l type result model <"$(events_file alpha)" |
	    awk -F'\t' '$1 == "ollama_unload" { print $2 " " $3 }'
}
# what the fake was asked to unload: "MODEL KEEP_ALIVE", one a line
fake_unloads() {
	curl -sf "http://$A:$OPORT/_fake" | python3 -c '
import json, sys
for u in json.load(sys.stdin)["unloads"]:
    print(u["model"], u["keep_alive"])'
}

SWAP=0
figs "$T/alpha.fig" 0 500
fake_start alpha tiny,big,huge tiny,big,huge
fake_set alpha '{"sizes":{"tiny":1000,"big":5000,"huge":9000}}'
# alpha's figures injected through its environment; beta reads this host's
start alpha env PEERWATCH_TEST_SYSINFO="$T/alpha.fig"
start beta
wait_until 8 all_alive || fail "mesh did not come up"
wait_until 5 read_root 50 || fail "no disk reading: $ST"
[ "$(res disk./.level)" = ok ] && [ "$(res swap.level)" = ok ] &&
    [ "$(res swap.total)" = $((4 * G)) ] ||
    fail "calm figures not shown as ok: $ST"
grep -q 'figures from PEERWATCH_TEST_SYSINFO' "$T/alpha.log" ||
    fail "alpha does not say its figures are injected"

# --- disk: warn once per crossing, hysteresis, critical, recovery ------------
root 87
wait_until 5 ev_has alpha disk_warn || fail "no disk_warn at 87 %"
wait_until 5 ev_has alpha disk_cleanup || fail "no disk_cleanup event"
[ "$(cleanups)" = 1 ] || fail "cleanup ran $(cleanups) times, want 1"
[ "$(res disk./.level)" = warn ] || fail "/ at 87 %: level $(res disk./.level)"
"$PWJSON" -l type exit_code <"$(events_file alpha)" | grep -qx $'disk_cleanup\t0' ||
    fail "disk_cleanup event without exit_code 0"
# hovering around 85: 84 keeps warn (2-point margin), no new crossing
for p in 85 86 84 86 85; do
	root "$p"
done
[ "$(ev_count alpha disk_warn)" = 1 ] && [ "$(cleanups)" = 1 ] ||
    fail "hovering at the line: $(ev_count alpha disk_warn) disk_warn, $(cleanups) cleanups"
[ "$(res disk./.level)" = warn ] || fail "left warn at 85 %"
root 97
wait_until 5 open_incident disk_critical '/@alpha' ||
    fail "no disk_critical incident at 97 %: $ST"
[ "$(res disk./.level)" = critical ] || fail "level at 97 %: $(res disk./.level)"
root 94 # critical until 93
[ "$(res disk./.level)" = critical ] || fail "left critical at 94 %"
root 90 # warn again, the incident stays open until below warn
[ "$(res disk./.level)" = warn ] && open_incident disk_critical '/@alpha' ||
    fail "at 90 %: level $(res disk./.level), incident closed too early"
# SIGHUP with / no longer watched: its incident closes, /data keeps its
# reading; / back in the config starts afresh from its next reading
root 97
sed 's|^disk = / /data$|disk = /data|' "$T/peers.conf" >"$T/peers.conf.new"
cp "$T/peers.conf" "$T/peers.conf.orig"
mv "$T/peers.conf.new" "$T/peers.conf"
kill -HUP "${PID[alpha]}"
wait_until 5 no_incident disk_critical || fail "dropped disk kept its incident"
[ "$(res disk./)" = none ] && [ "$(res disk./data.used_pct)" = 10 ] ||
    fail "after dropping /: $(jget "$ST" resources)"
grep -q 'no longer watched' "$(events_file alpha)" ||
    fail "incident_closed does not say why"
mv "$T/peers.conf.orig" "$T/peers.conf"
kill -HUP "${PID[alpha]}"
wait_until 5 ev_is config_reloaded 2 || fail "second reload"
wait_until 5 open_incident disk_critical '/@alpha' ||
    fail "/ back in the config at 97 %: no incident"
wait_until 5 cleanups_are 2 || fail "/ back: $(cleanups) cleanups"
[ "$(ev_count alpha disk_warn)" = 2 ] ||
    fail "/ back: $(ev_count alpha disk_warn) disk_warn"
root 90
root 50
wait_until 5 no_incident disk_critical || fail "incident not closed at 50 %"
[ "$(res disk./.level)" = ok ] || fail "level at 50 %: $(res disk./.level)"
ev_has alpha disk_ok || fail "no disk_ok event"
ev_has alpha incident_closed || fail "no incident_closed event"
[ "$(ev_count alpha disk_warn)" = 2 ] && [ "$(cleanups)" = 2 ] ||
    fail "critical and back: $(ev_count alpha disk_warn) disk_warn, $(cleanups) cleanups"
# a new crossing: the cleanup once more
root 88
wait_until 5 cleanups_are 3 || fail "new crossing: $(cleanups) cleanups"
[ "$(ev_count alpha disk_warn)" = 3 ] || fail "new crossing: $(ev_count alpha disk_warn) disk_warn"
root 50
[ "$(res disk./data.used_pct)" = 10 ] || fail "/data: $(res disk./data)"
# beta's figures are this host's own: / as statvfs has it (+-1 point, it
# moves), swap as /proc/meminfo has it
beta_root() {
	local want got
	status beta || return 1
	got=$(jget "$ST" -d none resources.disk./.used_pct)
	want=$(python3 -c 'import os
s = os.statvfs("/")
print(-(-(s.f_blocks - s.f_bavail) * 100 // s.f_blocks))')
	[ "$got" != none ] && [ $((got - want)) -le 1 ] && [ $((want - got)) -le 1 ]
}
wait_until 5 beta_root || fail "beta's real / figure: $(jget "$ST" resources)"
if [ -r /proc/meminfo ]; then
	want=$(awk '$1 == "SwapTotal:" { print $2 * 1024 }' /proc/meminfo)
	[ "$(jget "$ST" resources.swap.total)" = "$want" ] ||
	    fail "beta's real swap total: $(jget "$ST" resources.swap), /proc/meminfo $want"
fi
grep -q 'figures from PEERWATCH_TEST_SYSINFO' "$T/beta.log" &&
    fail "beta says its figures are injected"

# --- a bad line: one warning with file:line, the rest used -----------------
EXTRA="disk /data 5 6"
root 60
root 61
root 62
n=$(grep -c "alpha.fig:6: total must be more than 0" "$T/alpha.log" || true)
[ "$n" = 1 ] || fail "bad line warned $n times, want once"
grep -q 'disk /data 5 6' "$T/alpha.log" && fail "the bad line's text was logged"
EXTRA=
root 50

# --- swap: heaviest first, never the last ---------------------------------
SWAP=$((2 * G)) # over 1G, under 75 %
root 50
wait_until 5 ev_has alpha swap_warn || fail "no swap_warn at 2 GiB"
kept() {
	unload_results | grep -q '^kept '
}
wait_until 10 kept || fail "the last model was never kept: $(unload_results)"
got=$(fake_unloads | tr '\n' ' ')
[ "$got" = "huge:latest 0 big:latest 0 " ] ||
    fail "unloads: '$got', want huge then big, keep_alive 0"
[ "$(unload_results | tr '\n' ' ')" = "ok huge:latest ok big:latest kept tiny:latest " ] ||
    fail "ollama_unload events: $(unload_results)"
[ "$(res unloads)" = 2 ] || fail "/status unloads: $(res unloads)"
[ "$(ev_count alpha swap_warn)" = 1 ] || fail "swap_warn $(ev_count alpha swap_warn) times"
# critical and back
SWAP=$((3 * G + G / 2))
root 50
wait_until 5 open_incident swap_critical 'swap@alpha' ||
    fail "no swap_critical incident at 3.5 GiB: $ST"
SWAP=0
root 50
wait_until 5 no_incident swap_critical || fail "swap incident not closed"
ev_has alpha swap_ok || fail "no swap_ok event"

# one model loaded: a new crossing keeps it, nothing unloaded
fake_set alpha '{"loaded":["big"],"unloads":[]}'
SWAP=$((2 * G))
root 50
wait_until 5 ev_is swap_warn 2 || fail "no second swap_warn"
kept_big() {
	unload_results | grep -q '^kept big:latest$'
}
wait_until 5 kept_big || fail "big (alone) not kept: $(unload_results)"
root 51 # more readings: still nothing unloaded
root 50
[ -z "$(fake_unloads)" ] || fail "the only loaded model was unloaded: $(fake_unloads)"

# --- what operators see ---------------------------------------------------
out=$(pw_cli alpha status)
grep -Eq '^/ +50% +ok$' <<<"$out" && grep -Eq '^swap +50% +warn \(2 unloads\)$' <<<"$out" ||
    fail "peerwatch status has no resources table: $out"
M=$(curl -fsS --max-time 2 "http://$A:17947/metrics")
grep -q '^peerwatch_disk_used_percent{path="/"} 50$' <<<"$M" ||
    fail "no disk gauge in /metrics"
grep -q '^peerwatch_ollama_unloads_total{result="ok"} 2$' <<<"$M" ||
    fail "unloads not counted in /metrics"
if command -v promtool >/dev/null 2>&1; then
	out=$(promtool check metrics <<<"$M" 2>&1) ||
	    fail "promtool check metrics: $out"
	[ -z "$out" ] || fail "promtool says: $out"
else
	log "promtool not found: /metrics format not checked"
fi
# --- this host in maintenance: read and logged, hands off -----------------
SWAP=0
root 50
fake_set alpha '{"loaded":["tiny","big","huge"],"unloads":[]}'
pw_cli alpha maintenance on --for 60s >/dev/null || fail "maintenance on failed"
ncl=$(cleanups)
nwarn=$(ev_count alpha disk_warn)
nsw=$(ev_count alpha swap_warn)
SWAP=$((3 * G + G / 2))
root 97
wait_until 5 ev_is disk_warn $((nwarn + 1)) || fail "no disk_warn in maintenance"
wait_until 5 ev_is swap_warn $((nsw + 1)) || fail "no swap_warn in maintenance"
grep -q 'maintenance: no cleanup' "$(events_file alpha)" ||
    fail "the disk_warn event does not say the cleanup is held"
no_critical() {
	status alpha && ! has_incident disk_critical && ! has_incident swap_critical
}
hold 2 no_critical || fail "an incident in maintenance: $(jget "$ST" incidents)"
[ "$(cleanups)" = "$ncl" ] || fail "a cleanup ran in maintenance"
[ -z "$(fake_unloads)" ] || fail "a model was unloaded in maintenance: $(fake_unloads)"
pw_cli alpha maintenance off >/dev/null || fail "maintenance off failed"
wait_until 5 open_incident disk_critical '/@alpha' ||
    fail "no disk incident once maintenance ended"
wait_until 5 open_incident swap_critical 'swap@alpha' ||
    fail "no swap incident once maintenance ended"
wait_until 10 eval '[ -n "$(fake_unloads)" ]' || fail "no unload once maintenance ended"

# --- run --once: the guards read once, nothing done, exit 1 at critical ---
# (alpha's daemon reads the same figures; it may still unload, but it
# has crossed disk_warn already: a cleanup now would be the once run's)
ncl=$(cleanups)
rc=0
PEERWATCH_TEST_SYSINFO=$T/alpha.fig pw_cli alpha run --once --json \
    >"$T/once.json" 2>"$T/once.err" || rc=$?
[ "$rc" = 1 ] || fail "run --once at 97 %: exit $rc, want 1"
[ "$(jget "$(cat "$T/once.json")" resources.disk./.level)" = critical ] &&
    [ "$(jget "$(cat "$T/once.json")" resources.swap.level)" = critical ] &&
    [ "$(jget "$(cat "$T/once.json")" ok)" = false ] ||
    fail "run --once --json: $(cat "$T/once.json")"
SWAP=0
figs "$T/alpha.fig" 0 500
rc=0
PEERWATCH_TEST_SYSINFO=$T/alpha.fig pw_cli alpha run --once \
    >"$T/once.out" 2>"$T/once.err" || rc=$?
[ "$rc" = 0 ] || fail "run --once at 50 %: exit $rc: $(cat "$T/once.out" "$T/once.err")"
grep -Eq '^/ +50% +ok$' "$T/once.out" || fail "run --once table: $(cat "$T/once.out")"
[ "$(cleanups)" = "$ncl" ] || fail "run --once ran the disk cleanup"
stop_all_clean
pass
