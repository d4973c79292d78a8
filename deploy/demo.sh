#!/usr/bin/env bash
# make demo: a small mesh on this one machine, live. Three peers on
# 127.0.0.11-13 (each its own address, key, state dir and status port),
# real processes, a real kill -9. As root with OpenSSH's sshd installed it
# also shows a revive: gamma's config is corrupted while it is down, the
# acting peer restores it over SFTP from its backup and drops gamma's
# revive flag, and a small watcher (standing in for the systemd path unit
# `peerwatch deploy-units` generates) restarts gamma. Cleans up everything
# it started.
set -euo pipefail

PW=${1:-build/peer/peerwatch}
PW=$(cd "$(dirname "$PW")" && pwd)/$(basename "$PW")
DIR=$(mktemp -d /tmp/peerwatch-demo.XXXXXX)
PIDS=()
SSHD_PID=
WATCH_PID=

cleanup() {
	[ -n "$WATCH_PID" ] && kill "$WATCH_PID" 2>/dev/null
	for p in $(cat "$DIR"/*.pid 2>/dev/null) "${PIDS[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	[ -n "$SSHD_PID" ] && kill "$SSHD_PID" 2>/dev/null
	wait 2>/dev/null || true
	rm -rf "$DIR"
}
trap cleanup EXIT INT TERM

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# wait_for SECONDS CMD...: poll until CMD succeeds, or fail
wait_for() {
	local end=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt $end ] || {
			echo "demo: timed out waiting for: $*" >&2
			return 1
		}
		sleep 0.1
	done
}

REVIVE=0
if [ "$(id -u)" -eq 0 ] && [ -x /usr/sbin/sshd ] && command -v ssh-keygen >/dev/null; then
	REVIVE=1
fi

NAMES=(alpha beta gamma)
say "1. keys: peerwatch keygen for each of ${NAMES[*]}"
{
	printf '[mesh]\nport = 17946\ninterval = 500ms\nsuspect_after = 1s\n'
	printf 'down_after = 2s\nrevive_verify = 15s\nssh_timeout = 3s\n'
	printf 'mesh_backup_interval = 5s\nssh_key = %s/ssh/client\n\n' "$DIR"
} >"$DIR/peers.conf"
if [ $REVIVE = 1 ]; then
	mkdir -p "$DIR/ssh" /run/sshd
	ssh-keygen -q -t ed25519 -N '' -f "$DIR/ssh/hostkey"
	ssh-keygen -q -t ed25519 -N '' -f "$DIR/ssh/client"
	cp "$DIR/ssh/client.pub" "$DIR/ssh/authorized_keys"
	FP=$(ssh-keygen -lf "$DIR/ssh/hostkey.pub" -E sha256 | awk '{print $2}')
fi
i=11
for n in "${NAMES[@]}"; do
	mkdir -p "$DIR/$n"
	line=$("$PW" keygen -o "$DIR/$n/key" 2>/dev/null)
	echo "   $n: $line"
	cat >>"$DIR/peers.conf" <<CONF
[peer $n]
address = 127.0.0.$i
$line
key = $DIR/$n/key
state_dir = $DIR/$n/state
status_listen = 127.0.0.$i:17947
ollama_listen = 127.0.0.$i:17948
revive_flag = $DIR/$n/flags/revive-peerwatch.flag
CONF
	if [ $REVIVE = 1 ] && [ $n = gamma ]; then
		printf 'ssh = root@127.0.0.13:17922\nssh_hostkey = %s\n' "$FP" \
		    >>"$DIR/peers.conf"
	fi
	echo >>"$DIR/peers.conf"
	i=$((i + 1))
done
if [ $REVIVE = 1 ]; then
	mkdir -p "$DIR/gamma/bot"
	cat >>"$DIR/peers.conf" <<CONF
[guard bot@gamma]
file = $DIR/gamma/bot/config.json
require = channels.telegram
backups = {file}.bak mesh
flag = $DIR/gamma/flags/revive-bot.flag
on_flag = systemctl restart chat-bot
CONF
	echo '{"channels": {"telegram": {"chat": 42}}, "model": "llama3"}' \
	    >"$DIR/gamma/bot/config.json"
	cp "$DIR/gamma/bot/config.json" "$DIR/gamma/bot/config.json.bak"
	cat >"$DIR/ssh/sshd_config" <<CONF
ListenAddress 127.0.0.13
Port 17922
HostKey $DIR/ssh/hostkey
AuthorizedKeysFile $DIR/ssh/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin yes
StrictModes no
UsePAM no
Subsystem sftp internal-sftp
PidFile $DIR/ssh/sshd.pid
CONF
	/usr/sbin/sshd -D -e -f "$DIR/ssh/sshd_config" 2>"$DIR/sshd.log" &
	SSHD_PID=$!
fi

say "2. peerwatch check-config (one peers.conf for every host)"
"$PW" check-config -c "$DIR/peers.conf"

say "3. start three daemons"
start() {
	"$PW" run -c "$DIR/peers.conf" --name "$1" -q 2>>"$DIR/$1.log" &
	echo $! >"$DIR/$1.pid"
}
for n in "${NAMES[@]}"; do start "$n"; done
st() { "$PW" status -c "$DIR/peers.conf" --name "$1" "${@:2}"; }
all_alive() {
	for n in "${NAMES[@]}"; do
		st "$n" --json | grep -c '"state": "alive"' | grep -qx 2 || return 1
	done
}
wait_for 15 all_alive
st alpha
echo "   (the same as JSON: curl http://127.0.0.11:17947/status; metrics: /metrics)"

if [ $REVIVE = 1 ]; then
	# the flag watcher: what the systemd path unit does on a real host
	(
		f="$DIR/gamma/flags/revive-peerwatch.flag"
		for _ in $(seq 1 1200); do
			if [ -e "$f" ]; then
				rm -f "$f" "$DIR/gamma/flags/revive-bot.flag"
				"$PW" run -c "$DIR/peers.conf" --name gamma -q \
				    2>>"$DIR/gamma.log" &
				echo $! >"$DIR/gamma.pid"
			fi
			sleep 0.1
		done
	) &
	WATCH_PID=$!
	mesh_copy() { ls "$DIR"/alpha/state/mesh/gamma/bot/*.json; }
	wait_for 15 mesh_copy
fi

if [ $REVIVE = 1 ]; then
	say "4. kill -9 gamma and break its bot's config: detection, quorum, revive"
else
	say "4. kill -9 gamma: the others confirm it down by quorum; one acts"
fi
T0=$(date +%s%N)
kill -9 "$(cat "$DIR/gamma.pid")"
[ $REVIVE = 1 ] && echo '{"channels": {"telegr' >"$DIR/gamma/bot/config.json"
confirmed() {
	for n in alpha beta; do
		"$PW" events -c "$DIR/peers.conf" --name $n -n 0 --json |
		    grep -q '"type":"peer_confirmed_down","peer":"gamma"' || return 1
	done
}
wait_for 15 confirmed
T1=$(date +%s%N)
echo "   confirmed down at every survivor $(((T1 - T0) / 1000000)) ms after the kill"
if [ $REVIVE = 1 ]; then
	revived() {
		"$PW" events -c "$DIR/peers.conf" --name alpha -n 0 --json |
		    grep -q '"type":"revive_ok"'
	}
	wait_for 30 revived
	T2=$(date +%s%N)
	echo "   gamma revived $(((T2 - T0) / 1000000)) ms after the kill"
	echo "   gamma's bot config now:  $(cat "$DIR/gamma/bot/config.json")"
	echo "   the broken one was kept: $(ls "$DIR"/gamma/bot/ | grep broken)"
fi
wait_for 15 all_alive
st beta

say "5. the acting peer's event log (peerwatch events --name alpha)"
"$PW" events -c "$DIR/peers.conf" --name alpha -n 0 | grep -v 'mesh_backup' | tail -n 14

say "What this demo showed"
if [ $REVIVE = 1 ]; then
	cat <<TXT
  shown:     signed UDP heartbeats between three real daemons, failure
             detection (alive -> suspect -> down), confirmation by quorum,
             the single acting peer, a revive over a real sshd: the broken
             config restored from its backup (the broken copy kept), the
             revive flag dropped, gamma restarted and back with a new
             incarnation; the status table and the event log.
  not yet:   Ollama failover, local service watch and Telegram delivery
             are open work; escalations are events and /status incidents.
TXT
else
	cat <<TXT
  shown:     signed UDP heartbeats between three real daemons, failure
             detection (alive -> suspect -> down), confirmation by quorum,
             the single acting peer, recovery on a new incarnation, the
             status table and the event log.
  skipped:   the revive over SSH needs root and OpenSSH's sshd
             (run 'sudo make demo'). Ollama failover, local service watch
             and Telegram delivery are open work.
TXT
fi
