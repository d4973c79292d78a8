# SPDX-License-Identifier: ISC
# revive_lib.sh: what the revive scenarios share on top of ../lib.sh.
# Sourced, never run. Loopback mode only: every host is 127.214.K.I (its
# own address, state dir, status port and, for the targets, its own real
# OpenSSH sshd on a free port with its own host key), all on this machine.
#
#   . "$(dirname "$0")/revive_lib.sh"
#   rv_setup "$@"                 # PEERWATCH PWJSON PWFORGE [args]; skips
#                                 # (77) unless root with /usr/sbin/sshd
#   RV_SSH="gamma" rv_mesh alpha beta gamma    # gamma gets ssh + sshd
#   rv_guard app gamma            # [guard app@gamma] + its files
#   rv_sshd_start gamma; rv_watch gamma; rv_start_all
#   wait_until 10 settled || fail "mesh did not come up"
#   ... rv_kill9 gamma; rv_corrupt "$(rv_file app gamma)" ...
#   rv_pass
#
# Per host NAME, under $T/NAME: key, state/ (events.jsonl, mesh store),
# flags/ (the revive flag revive-peerwatch.flag and GUARD.flag per guard),
# app/ (guarded files and their backups), ssh/ (host keys, sshd_config,
# sshd log), daemon.pids (every peerwatch PID of that host, the current one
# last), flags.log (what the flag watcher saw: "MS KIND FILE" per line) and
# seen/ (copies of the flag bodies), watcher.log (the watcher's stderr).
#
# The flag watcher stands in for systemd on the target: a bash loop that
# polls every 100 ms for as long as the test runs. When the host's revive
# flag appears it saves and removes it and restarts the host's
# `peerwatch run` (new PID, new incarnation); when a guard flag appears it
# saves and removes it.
#
# Cleanup: rv_cleanup (the EXIT trap) stops the watchers, then the daemons
# the watchers started (by PID, from daemon.pids), then hands over to
# lib.sh's pw_cleanup for everything in ALL_PIDS (the first daemons, the
# sshds). Nothing is killed by name.

. "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/lib.sh"

RV_SSHD=${SSHD:-/usr/sbin/sshd}
RV_PORT=17946           # heartbeats; status on +1, ollama on +2
declare -A SSHD_PORT=() SSHD_PID=() FPR=() WATCH_PID=()
RV_WATCHERS=()
RV_GUARDS=()            # "GUARD@TARGET" in config order
# short revive timings for the scenarios (RV_TIMINGS="" keeps the defaults)
RV_SHORT_TIMINGS="ssh_timeout = 3s
revive_verify = 10s
guard_interval = 2s
mesh_backup_interval = 2s"

# --- set-up ----------------------------------------------------------------

