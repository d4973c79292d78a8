#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# install_systemd: deploy/linux/install.sh for real, as root inside a
# systemd box (tests/tools/sdbox: its own systemd, /etc, users and sshd in
# a network namespace; nothing on this machine changes):
#  - it creates the peerwatch user, the SSH account (nologin), the units,
#    enables and starts them: peerwatch, its revive path unit and the
#    guard's flag path unit are active, `peerwatch status` answers;
#  - peerwatch is started once; a second run says "nothing changed" and
#    does not restart it;
#  - the SSH account, from another namespace: SFTP works and can write a
#    file beside the guarded one and a flag (the ACLs), cannot write /etc,
#    and gets no shell (a command over ssh never runs);
#  - uninstall.sh stops and removes the units, the users and the ACL
#    entries; the config and the guarded file stay.
. "$(dirname "$0")/lib.sh"
pw_setup "$@" # PEERWATCH PWJSON PWFORGE SDBOX
[ "$(uname -s)" = Linux ] || skip "needs Linux (systemd)"
[ "$(id -u)" -eq 0 ] || skip "needs root"
[ ${#PW_ARGS[@]} -eq 1 ] || fail "usage: ... SDBOX"
SDBOX=$(readlink -f "${PW_ARGS[0]}")
for c in unshare nsenter ssh-keygen sftp ssh setfacl getfacl; do
	command -v $c >/dev/null 2>&1 || skip "needs $c"
done
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "$(dirname "$PW")/.." && pwd)
log "root file system (debootstrap on first use, ~1 min)"
"$SDBOX" rootfs >"$T/rootfs.out" 2>&1 ||
    skip "no root file system for a systemd box: $(tail -n 2 "$T/rootfs.out")"

BOX=$T/box
UP=0
sd_exit() {
	local rc=$?
	trap - EXIT
	trap '' INT TERM HUP PIPE # finish even when stopped (lib.sh)
	set +e
	if [ "$UP" = 1 ]; then
		sd journalctl --no-pager -o short-precise >"$T/box.log" 2>&1
		[ "$rc" -eq 0 ] || tail -n 40 "$T/box.log" >&2
		"$SDBOX" down "$BOX"
	fi
	(exit $rc)
	pw_cleanup
}
trap sd_exit EXIT
sd() { "$SDBOX" run "$BOX" "$@"; }

mesh_netns vps peer
APP=/srv/app/app.json
FLAGS=/var/lib/peerwatch/flags
cat >>"$T/peers.conf" <<EOF
[guard app@vps]
file = $APP
require = server.port
backups = {file}.bak
flag = $FLAGS/revive-app.flag
on_flag = logger revive-app
EOF
ssh-keygen -q -t ed25519 -N '' -C peer -f "$T/peerkey"
ssh-keygen -q -t ed25519 -N '' -C vps-host -f "$T/hostkey"
seed=$T/seed
mkdir -p "$seed/etc/peerwatch" "$seed/etc/ssh" "$seed/srv/app" "$seed/root" "$seed/usr/bin"
cp "${ETC[vps]}/key" "$seed/etc/peerwatch/key"
chmod 600 "$seed/etc/peerwatch/key"
cp "$T/peers.conf" "$seed/root/peers.conf"
cp "$T/peerkey.pub" "$seed/root/peer.pub"
cp "$T/hostkey" "$seed/etc/ssh/ssh_host_ed25519_key"
chmod 600 "$seed/etc/ssh/ssh_host_ed25519_key"
echo '{"server": {"port": 1}}' >"$seed$APP"
cp "$seed$APP" "$seed$APP.bak"
# the root file system has libacl but not the acl tools: this machine's
cp "$(command -v setfacl)" "$(command -v getfacl)" "$seed/usr/bin/"

binds=(--bind "$SRC")
case $BUILD in "$SRC"/*) ;; *) binds+=(--bind "$BUILD") ;; esac
SDBOX_BOOT_TIMEOUT=${SDBOX_BOOT_TIMEOUT:-120} "$SDBOX" up "$BOX" --netns "${NS[vps]}" \
    "${binds[@]}" --seed "$seed" >/dev/null || fail "the systemd box did not boot"
UP=1
log "box up"

install() {
	sd bash "$SRC/deploy/linux/install.sh" --from "$BUILD" -c /root/peers.conf \
	    --name vps --ssh-account pwpeers --authorized-key /root/peer.pub
}
out=$(install 2>&1) || fail "install.sh: $out"
log "install.sh: $(tail -n 1 <<<"$out")"
for u in peerwatch.service peerwatch-revive.path peerwatch-flag-app.path; do
	[ "$(sd systemctl is-active "$u")" = active ] || fail "$u is not active: $out"
	[ "$(sd systemctl is-enabled "$u")" = enabled ] || fail "$u is not enabled"
done
[ "$(sd systemctl is-enabled peerwatch-sleep.service)" = enabled ] || fail "the sleep notice is not enabled"
sd journalctl --no-pager -o cat -u peerwatch-sleep.service | grep -q '^Started\|^Finished' &&
	fail "install.sh ran the sleep notice"
answers() { sd /usr/local/sbin/peerwatch status --json >/dev/null 2>&1; }
wait_until 10 answers || fail "peerwatch status does not answer in the box"
sd getent passwd peerwatch >/dev/null || fail "no peerwatch user"
[ "$(sd getent passwd pwpeers | cut -d: -f7)" = /usr/sbin/nologin ] || fail "pwpeers has a shell"
sd getfacl -cp /srv/app | grep -qx "user:pwpeers:rwx" ||
    fail "no ACL for pwpeers on /srv/app: $(sd getfacl -cp /srv/app 2>&1); install.sh said: $(grep -i acl <<<"$out")"

starts() { sd journalctl --no-pager -o cat -u peerwatch.service | grep -c '^Started peerwatch.service' || true; }
[ "$(starts)" -eq 1 ] || fail "peerwatch started $(starts) times by one install"
out2=$(install 2>&1) || fail "second install.sh: $out2"
grep -q "nothing changed" <<<"$out2" || fail "second run changed things: $out2"
[ "$(starts)" -eq 1 ] || fail "the second install restarted peerwatch"

# the SSH account, from the other namespace
ssh_opts=(-i "$T/peerkey" -o BatchMode=yes -o StrictHostKeyChecking=no
    -o UserKnownHostsFile=/dev/null -o ConnectTimeout=5 -o LogLevel=ERROR)
sshd_up() { ip netns exec "${NS[peer]}" bash -c "exec 3<>/dev/tcp/${ADDR[vps]}/22" 2>/dev/null; }
wait_until 15 sshd_up || fail "the box's sshd does not listen"
sftp_as() {
	ip netns exec "${NS[peer]}" sftp "${ssh_opts[@]}" -b - "pwpeers@${ADDR[vps]}" 2>&1
}
echo '{"server": {"port": 2}}' >"$T/new.json"
echo flag >"$T/flag"
out=$(printf 'put %s %s\nput %s %s\nget %s %s\n' "$T/new.json" "$APP.peerwatch-tmp-test" \
    "$T/flag" "$FLAGS/test.flag" "$APP" "$T/got.json" | sftp_as) ||
    fail "SFTP as pwpeers: $out"
sd test -f "$APP.peerwatch-tmp-test" || fail "no file written beside the guard"
cmp -s "$T/got.json" "$seed$APP" || fail "could not read the guarded file"
sd rm -f "$APP.peerwatch-tmp-test" "$FLAGS/test.flag"
if out=$(printf 'put %s /etc/pw-probe\n' "$T/flag" | sftp_as); then
	fail "pwpeers could write /etc: $out"
fi
sd test ! -e /etc/pw-probe || fail "/etc/pw-probe exists"
out=$(ip netns exec "${NS[peer]}" ssh "${ssh_opts[@]}" "pwpeers@${ADDR[vps]}" 'id; echo shell-ran' </dev/null 2>&1) || true
grep -q 'shell-ran\|uid=' <<<"$out" && fail "pwpeers ran a command: $out"
log "pwpeers: SFTP beside the guard and into the flag dir, not /etc, no command"

out=$(sd bash "$SRC/deploy/linux/uninstall.sh" 2>&1) || fail "uninstall.sh: $out"
for u in peerwatch.service peerwatch-revive.path peerwatch-flag-app.path peerwatch-sleep.service; do
	sd test ! -e "/etc/systemd/system/$u" || fail "$u still installed"
	[ "$(sd systemctl is-active "$u")" != active ] || fail "$u still active"
done
sd getent passwd pwpeers >/dev/null && fail "pwpeers not removed"
sd getent passwd peerwatch >/dev/null && fail "peerwatch user not removed"
sd getfacl -cp /srv/app | grep -q pwpeers && fail "ACL entry for pwpeers left on /srv/app"
sd test -f "$APP" || fail "the guarded file was removed"
sd test -f /etc/peerwatch/peers.conf || fail "the config was removed"
sd test ! -e /usr/local/sbin/peerwatch || fail "the binary is still there"
log "uninstall.sh: units, users, ACLs gone; config and guarded file kept"
pass
