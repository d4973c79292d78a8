#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# systemd_chain: the whole revive chain under a real systemd, as users run
# it. Three hosts, each a network namespace with its own systemd booted by
# tests/tools/sdbox on a small Debian root file system (built once, cached
# outside the clone). On each, peerwatch's units are installed and enabled
# the way the README says (`peerwatch deploy-units --linux -o
# /etc/systemd/system`, `systemctl enable --now ...`); gamma also runs its
# sshd and a guarded app (tests/tools/pwapp: Type=simple, Restart=always,
# StartLimitBurst=3) under its systemd, its config under /home.
#
#   0. peerwatch runs in deploy-units' sandbox: in its mount namespace /etc
#      and /home are read-only, state_dir, the flag directory and the
#      guarded config's directory (under /home) writable.
#
#   1. A flag written while its path unit watches fires the flag unit once,
#      which removes the flag and restarts the app; a second flag later
#      fires again.
#   2. kill -9 of alpha's peerwatch: systemd restarts it within RestartSec;
#      the mesh sees the new incarnation and nobody revives it.
#   3. gamma's peerwatch stops; its app's config breaks and the app
#      crash-loops until systemd gives up (start-limit-hit). The mesh
#      confirms gamma down, alpha restores the config over SFTP from .bak
#      and drops the flags; the path units fire, clear the start limit,
#      restart the app and peerwatch; the app answers again and gamma is
#      back with a new incarnation. Each step asserted from systemd's own
#      view (systemctl show, the journal), with its timing; the revive is
#      revive_ok only once gamma's local watch reports app@gamma up.
#   4. The same with a backup the app cannot start on: the app stays
#      failed, the revive ends as revive_incomplete, escalated once, never
#      revive_ok.
#
# Skips (77) where no systemd box can boot (not Linux, not root, no
# root file system to be had).
. "$(dirname "$0")/lib.sh"
pw_setup "$@" # PEERWATCH PWJSON PWFORGE PWAPP SDBOX
[ "$(uname -s)" = Linux ] || skip "needs Linux (systemd)"
[ "$(id -u)" -eq 0 ] || skip "needs root"
[ ${#PW_ARGS[@]} -eq 2 ] || fail "usage: ... PWAPP SDBOX"
PWAPP=$(readlink -f "${PW_ARGS[0]}")
SDBOX=$(readlink -f "${PW_ARGS[1]}")
for c in unshare nsenter flock ssh-keygen curl; do
	command -v $c >/dev/null 2>&1 || skip "needs $c"
done
BUILD=$(cd "$(dirname "$PW")/.." && pwd)
case $PWAPP in "$BUILD"/*) ;; *) fail "pwapp is not in the build tree $BUILD" ;; esac
log "root file system (debootstrap on first use, ~1 min)"
"$SDBOX" rootfs >"$T/rootfs.out" 2>&1 ||
    skip "no root file system for a systemd box: $(tail -n 2 "$T/rootfs.out")"

BOXES=()
sd_exit() {
	local rc=$? n
	trap - EXIT
	trap '' INT TERM HUP PIPE # finish even when stopped (lib.sh)
	set +e
	for n in ${BOXES[@]+"${BOXES[@]}"}; do
		sd "$n" journalctl --no-pager -o short-precise >"$T/$n.log" 2>&1
		"$SDBOX" down "$T/box-$n"
	done
	(exit $rc)
	pw_cleanup
}
trap sd_exit EXIT

# sd NAME CMD...: run CMD inside NAME's box
sd() {
	local n=$1
	shift
	"$SDBOX" run "$T/box-$n" "$@"
}
# sdshow NAME UNIT PROP: one property as systemd sees it
sdshow() {
	sd "$1" systemctl show -p "$3" --value "$2"
}
# what lib.sh's helpers read: each host's daemon and event log in its box
status() {
	ST=$(sd "$1" "$PW" status --json 2>/dev/null) || return 1
	[ -n "$ST" ]
}
events_file() {
	echo "$T/box-$1/upper/etc/peerwatch/state/events.jsonl"
}
# journal lines of NAME matching a fixed string, counted
jcount() {
	sd "$1" journalctl --no-pager -o cat | grep -cF -- "$2" || true
}
# epoch ms of a `journalctl -o short-unix` line on stdin ("SECS.USECS ...")
unix_ms() {
	local line ts
	IFS= read -r line || return 1
	ts=${line%% *}
	[ "${ts%.*}" != "$ts" ] || return 1
	echo $((${ts%.*} * 1000 + 10#$(printf '%.3s' "${ts#*.}")))
}
# epoch ms of the last line of NAME's journal for UNIT with a fixed string
jms() {
	sd "$1" journalctl --no-pager -o short-unix -u "$2" | grep -F -- "$3" |
	    tail -n 1 | unix_ms
}
# epoch ms of the first event TYPE about PEER in NAME's log
evms() {
	local ts
	ts=$(grep -F "\"type\":\"$2\",\"peer\":\"$3\"" "$(events_file "$1")" |
	    head -n 1 | sed 's/.*"ts":"\([^"]*\)".*/\1/')
	[ -n "$ts" ] || return 1
	echo $(($(date -d "$ts" +%s%N) / 1000000))
}

# --- the three hosts ------------------------------------------------------

mesh_netns alpha beta gamma
GADDR=${ADDR[gamma]}
FLAGS=/var/lib/peerwatch/flags
# under /home: the sandbox's ProtectHome=read-only must leave its
# directory writable (ReadWritePaths)
APP=/home/app/app.json
ssh-keygen -q -t ed25519 -N '' -C peerwatch-client -f "$T/client"
ssh-keygen -q -t ed25519 -N '' -C gamma-host -f "$T/hostkey"
FPR=$(ssh-keygen -lf "$T/hostkey.pub" -E sha256 | awk '{print $2}')
# interval 1s, suspect_after following it (2 s), down_after 5 s: systemd's
# RestartSec=2 must bring a killed daemon back before the mesh calls it
# down, which is 5 s after its last heartbeat, so from 3.9 s after the
# kill (heartbeats 1 s +-10 %). The 4 s down_after derives from 1 s left
# an ASan daemon's start in the box under 0.9 s.
sed -i -e 's/^interval = .*/interval = 1s/' -e '/^suspect_after = /d' \
    -e 's/^down_after = .*/down_after = 5s/' -e 's|^\[mesh\]$|[mesh]\nssh_key = /etc/peerwatch/ssh_client\nssh_timeout = 5s\nrevive_verify = 15s|' \
    "$T/peers.conf"
awk -v a="$GADDR" -v f="$FPR" '
	{ print }
	/^\[peer gamma\]$/ { g = 1 }
	g && /^pubkey = / { print "ssh = root@" a ":22"; print "ssh_hostkey = " f; g = 0 }
' "$T/peers.conf" >"$T/peers.conf.new"
mv "$T/peers.conf.new" "$T/peers.conf"
cat >>"$T/peers.conf" <<EOF
[guard app@gamma]
file = $APP
require = server.port, server.tag
backups = {file}.bak
flag = $FLAGS/revive-app.flag
on_flag = systemctl restart app.service
service = app@gamma

[service app@gamma]
probe = http://$GADDR:8080/
interval = 500ms
timeout = 400ms
EOF
app_json() {
	printf '{"server": {"port": 8080, "tag": "%s"}}\n' "$1"
}

for n in "${NAMES[@]}"; do
	seed=$T/seed-$n
	mkdir -p "$seed/etc/peerwatch"
	cp "$T/peers.conf" "$seed/etc/peerwatch/peers.conf"
	cp "${ETC[$n]}/key" "$seed/etc/peerwatch/key"
	cp "$T/client" "$seed/etc/peerwatch/ssh_client"
	chmod 600 "$seed/etc/peerwatch/key" "$seed/etc/peerwatch/ssh_client"
done
seed=$T/seed-gamma
mkdir -p "$seed/etc/ssh" "$seed/root/.ssh" "$seed/home/app" "$seed/etc/systemd/system"
cp "$T/hostkey" "$seed/etc/ssh/ssh_host_ed25519_key"
cp "$T/hostkey.pub" "$seed/etc/ssh/ssh_host_ed25519_key.pub"
cp "$T/client.pub" "$seed/root/.ssh/authorized_keys"
chmod 700 "$seed/root/.ssh"
chmod 600 "$seed/root/.ssh/authorized_keys" "$seed/etc/ssh/ssh_host_ed25519_key"
app_json live >"$seed$APP"
app_json bak >"$seed$APP.bak"
cat >"$seed/etc/systemd/system/app.service" <<EOF
[Unit]
Description=the guarded app (pwapp)
StartLimitIntervalSec=60
StartLimitBurst=3

[Service]
Type=simple
ExecStart=$PWAPP $APP
Restart=always
RestartSec=100ms

[Install]
WantedBy=multi-user.target
EOF

for n in "${NAMES[@]}"; do
	"$SDBOX" up "$T/box-$n" --netns "${NS[$n]}" --bind "$BUILD" \
	    --seed "$T/seed-$n" >/dev/null || fail "$n: the systemd box did not boot"
	BOXES+=("$n")
	# what the README tells users, with the binary where this build has it
	sd "$n" "$PW" check-config >/dev/null || fail "$n: check-config refuses the config"
	sd "$n" "$PW" deploy-units --linux --bin "$PW" -o /etc/systemd/system \
	    >/dev/null || fail "$n: deploy-units failed"
	units="peerwatch.service peerwatch-revive.path"
	[ "$n" = gamma ] && units="$units peerwatch-flag-app.path app.service"
	sd "$n" systemctl daemon-reload
	sd "$n" systemctl enable --now $units >/dev/null 2>&1 ||
	    fail "$n: systemctl enable --now $units failed"
	log "$n: systemd box up, enabled $units"
done
wait_until 15 all_alive || fail "mesh did not come up under systemd"
# the sandbox deploy-units writes: in gamma's peerwatch's mount namespace
# /etc is read-only, state_dir, the flag dir and the guarded file's
# directory are writable
gpid=$(sdshow gamma peerwatch.service MainPID)
gstate=$(sd gamma "$PW" deploy-units --paths | awk -F'\t' '$1 == "state_dir" { print $2 }')
in_gamma_pw() { sd gamma nsenter -t "$gpid" -m -r -w sh -c "$1" 2>/dev/null; }
for d in /etc /home; do
	in_gamma_pw "touch $d/pw-sandbox-probe" && fail "gamma's sandboxed peerwatch could write $d"
done
for d in "$gstate" "$FLAGS" "$(dirname "$APP")"; do
	in_gamma_pw "touch '$d/.pw-sandbox-probe' && rm '$d/.pw-sandbox-probe'" ||
	    fail "gamma's sandboxed peerwatch cannot write $d"
done
log "gamma: peerwatch sandboxed (/etc, /home read-only; $gstate, $FLAGS, $(dirname "$APP") writable)"
[ "$(sdshow gamma ssh.service ActiveState)" = active ] || fail "gamma's sshd is not running"
# check-config stays quiet about units that clear the start limit
sd gamma "$PW" check-config 2>&1 | grep -q '^warning:' &&
    fail "check-config warns about deploy-units' own units: $(sd gamma "$PW" check-config 2>&1)"

# the app as a client on alpha sees it
app_up() {
	ip netns exec "${NS[alpha]}" curl -fsS --max-time 2 "http://$GADDR:8080/" \
	    2>/dev/null | grep -q "\"tag\": \"$1\""
}
app_invocation() { sdshow gamma app.service InvocationID; }
wait_until 10 app_up live || fail "gamma's app does not answer"

# --- 1. a flag fires its unit once; a later flag fires again --------------

fired() { jcount gamma "Finished peerwatch-flag-app.service"; }
fired_is() { [ "$(fired)" -eq "$1" ]; }
flag_gone() { sd gamma test ! -e "$FLAGS/revive-app.flag"; }
inv_changed() { [ "$(app_invocation)" != "$1" ] && app_up live; }
for i in 1 2; do
	inv=$(app_invocation)
	sd gamma sh -c "mkdir -p $FLAGS && echo '{\"by\": \"test\"}' >$FLAGS/revive-app.flag"
	wait_until 5 inv_changed "$inv" || fail "flag $i: the app was not restarted"
	wait_until 3 flag_gone || fail "flag $i: the unit did not remove the flag"
	hold 1 fired_is "$i" || fail "flag $i: the flag unit ran $(fired) times in all"
	log "flag $i: fired once, flag removed, app restarted"
done

# --- 2. kill -9 peerwatch: systemd brings it back before the mesh acts ----

inc=$(status alpha && jget "$ST" incarnation)
pid=$(sdshow alpha peerwatch.service MainPID)
pw_now
t0=$NOW_MS
sd alpha kill -KILL "$pid"
back() {
	local p
	p=$(sdshow alpha peerwatch.service MainPID)
	[ "$p" != 0 ] && [ "$p" != "$pid" ] &&
	    [ "$(sdshow alpha peerwatch.service ActiveState)" = active ]
}
wait_until 10 back || fail "systemd did not restart alpha's peerwatch"
pw_now
log "kill -9 alpha's peerwatch -> active again under systemd in $((NOW_MS - t0)) ms"
restarted_seen() {
	ev_has beta peer_restarted alpha && ev_has gamma peer_restarted alpha
}
wait_until 10 restarted_seen || fail "the mesh did not see alpha's new incarnation"
wait_until 5 all_alive || fail "alpha not alive everywhere after its restart"
for n in beta gamma; do
	for t in peer_confirmed_down acting revive_start; do
		[ "$(ev_count $n $t alpha)" -eq 0 ] || fail "$n: $t for alpha, though systemd was faster"
	done
done
status alpha
[ "$(jget "$ST" incarnation)" -gt "$inc" ] || fail "alpha's incarnation did not grow"
[ "$(sdshow alpha peerwatch.service NRestarts)" -ge 1 ] || fail "NRestarts of alpha's peerwatch is 0"

# --- 3. the chain: crash loop, start limit, revive, back ------------------

sd gamma systemctl stop peerwatch.service
pw_now
t_stop=$NOW_MS
old_inc=$(jget "$(sd alpha "$PW" status --json)" peers.gamma.incarnation)
sd gamma sh -c "printf '{\"server\": {\"port\": 80 <<broken>>\n' >$APP"
sd gamma systemctl reset-failed app.service
sd gamma systemctl restart app.service
# systemd gave up: failed, with its start-limit message (systemd 252
# leaves Result=exit-code when the limit stops an automatic restart)
limit_hit() {
	[ "$(sdshow gamma app.service ActiveState)" = failed ] &&
	    [ "$(jcount gamma "app.service: Start request repeated too quickly")" -ge 1 ]
}
wait_until 10 limit_hit || fail "the app did not crash-loop into its start limit: $(sdshow gamma app.service ActiveState)/$(sdshow gamma app.service Result)"
app_up live && fail "the broken app answers"
# what a plain `systemctl restart app` in a flag unit would meet: refused
sd gamma systemctl start app.service 2>/dev/null &&
    fail "systemd started the app although it hit its start limit"
[ "$(sdshow gamma app.service NRestarts)" -ge 1 ] || fail "the app was not restarted by systemd before its limit"
log "gamma: peerwatch stopped, app crash-looped into start-limit-hit"
pw_now
t_down=$NOW_MS

revive_ok_names_app() {
	grep -F '"type":"revive_ok","peer":"gamma"' "$(events_file alpha)" |
	    grep -q 'app@gamma up'
}
revived() {
	revive_ok_names_app && app_up bak &&
	    [ "$(sdshow gamma app.service ActiveState)" = active ] &&
	    [ "$(sdshow gamma peerwatch.service ActiveState)" = active ]
}
wait_until 40 revived || fail "gamma's app or peerwatch not back: app $(sdshow gamma app.service ActiveState), peerwatch $(sdshow gamma peerwatch.service ActiveState)"
pw_now
t_back=$NOW_MS
wait_until 10 all_alive || fail "gamma not alive everywhere"
ev_has alpha config_restored gamma || fail "alpha logged no config_restored"
ev_has alpha flag_dropped gamma || fail "alpha logged no flag_dropped"
new_inc=$(jget "$(sd alpha "$PW" status --json)" peers.gamma.incarnation)
[ "$new_inc" -gt "$old_inc" ] || fail "gamma's incarnation $new_inc is not above $old_inc"
sd gamma sh -c "ls $APP.broken-*" >/dev/null || fail "no broken copy kept beside $APP"
[ "$(jcount gamma "Finished peerwatch-flag-app.service")" -eq 3 ] ||
    fail "the app's flag unit did not run exactly once for the revive"
[ "$(jcount gamma "Finished peerwatch-revive.service")" -eq 1 ] ||
    fail "the peerwatch revive unit did not run exactly once"
flag_gone || fail "the app's flag is still there"

# timings, from the event log and the journal (one clock: one machine)
t_flag=$(evms alpha flag_dropped gamma)
t_conf=$(evms alpha peer_confirmed_down gamma)
t_unit=$(jms gamma peerwatch-flag-app.service "Starting peerwatch-flag-app.service") || t_unit=
t_app=$(jms gamma app.service "Started app.service") || t_app=
[ -n "$t_flag" ] && [ -n "$t_unit" ] && [ -n "$t_app" ] || fail "timings missing from the logs"
log "timings: peerwatch stopped -> confirmed down $((t_conf - t_stop)) ms, -> flags dropped $((t_flag - t_stop)) ms"
log "timings: flag -> path unit $((t_unit - t_flag)) ms -> app active $((t_app - t_flag)) ms; start-limit-hit -> app answering $((t_back - t_down)) ms"

# --- 4. a restart that cannot succeed: revive_incomplete, never revive_ok --

# the backup is valid for the guard (server.port and server.tag are there)
# but the app refuses a port above 65535: restoring it cannot bring it up
sd gamma systemctl stop peerwatch.service
sd gamma sh -c "printf '{\"server\": {\"port\": 70000, \"tag\": \"bad\"}}\n' >$APP.bak"
sd gamma sh -c "printf '{\"server\": {\"port\": 80 <<broken>>\n' >$APP"
sd gamma systemctl reset-failed app.service
sd gamma systemctl restart app.service 2>/dev/null || true
limit_hit_again() {
	[ "$(sdshow gamma app.service ActiveState)" = failed ] &&
	    [ "$(jcount gamma "app.service: Start request repeated too quickly")" -ge 2 ]
}
wait_until 10 limit_hit_again || fail "part 4: the app did not crash-loop into its start limit"
log "part 4: gamma's peerwatch stopped, app failed, its backup cannot start it"
wait_until 60 ev_has alpha revive_incomplete gamma ||
    fail "part 4: no revive_incomplete (app $(sdshow gamma app.service ActiveState))"
[ "$(ev_count alpha revive_ok gamma)" -eq 1 ] || fail "part 4 ended as revive_ok"
[ "$(sdshow gamma peerwatch.service ActiveState)" = active ] ||
    fail "part 4: gamma's peerwatch is not back"
incomplete_escalations() {
	"$PWJSON" -l type kind peer <"$(events_file alpha)" | awk -F'\t' \
	    '$1 == "escalation" && $2 == "revive_incomplete" && $3 == "gamma" {n++} END {print n+0}'
}
wait_until 5 eval '[ "$(incomplete_escalations)" -ge 1 ]' || fail "revive_incomplete was not escalated"
hold 3 eval '[ "$(incomplete_escalations)" -eq 1 ]' || fail "revive_incomplete escalated more than once"
log "part 4: $(grep -F '"type":"revive_incomplete"' "$(events_file alpha)" | sed 's/.*"detail":"\([^"]*\)".*/\1/')"

# no sanitizer report in any box's journal
for n in "${NAMES[@]}"; do
	if sd "$n" journalctl --no-pager -o cat | grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' >&2; then
		fail "$n: sanitizer report in its journal"
	fi
done
pass