rv_setup() {
	[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root" >&2; exit 77; }
	[ -x "$RV_SSHD" ] || { echo "SKIP: no $RV_SSHD" >&2; exit 77; }
	command -v ssh-keygen >/dev/null 2>&1 ||
	    { echo "SKIP: no ssh-keygen" >&2; exit 77; }
	pw_setup "$@"
	trap rv_cleanup EXIT
	# every host on its own 127.214.K.I (macOS: only with lo0 aliases)
	need_loopback 127.214.$K 5
	# sshd's privilege-separation directory (macOS: /var/empty, there)
	[ "$PW_OS" = Darwin ] || mkdir -p /run/sshd
	mkdir -p "$T/ssh"
	ssh-keygen -q -t ed25519 -N '' -C "peerwatch-test-client" \
	    -f "$T/ssh/client"
	cp "$T/ssh/client.pub" "$T/ssh/authorized_keys"
}

# is something listening on ADDR:PORT?
rv_port_open() {
	(exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

rv_port_closed() {
	! rv_port_open "$@"
}

# a free TCP port on ADDR
rv_free_port() {
	local p i
	for i in $(seq 50); do
		p=$((20000 + RANDOM % 40000))
		rv_port_open "$1" "$p" || { echo "$p"; return 0; }
	done
	fail "no free port on $1"
}

# rv_mesh NAME...: one shared peers.conf (heredoc) with a [peer] section per
# NAME; the names in RV_SSH get an ssh line (root@ADDR:PORT), a pinned
# host key and a revive_flag of their own. RV_TIMINGS replaces the short
# revive timings (ssh_timeout 3s, revive_verify 10s, guard_interval 2s,
# mesh_backup_interval 2s); RV_MESH_EXTRA adds [mesh] lines.
rv_mesh() {
	local i=0 n line
	MODE=loopback
	NAMES=("$@")
	mkdir -p "$T/ssh"
	cat >"$T/peers.conf" <<EOF
# peerwatch integration test $PW_TEST_NAME (revive, loopback)
[mesh]
port = $RV_PORT
interval = 500ms
suspect_after = 1s
down_after = 2s
ssh_key = $T/ssh/client
${RV_TIMINGS-$RV_SHORT_TIMINGS}
${RV_MESH_EXTRA:-}

EOF
	for n in "$@"; do
		i=$((i + 1))
		IDX[$n]=$i
		ADDR[$n]=127.214.$K.$i
		ETC[$n]=$T/$n
		mkdir -p "$T/$n/flags" "$T/$n/app" "$T/$n/ssh" "$T/$n/seen"
		: >"$T/$n/daemon.pids"
		: >"$T/$n/flags.log"
		line=$("$PW" keygen -o "$T/$n/key" 2>/dev/null)
		cat >>"$T/peers.conf" <<EOF
[peer $n]
address = ${ADDR[$n]}
$line
key = $T/$n/key
state_dir = $T/$n/state
status_listen = ${ADDR[$n]}:$((RV_PORT + 1))
ollama_listen = ${ADDR[$n]}:$((RV_PORT + 2))
EOF
		if [[ " ${RV_SSH:-} " == *" $n "* ]]; then
			ssh-keygen -q -t ed25519 -N '' -C "$n-hostkey" \
			    -f "$T/$n/ssh/hostkey"
			ssh-keygen -q -t ed25519 -N '' -C "$n-otherkey" \
			    -f "$T/$n/ssh/otherkey"
			FPR[$n]=$(ssh-keygen -lf "$T/$n/ssh/hostkey.pub" \
			    -E sha256 | awk '{print $2}')
			SSHD_PORT[$n]=$(rv_free_port "${ADDR[$n]}")
			cat >>"$T/peers.conf" <<EOF
ssh = root@${ADDR[$n]}:${SSHD_PORT[$n]}
ssh_hostkey = ${FPR[$n]}
revive_flag = $(rv_revive_flag "$n")
EOF
		fi
		echo >>"$T/peers.conf"
	done
	log "loopback mesh: ${NAMES[*]} on 127.214.$K.1-$i; ssh on: ${RV_SSH:-none}"
}

rv_revive_flag() {
	echo "$T/$1/flags/revive-peerwatch.flag"
}

# the guarded file of GUARD@TARGET
rv_file() {
	echo "$T/$2/app/$1.json"
}

rv_guard_flag() {
	echo "$T/$2/flags/$1.flag"
}

# a valid config body; TAG makes it distinguishable
rv_valid_json() {
	printf '{"server": {"port": 8080, "tag": "%s"}, "name": "%s"}\n' \
	    "$1" "$1"
}

# rv_guard GUARD TARGET [BACKUPS]: a [guard GUARD@TARGET] requiring
# server.port, its file (valid, tag "live") and .bak/.bak.1 (valid, tags
# "bak" and "bak1"). BACKUPS default: {file}.bak {file}.bak.1 mesh
rv_guard() {
	local g=$1 t=$2 backups=${3:-"{file}.bak {file}.bak.1 mesh"} f
	f=$(rv_file "$g" "$t")
	rv_valid_json live >"$f"
	rv_valid_json bak >"$f.bak"
	rv_valid_json bak1 >"$f.bak.1"
	cat >>"$T/peers.conf" <<EOF
[guard $g@$t]
file = $f
require = server.port
backups = $backups
flag = $(rv_guard_flag "$g" "$t")
on_flag = true

EOF
	RV_GUARDS+=("$g@$t")
}

# invalid JSON, different every time
rv_corrupt() {
	printf '{"server": {"port": 80 <<corrupt %s>>\n' "$RANDOM$RANDOM" >"$1"
}

# --- sshd --------------------------------------------------------------------

# rv_sshd_start NAME [HOSTKEY]: NAME's sshd on its address and port, with
# HOSTKEY (default its pinned hostkey; "other" for the second one)
rv_sshd_start() {
	local n=$1 key=${2:-hostkey} d="$T/$1/ssh"
	cat >"$d/sshd_config" <<EOF
ListenAddress ${ADDR[$n]}
Port ${SSHD_PORT[$n]}
HostKey $d/${key/other/otherkey}
AuthorizedKeysFile $T/ssh/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin yes
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
PidFile $d/sshd.pid
LogLevel VERBOSE
EOF
	"$RV_SSHD" -t -f "$d/sshd_config" || fail "$n: sshd -t refused the config"
	"$RV_SSHD" -D -e -f "$d/sshd_config" 2>>"$d/sshd.log" &
	SSHD_PID[$n]=$!
	ALL_PIDS+=($!)
	wait_until 5 rv_port_open "${ADDR[$n]}" "${SSHD_PORT[$n]}" ||
	    fail "$n: sshd did not listen on ${ADDR[$n]}:${SSHD_PORT[$n]}"
	log "sshd of $n on ${ADDR[$n]}:${SSHD_PORT[$n]} (pid ${SSHD_PID[$n]}, key $key)"
}

rv_sshd_stop() {
	local n=$1 p=${SSHD_PID[$1]}
	kill -CONT "$p" 2>/dev/null || true
	kill -TERM "$p"
	wait_until 5 pw_gone "$p" || fail "$n: sshd $p survived SIGTERM"
	wait "$p" 2>/dev/null || true
	wait_until 5 rv_port_closed "${ADDR[$n]}" "${SSHD_PORT[$n]}" ||
	    fail "$n: sshd port still open"
	SSHD_PID[$n]=
	log "sshd of $n stopped"
}

# --- the daemons and the flag watcher -----------------------------------------

# the host's current peerwatch PID (the last one started)
rv_pid() {
	tail -n 1 "$T/$1/daemon.pids"
}

rv_start() {
	start "$1"
	echo "${PID[$1]}" >>"$T/$1/daemon.pids"
}

rv_start_all() {
	local n
	for n in "${NAMES[@]}"; do
		rv_start "$n"
	done
}

# rv_kill9 NAME: kill -9 NAME's current daemon and wait until it is gone
rv_kill9() {
	local n=$1 p
	p=$(rv_pid "$n")
	kill -KILL "$p"
	{
		wait_until 10 pw_gone "$p" || fail "$n survived SIGKILL"
		[ "$p" != "${WPID[$n]:-}" ] || wait "$p" || true
	} 2>/dev/null
	log "kill -9 $n (pid $p)"
}

# rv_watch NAME: the flag watcher of host NAME (see the top)
rv_watch() {
	local n=$1 d="$T/$1"
	(
		trap - EXIT INT HUP
		trap 'exit 0' TERM
		set +e
		rflag=$(rv_revive_flag "$n")
		while kill -0 $$ 2>/dev/null; do
			for f in "$d"/flags/*.flag; do
				[ -e "$f" ] || continue
				base=$(basename "$f")
				pw_now
				ms=$NOW_MS
				cp "$f" "$d/seen/$ms-$base" 2>/dev/null || true
				rm -f "$f"
				if [ "$f" != "$rflag" ]; then
					echo "$ms guard $base" >>"$d/flags.log"
					continue
				fi
				# systemctl restart peerwatch
				echo "$ms revive $base" >>"$d/flags.log"
				cur=$(tail -n 1 "$d/daemon.pids")
				if [ -n "$cur" ] && kill -0 "$cur" 2>/dev/null; then
					kill -TERM "$cur" 2>/dev/null || true
					for i in $(seq 50); do
						pw_gone "$cur" && break
						sleep 0.1
					done
				fi
				PEERWATCH_CONFIG=$T/peers.conf PEERWATCH_NAME=$n \
				    "$PW" run >>"$T/$n.log" 2>&1 &
				echo $! >>"$d/daemon.pids"
			done
			sleep 0.1
		done
	) 2>>"$d/watcher.log" & # (bash's "Killed" notices for kill -9)
	WATCH_PID[$n]=$!
	RV_WATCHERS+=($!)
	log "flag watcher of $n (pid $!)"
}

# how many flags of KIND (guard|revive) the watcher of NAME saw
rv_flags_seen() {
	awk -v k="$2" '$2 == k { n++ } END { print n + 0 }' "$T/$1/flags.log"
}

# wait until NAME runs a daemon newer than PID OLD that answers status
rv_restarted() {
	local n=$1 old=$2 p
	p=$(rv_pid "$n")
	[ -n "$p" ] && [ "$p" != "$old" ] || return 1
	pw_gone "$p" && return 1
	status "$n"
}

rv_stop_watchers() {
	local p
	for p in "${RV_WATCHERS[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${RV_WATCHERS[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	RV_WATCHERS=()
}

# every daemon PID a watcher started (not our children: not in ALL_PIDS)
rv_watcher_daemons() {
	local n p a mine
	for n in "${NAMES[@]}"; do
		[ -f "$T/$n/daemon.pids" ] || continue
		while read -r p; do
			[ -n "$p" ] || continue
			mine=0
			for a in "${ALL_PIDS[@]}"; do
				[ "$a" != "$p" ] || mine=1
			done
			[ "$mine" = 1 ] || echo "$p"
		done <"$T/$n/daemon.pids"
	done
}

rv_cleanup() {
	local rc=$? p i n
	trap - EXIT
	trap '' INT TERM HUP PIPE # finish even when stopped (lib.sh)
	set +e
	rv_stop_watchers
	for p in $(rv_watcher_daemons); do
		pw_gone "$p" && continue
		kill -CONT "$p" 2>/dev/null
		kill -TERM "$p" 2>/dev/null
	done
	for p in $(rv_watcher_daemons); do
		for i in $(seq 50); do
			pw_gone "$p" && break
			sleep 0.1
		done
		pw_gone "$p" || kill -KILL "$p" 2>/dev/null
	done
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ -n "$T" ]; then
		for n in "${NAMES[@]}"; do
			[ -f "$T/$n/ssh/sshd.log" ] || continue
			log "---- $n: sshd log (tail)"
			tail -n 15 "$T/$n/ssh/sshd.log" >&2
			log "---- $n: flags seen"
			cat "$T/$n/flags.log" >&2
		done
	fi
	(exit "$rc")
	pw_cleanup
}

# stop every daemon with SIGTERM: each must go and log `stopped` last; then
# no sanitizer report anywhere; PASS
rv_pass() {
	local n p rc
	rv_stop_watchers
	for n in "${NAMES[@]}"; do
		p=$(rv_pid "$n")
		[ -n "$p" ] || continue
		pw_gone "$p" && continue
		kill -TERM "$p"
		wait_until 10 pw_gone "$p" || fail "$n survived SIGTERM"
		if [ "$p" = "${WPID[$n]:-}" ]; then
			rc=0
			wait "$p" || rc=$?
			[ "$rc" -eq 0 ] || fail "$n exited $rc on SIGTERM"
		fi
		PID[$n]=
		[ "$(ev_last_type "$n")" = stopped ] ||
		    fail "$n: last event is not 'stopped'"
	done
	no_sanitizer_reports
	log "PASS ($(elapsed_ms) ms)"
	exit 0
}

# --- the event log -----------------------------------------------------------

# rv_ev NAME FIELD...: the FIELDs of each of NAME's events, tab-separated
rv_ev() {
	local f
	f=$(events_file "$1")
	shift
	[ -f "$f" ] || return 0
	"$PWJSON" -l "$@" <"$f"
}

# the revive-related event types NAME logged about TARGET, one a line
rv_steps() {
	rv_ev "$1" type peer | awk -F'\t' -v p="$2" '$2 == p &&
	    $1 ~ /^(revive_start|config_invalid|config_restored|flag_dropped|revive_ok|revive_failed)$/ {
	    print $1 }'
}

# how many `escalation` events of KIND NAME logged (about SUBJECT, if given)
rv_escalations() {
	rv_ev "$1" type kind peer | awk -F'\t' -v k="$2" -v s="${3:-}" \
	    '$1 == "escalation" && $2 == k && (s == "" || $3 == s) { n++ }
	    END { print n + 0 }'
}

# ms since the epoch of an ISO 8601 event ts
rv_ts_ms() {
	local s
	s=$(date -u -d "$1" +%s%3N) || return 1
	echo "$s"
}

# NAME's /status has an open incident of KIND about SUBJECT
rv_incident_open() {
	local i=0 k s
	status "$1" || return 1
	while :; do
		k=$(jget "$ST" -d none "incidents.$i.kind") || return 1
		[ "$k" != none ] || return 1
		s=$(jget "$ST" -d none "incidents.$i.subject")
		[ "$k" != "$2" ] || [ "$s" != "$3" ] || return 0
		i=$((i + 1))
	done
}

# "name size sha256" of every file under DIR, sorted: a snapshot to compare
rv_snapshot() {
	if [ "$PW_OS" = Darwin ]; then # no find -printf: name size sha256
		(cd "$1" && find . -type f -exec sh -c \
		    'printf "%s %s %s\n" "$1" "$(wc -c <"$1" | tr -d " ")" \
		    "$(shasum -a 256 <"$1" | cut -d" " -f1)"' sh {} \; | sort)
		return
	fi
	(cd "$1" && find . -type f -printf '%p %s ' -exec sha256sum {} \; |
	    awk '{print $1, $2, $3}' | sort)
}

rv_ev_has_at_least() {
	[ "$(ev_count "$1" "$2" "${4:-}")" -ge "$3" ]
}

# at least N escalations of KIND (about SUBJECT) in NAME's log
rv_escalations_ge() {
	[ "$(rv_escalations "$1" "$2" "${4:-}")" -ge "$3" ]
}

# rv_unchanged DIR BEFORE: rv_snapshot of DIR is still BEFORE
rv_unchanged() {
	[ "$(rv_snapshot "$1")" = "$2" ]
}

# NAME's /status has no open incident of KIND about SUBJECT
rv_no_incident() {
	status "$1" || return 1
	! rv_incident_open "$@"
}
