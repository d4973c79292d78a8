# SPDX-License-Identifier: ISC
# lib.sh: what every integration scenario shares, in the manner of tmux's
# regress scripts. Sourced, never run. It owns a private temp dir, a cleanup
# trap that stops only the daemons it started (by PID) and deletes only the
# namespaces it created, the mesh set-up (network namespaces or loopback
# addresses), and polling helpers with deadlines: scenarios never sleep to
# synchronise, they wait_until a condition holds or `hold` one for a while.
#
#   . "$(dirname "$0")/lib.sh"
#   pw_setup "$@"                       # PEERWATCH PWJSON PWFORGE [args]
#   mesh_netns alpha beta gamma         # or: mesh_loopback alpha beta
#   start_all
#   wait_until 5 all_alive || fail "mesh did not come up"
#   pass
#
# Netns mode: a hub namespace with bridges br0 (and br1 for partitions);
# one namespace per host, RUN-NAME, joined to br0 by a veth pair, address
# 10.213.K.I/24 on eth0. Each host's own /etc/peerwatch is
# /etc/netns/RUN-NAME/peerwatch (bind-mounted by `ip netns exec`), holding
# peers.conf, key and state/, so daemons run as `peerwatch run` with the
# default config path, as on a real host.
# Loopback mode: 127.213.K.I per host with per-peer key, state_dir and
# status_listen overrides, for scenarios that need no namespaces.
#
# Environment: PW_TEST_TIMEOUT (s, default 170) gives up and cleans up before
# ctest's TIMEOUT would kill the script; PW_KEEP=1 keeps the temp dir.

# bash >= 5 (EPOCHREALTIME, associative arrays, empty "${A[@]}" under
# set -u). macOS's /bin/bash is 3.2: there this skips with the reason, as its
# first command, before anything 3.2 cannot run (deploy/deps.sh installs
# Homebrew's bash; its bin directory goes first in PATH).
if [ -z "${EPOCHREALTIME:-}" ] || [ "${BASH_VERSINFO[0]:-0}" -lt 5 ]; then
	echo "[$(basename "$0" .sh)] SKIP: needs bash >= 5, this is" \
	    "${BASH_VERSION:-not bash} (macOS: brew install bash, see deploy/deps.sh)" >&2
	exit 77
fi

set -euo pipefail

PW_OS=$(uname -s)       # Linux | Darwin: the few calls that differ
PW_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PW_SRC_DIR=$(cd "$PW_LIB_DIR/../.." && pwd)
PW_TEST_NAME=$(basename "$0" .sh)

