#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# cli: the command line without namespaces. check-config on the example
# and on every tests/fixtures/bad-*.conf (each error its fixture's
# "# expect: LINE: text" comments announce, as FILE:LINE:), keygen (0600,
# never overwrites, its pubkey accepted), --help everywhere, and a real
# daemon: `started`, SIGHUP with a broken config (kept running on the old
# one) and with a good one (reloaded), SIGTERM (exit 0, `stopped`), and
# `events -n 2 --json`.
. "$(dirname "$0")/lib.sh"
pw_setup "$@"
PW_POLL_LEAKS=1         # the CLI's own leaks count here
FIX=$PW_SRC_DIR/tests/fixtures

# --- check-config ---------------------------------------------------------
"$PW" check-config -c "$PW_SRC_DIR/deploy/peers.conf.example" >"$T/out" 2>&1 ||
    { cat "$T/out" >&2; fail "check-config refuses deploy/peers.conf.example"; }

# check_bad FILE: exit 1 and every expected error, as FILE:LINE: ...TEXT
check_bad() {
	local f=$1 rc=0 line text n=0
	"$PW" check-config -c "$f" >"$T/out" 2>&1 || rc=$?
	[ "$rc" -eq 1 ] || { cat "$T/out" >&2; fail "check-config $f exited $rc, want 1"; }
	while IFS= read -r exp; do
		line=${exp%%:*}
		text=${exp#*: }
		n=$((n + 1))
		grep -F -- "$f:$line: " "$T/out" | grep -qF -- "$text" || {
			cat "$T/out" >&2
			fail "$(basename "$f"): no \"$f:$line: ...$text\""
		}
	done < <(sed -n 's/^# expect: //p' "$f")
	[ "$n" -gt 0 ] || fail "$(basename "$f") has no '# expect: LINE: text' comment"
	# the same errors in --json
	rc=0
	"$PW" check-config -c "$f" --json >"$T/json" || rc=$?
	[ "$rc" -eq 1 ] || fail "check-config --json $f exited $rc"
	[ "$("$PWJSON" valid <"$T/json")" = false ] || fail "--json says $f is valid"
	"$PWJSON" -k . <"$T/json" | grep -qx errors || fail "--json has no errors"
	log "$(basename "$f"): exit 1, all $n expected errors"
}
shopt -s nullglob
bad=("$FIX"/bad-*.conf)
good=("$FIX"/good-*.conf)
shopt -u nullglob
[ "${#bad[@]}" -gt 0 ] || fail "no fixtures $FIX/bad-*.conf"
for f in "${bad[@]}"; do
	check_bad "$f"
done
for f in "${good[@]}"; do
	"$PW" check-config -c "$f" >"$T/out" 2>&1 ||
	    { cat "$T/out" >&2; fail "check-config refuses $f"; }
done

# --- keygen ---------------------------------------------------------------
line1=$("$PW" keygen -o "$T/k1" 2>/dev/null) || fail "keygen failed"
line2=$("$PW" keygen -o "$T/k2" 2>/dev/null) || fail "keygen failed"
case $line1 in
"pubkey = "?*) ;;
*) fail "keygen printed \"$line1\", want a 'pubkey = ...' line" ;;
esac
[ "$line1" != "$line2" ] || fail "two keygens gave the same key"
[ "$(pw_mode "$T/k1")" = 600 ] || fail "key mode $(pw_mode "$T/k1"), want 600"
[ "$("$PW" keygen --show "$T/k1" 2>/dev/null)" = "$line1" ] || fail "keygen --show disagrees"
cp "$T/k1" "$T/k1.orig"
rc=0
"$PW" keygen -o "$T/k1" >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 1 ] || fail "keygen over an existing key exited $rc, want 1"
cmp -s "$T/k1" "$T/k1.orig" || fail "keygen changed an existing key"
[ "$(pw_mode "$T/k1")" = 600 ] || fail "key mode changed"
cat >"$T/gen.conf" <<EOF
[mesh]
port = 17946
state_dir = $T/gen-state

[peer one]
address = 127.213.$K.1
$line1

[peer two]
address = 127.213.$K.2
$line2
EOF
"$PW" check-config -c "$T/gen.conf" --json >"$T/json" ||
    { cat "$T/json" >&2; fail "check-config refuses keygen's pubkeys"; }
[ "$("$PWJSON" valid peers <"$T/json" | tr '\n' ' ')" = "true 2 " ] ||
    fail "check-config --json: $(cat "$T/json")"

