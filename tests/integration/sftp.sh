#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
#
# sftp.sh: heal/sftp against a real OpenSSH sshd. Starts a private sshd on
# 127.0.0.1 (a free port, keys and config in a temp dir), then runs the
# test binary given as $1 with PW_SFTP_* describing it. A second port
# serves an sftp-server whose posix-rename extension is hidden, for the
# rename fallback. Cleans up only the sshd it started, by PID.
# Exit 77 (ctest SKIP) without sshd.
set -euo pipefail

TEST_BIN=${1:?usage: sftp.sh path/to/sftp_test}
SSHD=${SSHD:-/usr/sbin/sshd}
[ -x "$SSHD" ] || { echo "SKIP: no $SSHD"; exit 77; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/pw-sftp.XXXXXX")
SSHD_PID=

# every process under pid (sshd's per-connection children)
descendants() {
	local c
	for c in $(pgrep -P "$1" 2>/dev/null || true); do
		echo "$c"
		descendants "$c"
	done
}

cleanup() {
	local rc=$? p
	set +e
	trap '' PIPE # a closed stdout must not stop the cleanup
	if [ -n "$SSHD_PID" ]; then
		# a stopped process acts on SIGTERM only once continued
		for p in $(descendants "$SSHD_PID"); do
			kill -CONT "$p" 2>/dev/null || true
		done
		kill -CONT "$SSHD_PID" 2>/dev/null || true
		kill -TERM "$SSHD_PID" 2>/dev/null || true
		wait "$SSHD_PID" 2>/dev/null || true
	fi
	if [ "$rc" -ne 0 ] && [ -f "$TMP/sshd.log" ]; then
		echo "--- sshd log (tail) ---"
		tail -n 40 "$TMP/sshd.log" || true
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT

port_in_use() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# poll until port accepts, sshd dies, or 5 s pass
wait_port() {
	local deadline=$((SECONDS + 5))
	until port_in_use "$1"; do
		kill -0 "$SSHD_PID" 2>/dev/null || return 1
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.05
	done
}

ssh-keygen -q -t ed25519 -N '' -C hostkey -f "$TMP/hostkey"
ssh-keygen -q -t ed25519 -N '' -C client -f "$TMP/clientkey"
ssh-keygen -q -t ed25519 -N '' -C stranger -f "$TMP/badkey"
cp "$TMP/clientkey.pub" "$TMP/authorized_keys"
mkdir -p "$TMP/scratch"
mkdir -p /run/sshd 2>/dev/null || true

# sftp-server behind a filter that drops posix-rename@openssh.com from
# its VERSION reply (OpenSSH always advertises it otherwise) and writes
# the type of every request the client sends to a log, one a line, so a
# test can tell SETSTAT (by path) from FSETSTAT (on a handle)
SFTP_SERVER=
for s in /usr/lib/openssh/sftp-server /usr/libexec/openssh/sftp-server \
    /usr/libexec/sftp-server /usr/lib/ssh/sftp-server; do
	if [ -x "$s" ]; then SFTP_SERVER=$s; break; fi
done
PYTHON=$(command -v python3 || true)
cat >"$TMP/noposix.py" <<'EOF'
import os, subprocess, sys, threading

srv = subprocess.Popen([sys.argv[1]], stdin=subprocess.PIPE,
                       stdout=subprocess.PIPE, bufsize=0)

def upstream():
    while True:
        b = os.read(0, 65536)
        if not b:
            srv.stdin.close()
            return
        srv.stdin.write(b)

def readn(n):
    out = b""
    while len(out) < n:
        b = srv.stdout.read(n - len(out))
        if not b:
            sys.exit(0)
        out += b
    return out

def upstream_logged(log):
    buf = b""
    while True:
        b = os.read(0, 65536)
        if not b:
            srv.stdin.close()
            return
        buf += b
        with open(log, "a") as f:
            while len(buf) >= 5:
                n = int.from_bytes(buf[:4], "big")
                if len(buf) < 4 + n:
                    break
                f.write("%d\n" % buf[4])
                buf = buf[4 + n:]
        srv.stdin.write(b)

if len(sys.argv) > 2:
    threading.Thread(target=upstream_logged, args=(sys.argv[2],),
                     daemon=True).start()
else:
    threading.Thread(target=upstream, daemon=True).start()
body = readn(int.from_bytes(readn(4), "big"))
out, i = body[:5], 5
while i < len(body):
    pair = []
    for _ in range(2):
        n = int.from_bytes(body[i:i + 4], "big")
        pair.append(body[i:i + 4 + n])
        i += 4 + n
    if pair[0][4:] != b"posix-rename@openssh.com":
        out += pair[0] + pair[1]
os.write(1, len(out).to_bytes(4, "big") + out)
while True:
    b = os.read(srv.stdout.fileno(), 65536)
    if not b:
        break
    os.write(1, b)
EOF

write_config() {
	cat >"$TMP/sshd_config" <<EOF
ListenAddress 127.0.0.1
Port $PORT
Port $PORT2
HostKey $TMP/hostkey
AuthorizedKeysFile $TMP/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PidFile $TMP/sshd.pid
StrictModes no
Subsystem sftp internal-sftp
UsePAM no
PermitRootLogin yes
LogLevel VERBOSE
EOF
	if [ -n "$SFTP_SERVER" ] && [ -n "$PYTHON" ]; then
		cat >>"$TMP/sshd_config" <<EOF
Match LocalPort $PORT2
	ForceCommand $PYTHON $TMP/noposix.py $SFTP_SERVER $TMP/requests.log
EOF
	fi
}

# a random free pair of ports; retry if sshd loses a race for them
for try in 1 2 3 4 5 6 7 8 9 10; do
	PORT=$((20000 + RANDOM % 40000))
	PORT2=$((PORT + 1))
	if port_in_use "$PORT" || port_in_use "$PORT2"; then continue; fi
	write_config
	"$SSHD" -t -f "$TMP/sshd_config"
	"$SSHD" -D -e -f "$TMP/sshd_config" 2>>"$TMP/sshd.log" &
	SSHD_PID=$!
	if wait_port "$PORT" && wait_port "$PORT2"; then break; fi
	kill -TERM "$SSHD_PID" 2>/dev/null || true
	wait "$SSHD_PID" 2>/dev/null || true
	SSHD_PID=
done
[ -n "$SSHD_PID" ] || { echo "FAIL: sshd did not start"; exit 1; }

cat >"$TMP/freeze.sh" <<EOF
#!/usr/bin/env bash
# freeze.sh stop|cont-listener|sessions: SIGSTOP/SIGCONT our sshd
set -eu
$(declare -f descendants)
case \$1 in
stop-listener) kill -STOP $SSHD_PID ;;
cont-listener) kill -CONT $SSHD_PID ;;
stop-sessions) for p in \$(descendants $SSHD_PID); do kill -STOP \$p; done ;;
cont-sessions) for p in \$(descendants $SSHD_PID); do kill -CONT \$p; done ;;
*) exit 2 ;;
esac
EOF
chmod +x "$TMP/freeze.sh"