T=                      # the private temp dir
MODE=                   # netns | loopback
NAMES=()                # the mesh's peer names, in config order
HUB=                    # the hub namespace
RUN="pw$$r$((RANDOM % 100))"    # prefix of this run's namespaces
K=                      # the third octet of this run's addresses (pw_block)
PW_BLOCK_FD=            # holds this run's lock on block K (flock)
PW_BLOCK_DIR=           # or its lock directory (no flock: macOS)
declare -A NS=() ADDR=() PID=() WPID=() ETC=() IDX=()
CREATED_NS=()
ALL_PIDS=()             # every daemon and wrapper started
PW_CREATED_ETC_NETNS=0
PW_CREATED_ETC_PW=0
PW_WATCHDOG=
PW_T0=${EPOCHREALTIME//[!0-9]/}   # µs (any locale's decimal mark dropped)
exec 9>&2               # log(): stderr, even where stderr is silenced

unset PEERWATCH_CONFIG PEERWATCH_NAME

# --- messages -------------------------------------------------------------

# milliseconds since the script started
elapsed_ms() {
	local now=${EPOCHREALTIME//[!0-9]/}
	echo $(((now - PW_T0) / 1000))
}

log() {
	local ms
	ms=$(elapsed_ms)
	printf '[%s %d.%03ds] %s\n' "$PW_TEST_NAME" $((ms / 1000)) \
	    $((ms % 1000)) "$*" >&9
}

fail() {
	log "FAIL: $*"
	exit 1
}

skip() {
	log "SKIP: $*"
	exit 77
}

pass() {
	stop_all_clean
	log "PASS ($(elapsed_ms) ms)"
	exit 0
}

# --- polling with deadlines -----------------------------------------------

# now in ms, into the variable NOW_MS (no subshell: cheap in loops)
pw_now() {
	local t=${EPOCHREALTIME//[!0-9]/}
	NOW_MS=$((t / 1000))
}

# ms from a duration in seconds, "1.5" -> 1500
pw_ms() {
	local s=$1 frac
	case $s in
	*.*) frac=${s#*.}000; echo $((${s%.*} * 1000 + 10#${frac:0:3})) ;;
	*) echo $((s * 1000)) ;;
	esac
}

# wait_until TIMEOUT_S CMD...: run CMD every 100 ms until it succeeds;
# 0 when it did, 1 at the deadline. Remember that `set -e` does not apply
# inside CMD here: predicates must return their own status.
wait_until() {
	local limit deadline
	limit=$(pw_ms "$1")
	shift
	pw_now
	deadline=$((NOW_MS + limit))
	while :; do
		if "$@"; then
			return 0
		fi
		pw_now
		if [ "$NOW_MS" -ge "$deadline" ]; then
			log "timed out after ${limit} ms: $*"
			return 1
		fi
		sleep 0.1
	done
}

# hold SECONDS CMD...: CMD must succeed every 100 ms for the whole time;
# 1 at the first failure.
hold() {
	local limit start deadline
	limit=$(pw_ms "$1")
	shift
	pw_now
	start=$NOW_MS
	deadline=$((NOW_MS + limit))
	while :; do
		if ! "$@"; then
			pw_now
			log "no longer true after $((NOW_MS - start)) ms: $*"
			return 1
		fi
		pw_now
		[ "$NOW_MS" -lt "$deadline" ] || return 0
		sleep 0.1
	done
}

# hold_before EPOCH_MS CMD...: hold CMD until 300 ms (a tick, and the
# clocks' rounding) before EPOCH_MS, a wall-clock time the daemon gives
# (half_open_at, a maintenance's end): as long as the product promises,
# never into the time when it may act. With under 500 ms left (a very slow
# run), CMD is checked once.
hold_before() {
	local until=$1 rem
	shift
	pw_now
	rem=$((until - 300 - NOW_MS))
	if [ "$rem" -lt 500 ]; then
		log "hold_before: only $rem ms left, checked once: $*"
		"$@"
		return
	fi
	hold "$((rem / 1000)).$(printf '%03d' $((rem % 1000)))" "$@"
}

# --- set-up and cleanup ---------------------------------------------------

# pw_block: K, a block of addresses (127.213.K.*, 127.214.K.*, 10.213.K.*)
# no other run on this machine holds, starting at $$ % 250 + 1. Two suites
# at once (two worktrees, two users) must not bind the same addresses and
# ports. The lock is /tmp/peerwatch-test-block.K, held until this script
# and every process it started (they inherit the descriptor) are gone:
# flock(1) where there is one; else a directory with our PID in it, taken
# over when that PID is gone, removed by pw_cleanup.
pw_block() {
	local i k f
	for i in $(seq 0 249); do
		k=$((($$ + i) % 250 + 1))
		f=/tmp/peerwatch-test-block.$k
		if command -v flock >/dev/null 2>&1; then
			# O_EXCL (noclobber): never through a planted symlink
			(set -C && : >"$f") 2>/dev/null || true
			[ -f "$f" ] && [ ! -L "$f" ] || continue
			exec {PW_BLOCK_FD}<"$f" || continue
			if flock -n "$PW_BLOCK_FD"; then
				K=$k
				return 0
			fi
			exec {PW_BLOCK_FD}<&-
			PW_BLOCK_FD=
		else
			if ! mkdir "$f.d" 2>/dev/null; then
				local owner
				owner=$(cat "$f.d/pid" 2>/dev/null) || continue
				[ -n "$owner" ] && pw_gone "$owner" || continue
				rm -rf "$f.d"
				mkdir "$f.d" 2>/dev/null || continue
			fi
			echo $$ >"$f.d/pid"
			PW_BLOCK_DIR=$f.d
			K=$k
			return 0
		fi
	done
	skip "all 250 address blocks are held by other runs (/tmp/peerwatch-test-block.*)"
}

# pw_setup PEERWATCH PWJSON PWFORGE [ARGS...]: the binaries (made absolute),
# the temp dir, the cleanup trap and the watchdog. ARGS stay in PW_ARGS.
pw_setup() {
	[ $# -ge 3 ] || { echo "usage: $0 PEERWATCH PWJSON PWFORGE" >&2; exit 2; }
	PW=$(readlink -f "$1")
	PWJSON=$(readlink -f "$2")
	PWFORGE=$(readlink -f "$3")
	shift 3
	PW_ARGS=("$@")
	local b
	for b in "$PW" "$PWJSON" "$PWFORGE"; do
		[ -x "$b" ] || { echo "$0: $b: not executable" >&2; exit 2; }
	done
	# macOS's TMPDIR (/var/folders/../T/) is ~50 bytes: state_dir's
	# control.sock would near sun_path's 104, so /tmp there
	local tmp=${TMPDIR:-/tmp}
	[ "$PW_OS" != Darwin ] || tmp=/tmp
	T=$(mktemp -d "$tmp/pw-$PW_TEST_NAME.XXXXXX")
	trap pw_cleanup EXIT
	pw_block
	trap 'log "signal: giving up"; exit 1' INT TERM HUP
	pw_watchdog "${PW_TEST_TIMEOUT:-170}"
	pw_reaper
	log "temp dir $T, peerwatch $PW, address block $K"
}

# When this script is killed outright its traps never run: ctest, stopped
# itself (Ctrl-C, SIGTERM), kills the test it runs with SIGKILL. A watcher
# in a session of its own (so the same signals miss it) waits for the
# script to end and, if the temp dir is still there, removes what the
# script could not: the namespaces listed in $T/.ns (and whatever still
# runs in them, all ours) and the temp dir. After a normal cleanup it
# finds nothing and exits.
pw_reaper() {
	[ "$PW_OS" = Linux ] && command -v setsid >/dev/null 2>&1 || return 0
	setsid bash -c '
		trap "" INT TERM HUP PIPE
		while kill -0 "$1" 2>/dev/null; do sleep 0.5; done
		[ -d "$2" ] || exit 0
		if [ -f "$2/.ns" ]; then
			while read -r ns; do
				ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL
				ip netns del "$ns" 2>/dev/null
				[ "$3" = 1 ] || rm -rf "/etc/netns/$ns"
			done <"$2/.ns"
		fi
		[ "$3" = 1 ] || rm -rf "$2"
	' pw-reaper $$ "$T" "${PW_KEEP:-0}" </dev/null >/dev/null 2>&1 9>&- &
}

# Give up (and so clean up) before ctest's TIMEOUT kills us uncleanly. The
# watchdog blocks in `read -t` on a FIFO nobody writes: no child process,
# so killing it by PID leaves nothing behind.
pw_watchdog() {
	mkfifo "$T/.watchdog"
	(
		trap - EXIT INT TERM HUP
		exec 3<>"$T/.watchdog"
		if ! read -r -t "$1" -u 3; then
			echo "[$PW_TEST_NAME] watchdog: over $1 s, giving up" >&2
			kill -TERM $$
		fi
	) &
	PW_WATCHDOG=$!
}

# PID has exited (a zombie counts as gone)
pw_gone() {
	local st
	if [ "$PW_OS" = Darwin ]; then
		st=$(ps -o stat= -p "$1" 2>/dev/null) || return 0
		case $st in "" | Z*) return 0 ;; *) return 1 ;; esac
	fi
	[ -e "/proc/$1" ] || return 0
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) ||
	    return 0
	[ -z "$st" ] || [ "$st" = Z ]
}