# --- --help ---------------------------------------------------------------
"$PW" --help >"$T/out" || fail "peerwatch --help exited non-zero"
cmds=$(sed -n '/^commands:/,/^$/p' "$T/out" | awk 'NR > 1 && NF { print $1 }')
[ -n "$cmds" ] || fail "peerwatch --help lists no commands"
for c in $cmds; do
	"$PW" "$c" --help >"$T/out" 2>&1 || fail "peerwatch $c --help exited non-zero"
	grep -q "^usage: peerwatch" "$T/out" || fail "peerwatch $c --help printed no usage: $(cat "$T/out")"
done
log "--help: $(echo $cmds)"
# a usage error is exit 2, not a guess
rc=0
"$PW" events -n abc >"$T/out" 2>&1 || rc=$?
[ $rc = 2 ] && grep -q "not a count" "$T/out" || fail "events -n abc: exit $rc: $(cat "$T/out")"
rc=0
"$PW" version extra >"$T/out" 2>&1 || rc=$?
[ $rc = 2 ] || fail "version extra: exit $rc"

# --- the daemon: start, reload, stop --------------------------------------
mesh_loopback alpha beta
good_conf=$(cat "$T/peers.conf")
cp "$T/peers.conf" "$T/good.conf"
start alpha
wait_until 5 ev_has alpha started || fail "no started event"
wait_until 5 status alpha || fail "status does not answer"
[ "$(jget "$ST" self)" = alpha ] || fail "status: self is $(jget "$ST" self)"

# a broken file: refused, the old config kept, the daemon still answers
printf '%s\ncolour = blue\n' "$good_conf" >"$T/peers.conf"
bad_line=$(wc -l <"$T/peers.conf")
kill_peer alpha HUP
wait_until 5 ev_has alpha config_reload_failed || fail "no config_reload_failed event"
pw_gone "${PID[alpha]}" && fail "alpha died on a broken config"
# (the CLI itself needs a valid file to find the daemon)
good_status() {
	ST=$("$PW" status --json -c "$T/good.conf" --name alpha 2>/dev/null)
}
wait_until 5 good_status || fail "status does not answer after a failed reload"
[ "$(jget "$ST" self)" = alpha ] || fail "status after a failed reload: $ST"
f=$(events_file alpha)
grep '"config_reload_failed"' "$f" | grep -q "peers.conf:$bad_line:" ||
    fail "config_reload_failed does not name peers.conf:$bad_line: $(grep config_reload_failed "$f")"
[ "$(jget "$ST" -d none peers.gamma)" = none ] || fail "gamma appeared from a broken config"
[ "$(ev_count alpha config_reloaded)" -eq 0 ] || fail "a broken config was reloaded"

# a good, changed file: a third peer
line3=$("$PW" keygen -o "$T/k3" 2>/dev/null)
cat >"$T/peers.conf" <<EOF
$good_conf
[peer gamma]
address = 127.213.$K.3
$line3
key = $T/k3
state_dir = $T/gamma/state
status_listen = 127.213.$K.3:17947
ollama_listen = 127.213.$K.3:17948
EOF
"$PW" check-config -c "$T/peers.conf" >/dev/null || fail "the changed config is invalid"
kill_peer alpha HUP
wait_until 5 ev_has alpha config_reloaded || fail "no config_reloaded event"
wait_until 5 status alpha || fail "status does not answer after reload"
jget "$ST" peers.gamma.state >/dev/null || fail "gamma not in status after reload"

kill_peer alpha TERM
[ "$PW_LAST_RC" -eq 0 ] || fail "SIGTERM: exit $PW_LAST_RC, want 0"
[ "$(ev_last_type alpha)" = stopped ] || fail "last event is $(ev_last_type alpha), want stopped"
[ "$(events alpha | tail -n 1 | cut -f2)" = alpha ] ||
    fail "the stopped event names peer \"$(events alpha | tail -n 1 | cut -f2)\", want alpha"

# --- events ---------------------------------------------------------------
pw_cli alpha events -n 2 --json >"$T/out" || fail "events -n 2 --json failed"
tail -n 2 "$f" | cmp -s - "$T/out" ||
    { cat "$T/out" >&2; fail "events -n 2 --json is not the last 2 lines"; }
[ "$(pw_cli alpha events -n 2 | wc -l)" -eq 2 ] || fail "events -n 2 printed not 2 lines"
[ "$(pw_cli alpha events -n 0 --json | wc -l)" -eq "$(wc -l <"$f")" ] ||
    fail "events -n 0 --json is not the whole log"
pass