# end a hung test here, before ctest's TIMEOUT kills us and our sshd
LIMIT=
if command -v timeout >/dev/null; then LIMIT="timeout -k 5 100"; fi

FPR=$(ssh-keygen -lf "$TMP/hostkey.pub" -E sha256 | awk '{print $2}')
NOPOSIX_PORT=
if [ -n "$SFTP_SERVER" ] && [ -n "$PYTHON" ]; then NOPOSIX_PORT=$PORT2; fi

PW_SFTP_HOST=127.0.0.1 \
PW_SFTP_PORT=$PORT \
PW_SFTP_NOPOSIX_PORT=$NOPOSIX_PORT \
PW_SFTP_USER=$(id -un) \
PW_SFTP_KEY=$TMP/clientkey \
PW_SFTP_BADKEY=$TMP/badkey \
PW_SFTP_FPR=$FPR \
PW_SFTP_HOSTPUB=$TMP/hostkey.pub \
PW_SFTP_CLIENTPUB=$TMP/clientkey.pub \
PW_SFTP_SCRATCH=$TMP/scratch \
PW_SFTP_FREEZE=$TMP/freeze.sh \
PW_SFTP_SSHD_LOG=$TMP/sshd.log \
PW_SFTP_REQUEST_LOG=$TMP/requests.log \
    $LIMIT "$TEST_BIN"