# a process's command name (no /proc on macOS)
pw_comm() {
	if [ "$PW_OS" = Darwin ]; then
		basename "$(ps -o comm= -p "$1" 2>/dev/null)" 2>/dev/null
	else
		cat "/proc/$1/comm" 2>/dev/null
	fi
}

# sha256sum's "HASH  NAME" lines (macOS: shasum)
pw_sha256() {
	if [ "$PW_OS" = Darwin ]; then
		shasum -a 256 "$@"
	else
		sha256sum "$@"
	fi
}

# a file's permission bits in octal, "600" (GNU and BSD stat differ)
pw_mode() {
	if [ "$PW_OS" = Darwin ]; then
		stat -f %Lp "$1"
	else
		stat -c %a "$1"
	fi
}

pw_dump_logs() {
	local n f
	for n in "${NAMES[@]}"; do
		f=$(events_file "$n")
		if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' \
		    "$T/$n.log" 2>/dev/null; then
			log "---- $n: sanitizer report ($T/$n.log)"
			sed -n -E '/ERROR: (Address|Leak)Sanitizer|runtime error:/,$p' \
			    "$T/$n.log" | grep -vE '^ *0x[0-9a-f]+:|^  [A-Z][a-z].*:  ' |
			    head -n 80 >&2
			continue
		fi
		log "---- $n: last daemon log lines ($T/$n.log)"
		tail -n 25 "$T/$n.log" >&2 2>/dev/null || true
		log "---- $n: last events ($f)"
		tail -n 25 "$f" >&2 2>/dev/null || true
	done
}

pw_cleanup() {
	local rc=$? p i
	# finish even when the run is being stopped: a second signal (ctest
	# or a terminal stopping the whole group), or a write to ctest's pipe
	# once it is gone (SIGPIPE), must not leave namespaces behind
	trap - EXIT
	trap '' INT TERM HUP PIPE
	set +e
	[ "$rc" -eq 0 ] || [ "$rc" -eq 77 ] || pw_dump_logs
	# a scenario's own processes (services it started), by PID
	! declare -F pw_test_cleanup >/dev/null || pw_test_cleanup
	# daemons (and wrappers) we started, by PID; a SIGSTOPped one must
	# wake to die of SIGTERM
	for p in "${ALL_PIDS[@]}"; do
		pw_gone "$p" && continue
		kill -CONT "$p" 2>/dev/null
		kill -TERM "$p" 2>/dev/null
	done
	for p in "${ALL_PIDS[@]}"; do
		for i in $(seq 50); do
			pw_gone "$p" && break
			sleep 0.1
		done
		pw_gone "$p" || kill -KILL "$p" 2>/dev/null
	done
	for p in "${ALL_PIDS[@]}"; do
		wait "$p" 2>/dev/null
	done
	if [ -n "$PW_WATCHDOG" ]; then
		kill "$PW_WATCHDOG" 2>/dev/null
		wait "$PW_WATCHDOG" 2>/dev/null
	fi
	pw_del_namespaces
	[ -z "$PW_BLOCK_DIR" ] || rm -rf "$PW_BLOCK_DIR"
	if [ -n "$T" ] && [ "${PW_KEEP:-0}" != 1 ]; then
		rm -rf "$T"
	elif [ -n "$T" ]; then
		log "kept $T"
	fi
	exit "$rc"
}

# only the namespaces, /etc/netns entries and mount points we created
pw_del_namespaces() {
	local ns
	for ns in "${CREATED_NS[@]}"; do
		ip netns del "$ns" 2>/dev/null
		[ "$ns" != "$HUB" ] || continue
		[ "${PW_KEEP:-0}" != 1 ] || cp -a "/etc/netns/$ns" "$T/etc-$ns"
		rm -rf "/etc/netns/$ns"
	done
	[ "$PW_CREATED_ETC_NETNS" = 1 ] && rmdir /etc/netns 2>/dev/null
	[ "$PW_CREATED_ETC_PW" = 1 ] && rmdir /etc/peerwatch 2>/dev/null
	return 0
}

# --- meshes ---------------------------------------------------------------

# skip unless we may create network namespaces
need_netns() {
	[ "$PW_OS" = Linux ] ||
	    skip "needs Linux network namespaces; $PW_OS has none"
	[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces)"
	command -v ip >/dev/null 2>&1 || skip "needs ip (iproute2)"
	ip netns list >/dev/null 2>&1 || skip "ip netns does not work here"
	HUB="$RUN-hub"
	ip netns add "$HUB" 2>/dev/null || skip "cannot create a network namespace"
	CREATED_NS+=("$HUB")
	echo "$HUB" >>"$T/.ns" # for pw_reaper
}

# the [mesh] section every scenario uses; MESH_EXTRA adds lines
pw_mesh_section() {
	cat <<EOF
# peerwatch integration test $PW_TEST_NAME, mode $MODE
[mesh]
port = $1
interval = 500ms
suspect_after = 1s
down_after = 2s
$2
${MESH_EXTRA:-}

EOF
}

# mesh_netns NAME...: the namespaces, links, keys and one peers.conf
mesh_netns() {
	local i=0 n ns line
	MODE=netns
	NAMES=("$@")
	need_netns
	[ -d /etc/netns ] || { mkdir /etc/netns; PW_CREATED_ETC_NETNS=1; }
	# `ip netns exec` bind-mounts /etc/netns/NS/peerwatch over this
	[ -d /etc/peerwatch ] || { mkdir /etc/peerwatch; PW_CREATED_ETC_PW=1; }
	ip -n "$HUB" link set lo up
	ip -n "$HUB" link add br0 type bridge
	ip -n "$HUB" link add br1 type bridge
	ip -n "$HUB" link set br0 up
	ip -n "$HUB" link set br1 up
	pw_mesh_section 7946 "key = /etc/peerwatch/key
state_dir = /etc/peerwatch/state
status_listen = 127.0.0.1:7947
ollama_listen = 127.0.0.1:11435" >"$T/peers.conf"
	for n in "$@"; do
		i=$((i + 1))
		ns="$RUN-$n"
		NS[$n]=$ns
		IDX[$n]=$i
		# PW_IPV6=1: a ULA prefix, inside this run's namespaces only
		if [ "${PW_IPV6:-0}" = 1 ]; then
			ADDR[$n]=fd00:213:$K::$i
		else
			ADDR[$n]=10.213.$K.$i
		fi
		ETC[$n]=/etc/netns/$ns/peerwatch
		ip netns add "$ns" || fail "ip netns add $ns"
		CREATED_NS+=("$ns")
		echo "$ns" >>"$T/.ns"
		ip -n "$HUB" link add "v$i" type veth peer name "e$i" netns "$ns"
		ip -n "$ns" link set "e$i" name eth0
		if [ "${PW_IPV6:-0}" = 1 ]; then
			ip -n "$ns" addr add "${ADDR[$n]}/64" dev eth0 nodad
		else
			ip -n "$ns" addr add "${ADDR[$n]}/24" dev eth0
		fi
		ip -n "$ns" link set lo up
		ip -n "$ns" link set eth0 up
		ip -n "$HUB" link set "v$i" master br0 up
		mkdir -p "${ETC[$n]}"
		line=$("$PW" keygen -o "${ETC[$n]}/key" 2>/dev/null)
		cat >>"$T/peers.conf" <<EOF
[peer $n]
address = ${ADDR[$n]}
$line

EOF
	done
	for n in "$@"; do
		cp "$T/peers.conf" "${ETC[$n]}/peers.conf"
	done
	log "netns mesh: ${NAMES[*]} on ${ADDR[${NAMES[0]}]%?}* (namespaces $RUN-*)"
}

# need_loopback PREFIX N: skip unless PREFIX.1 .. PREFIX.N answer locally.
# Linux routes all of 127.0.0.0/8 to lo; macOS has only 127.0.0.1 unless
# each address is added (sudo ifconfig lo0 alias PREFIX.I up).
need_loopback() {
	local i
	[ "$PW_OS" = Darwin ] || return 0
	for i in $(seq "$2"); do
		ifconfig lo0 2>/dev/null | grep -q "inet $1\.$i " ||
		    skip "needs loopback addresses $1.1-$2; macOS has only 127.0.0.1 (sudo ifconfig lo0 alias $1.$i up)"
	done
}

# mesh_loopback NAME...: 127.213.K.I per host, one shared peers.conf with
# per-peer key, state_dir and listen overrides
mesh_loopback() {
	local i=0 n line
	MODE=loopback
	NAMES=("$@")
	need_loopback 127.213.$K $#
	pw_mesh_section 17946 "" >"$T/peers.conf"
	for n in "$@"; do
		i=$((i + 1))
		IDX[$n]=$i
		ADDR[$n]=127.213.$K.$i
		ETC[$n]=$T/$n
		mkdir -p "${ETC[$n]}"
		line=$("$PW" keygen -o "${ETC[$n]}/key" 2>/dev/null)
		cat >>"$T/peers.conf" <<EOF
[peer $n]
address = ${ADDR[$n]}
$line
key = ${ETC[$n]}/key
state_dir = ${ETC[$n]}/state
status_listen = ${ADDR[$n]}:17947
ollama_listen = ${ADDR[$n]}:17948

EOF
	done
	log "loopback mesh: ${NAMES[*]} on 127.213.$K.1-$i"
}

# partition NAME...: cut NAMEs off from the rest (their hub-side veths
# move to bridge br1, where they still hear each other); heal: all back
partition() {
	local n
	for n in "$@"; do
		ip -n "$HUB" link set "v${IDX[$n]}" master br1
	done
	log "partition: ${*} | the rest"
}

heal() {
	local n
	for n in "${NAMES[@]}"; do
		ip -n "$HUB" link set "v${IDX[$n]}" master br0
	done
	log "healed"
}

# loss NAME PERCENT: NAME's host drops that share of its outgoing UDP at
# random (nftables numgen in its own namespace; this kernel has no netem);
# 100 drops its link entirely, 0 lifts the loss. Netns mode only.
loss() {
	local ns=${NS[$1]}
	[ "$MODE" = netns ] || fail "loss: needs a netns mesh"
	command -v nft >/dev/null 2>&1 || skip "needs nft (nftables)"
	ip netns exec "$ns" nft delete table inet pwloss 2>/dev/null || true
	[ "$2" -gt 0 ] || return 0
	ip netns exec "$ns" nft -f - <<EOF || fail "nft: cannot add the loss rule in $ns"
table inet pwloss {
	chain out {
		type filter hook output priority 0; policy accept;
		meta l4proto udp numgen random mod 100 < $2 drop
	}
}
EOF
}

events_file() {
	echo "${ETC[$1]}/state/events.jsonl"
}

# pw_cli NAME ARGS...: a peerwatch command as host NAME runs it. In netns
# mode with no flags at all: the default /etc/peerwatch/peers.conf and the
# host found by its key, as on a real host.
pw_cli() {
	local n=$1
	shift
	if [ "$MODE" = netns ]; then
		ip netns exec "${NS[$n]}" "$PW" "$@"
	else
		PEERWATCH_CONFIG=$T/peers.conf PEERWATCH_NAME=$n "$PW" "$@"
	fi
}

# --- daemons --------------------------------------------------------------

# the daemon's own PID: WPID itself, or its child when a wrapper forks
pw_find_daemon() {
	local w=$1 c
	if [ "$(pw_comm "$w")" = peerwatch ]; then
		DAEMON_PID=$w
		return 0
	fi
	c=$(pgrep -P "$w" -x peerwatch 2>/dev/null | head -n 1) || return 1
	[ -n "$c" ] || return 1
	DAEMON_PID=$c
}

# start NAME [WRAPPER...]: run the daemon (under WRAPPER, e.g. faketime),
# stderr to $T/NAME.log; PID[NAME] is the daemon, WPID[NAME] what we wait on
start() {
	local n=$1
	shift
	if [ "$MODE" = netns ]; then
		ip netns exec "${NS[$n]}" "$@" "$PW" run >>"$T/$n.log" 2>&1 &
	else
		PEERWATCH_CONFIG=$T/peers.conf PEERWATCH_NAME=$n \
		    "$@" "$PW" run >>"$T/$n.log" 2>&1 &
	fi
	WPID[$n]=$!
	ALL_PIDS+=($!)
	wait_until 10 pw_find_daemon "${WPID[$n]}" ||
	    fail "$n: no peerwatch process under PID ${WPID[$n]}"
	PID[$n]=$DAEMON_PID
	[ "$DAEMON_PID" = "${WPID[$n]}" ] || ALL_PIDS+=("$DAEMON_PID")
	log "started $n (pid ${PID[$n]})"
}

start_all() {
	local n
	for n in "${NAMES[@]}"; do
		start "$n"
	done
}

# kill_peer NAME SIGNAL: signal the daemon; for a deadly one, reap it
kill_peer() {
	local n=$1 sig=$2 rc=0
	kill "-$sig" "${PID[$n]}"
	log "kill -$sig $n (pid ${PID[$n]})"
	case $sig in
	STOP | CONT | HUP) return 0 ;;
	esac
	# silenced: bash's own "Killed" notice for the job
	{
		wait_until 10 pw_gone "${PID[$n]}" || fail "$n survived SIG$sig"
		wait "${WPID[$n]}" || rc=$?
	} 2>/dev/null
	PW_LAST_RC=$rc
	PID[$n]=
}

# open_idle ADDR:PORT FIRST N: N connections to ADDR:PORT on descriptors
# FIRST.. that send nothing; close_idle FIRST N closes them
open_idle() {
	local i
	for ((i = $2; i < $2 + $3; i++)); do
		eval "exec $i<>/dev/tcp/${1%:*}/${1##*:}" || fail "connect $i failed"
	done
}

close_idle() {
	local i
	for ((i = $1; i < $1 + $2; i++)); do
		eval "exec $i<&-"
	done
}

# reload_peer NAME: SIGHUP, then wait until NAME has taken the new config
# (config_reloaded) or refused it (config_reload_failed)
reload_peer() {
	local n=$1 n0 n1
	n0=$(ev_count "$n" config_reloaded)
	n1=$(ev_count "$n" config_reload_failed)
	kill_peer "$n" HUP
	wait_until 5 eval '[ $(ev_count '"$n"' config_reloaded) -gt '"$n0"' ] ||
	    [ $(ev_count '"$n"' config_reload_failed) -gt '"$n1"' ]' ||
	    fail "$n did not finish the reload"
}

# no sanitizer report in any daemon log
no_sanitizer_reports() {
	local n
	for n in "${NAMES[@]}"; do
		[ -f "$T/$n.log" ] || continue
		if grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' \
		    "$T/$n.log" >&2; then
			fail "$n: sanitizer report in $T/$n.log"
		fi
	done
}

# SIGTERM every running daemon: each must exit 0 and log `stopped`
stop_all_clean() {
	local n
	for n in "${NAMES[@]}"; do
		[ -n "${PID[$n]:-}" ] || continue
		pw_gone "${PID[$n]}" && fail "$n died on its own"
		kill -CONT "${PID[$n]}"
		kill_peer "$n" TERM
		[ "$PW_LAST_RC" -eq 0 ] || fail "$n exited $PW_LAST_RC on SIGTERM"
		[ "$(ev_last_type "$n")" = stopped ] ||
		    fail "$n: last event is not 'stopped'"
	done
	no_sanitizer_reports
}

# --- status and the event log ---------------------------------------------

# status NAME: `peerwatch status --json` of host NAME into ST (1 if none).
# In a sanitizer build the CLI's leak check at exit doubles the cost of
# every poll; it stays on where PW_POLL_LEAKS=1 (cli.sh).
status() {
	local asan=${ASAN_OPTIONS:-}
	[ "${PW_POLL_LEAKS:-0}" = 1 ] || asan=${asan:+$asan:}detect_leaks=0
	ST=$(ASAN_OPTIONS=$asan pw_cli "$1" status --json 2>/dev/null) || return 1
	[ -n "$ST" ]
}

# jget JSON PWJSON-ARGS...: values from a JSON text
jget() {
	local j=$1
	shift
	printf '%s' "$j" | "$PWJSON" "$@"
}

# others NAME: every mesh peer but NAME
others() {
	local n
	for n in "${NAMES[@]}"; do
		[ "$n" = "$1" ] || echo "$n"
	done
}

# sees NAME STATE PEER...: NAME's status shows every PEER in STATE
sees() {
	local n=$1 want=$2 p v vals paths=()
	shift 2
	status "$n" || return 1
	for p in "$@"; do
		paths+=("peers.$p.state")
	done
	vals=$(jget "$ST" -d none "${paths[@]}") || return 1
	for v in $vals; do
		[ "$v" = "$want" ] || return 1
	done
}

# all_alive [NAME...]: every NAME (default: the mesh) sees every other one
# of them alive, not confirmed down
all_alive() {
	local hosts=("$@") n p
	[ $# -gt 0 ] || hosts=("${NAMES[@]}")
	for n in "${hosts[@]}"; do
		local peers=()
		for p in "${hosts[@]}"; do
			[ "$p" = "$n" ] || peers+=("$p")
		done
		sees "$n" alive "${peers[@]}" || return 1
	done
}

# settled [NAME...]: all_alive, and every NAME has quorum
settled() {
	local hosts=("$@") n
	[ $# -gt 0 ] || hosts=("${NAMES[@]}")
	all_alive "${hosts[@]}" || return 1
	for n in "${hosts[@]}"; do
		status "$n" || return 1
		[ "$(jget "$ST" has_quorum)" = true ] || return 1
	done
}

# confirmed_by TARGET NAME...: every NAME has TARGET down, confirmed
confirmed_by() {
	local t=$1 n
	shift
	for n in "$@"; do
		status "$n" || return 1
		[ "$(jget "$ST" -d none "peers.$t.state" \
		    "peers.$t.confirmed_down" | tr '\n' ' ')" = "down true " ] ||
		    return 1
	done
}

# acting_count TARGET NAME...: into ACTING, how many NAMEs act for TARGET
# (their /status "acting" has it); 1 if a status could not be had
acting_count() {
	local t=$1 n
	shift
	ACTING=0
	for n in "$@"; do
		status "$n" || return 1
		if jget "$ST" -k acting | grep -qx "$t"; then
			ACTING=$((ACTING + 1))
		fi
	done
}

# acting_is TARGET N NAME...: exactly N of NAMEs act for TARGET
acting_is() {
	local t=$1 want=$2
	shift 2
	acting_count "$t" "$@" || return 1
	[ "$ACTING" -eq "$want" ]
}

# acting_empty NAME...: none of NAMEs acts for anyone
acting_empty() {
	local n
	for n in "$@"; do
		status "$n" || return 1
		[ "$(jget "$ST" acting)" = "{}" ] || return 1
	done
}

# events NAME: "type<TAB>peer" per event of NAME's log, in order
events() {
	local f
	f=$(events_file "$1")
	[ -f "$f" ] || return 0
	"$PWJSON" -l type peer <"$f"
}

# ev_count NAME TYPE [PEER]: how many such events NAME logged
ev_count() {
	events "$1" | awk -F'\t' -v t="$2" -v p="${3:-}" \
	    '$1 == t && (p == "" || $2 == p) { n++ } END { print n + 0 }'
}

ev_last_type() {
	events "$1" | tail -n 1 | cut -f1
}

# ev_has NAME TYPE [PEER]: at least one such event
ev_has() {
	[ "$(ev_count "$@")" -gt 0 ]
}
