#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# http_limits: the status HTTP server's bounds (issue 13 items 11, 14, 15),
# against a real daemon on a loopback address:
#  - HEAD answers with the headers of GET, Content-Length included, and no
#    body;
#  - the Host header must name this host: an IP literal, localhost or a name
#    from peers.conf; another name is 403, none at all (HTTP/1.1) is 400;
#  - one byte every 2 s does not keep a connection: it is cut at the
#    absolute 10 s deadline;
#  - idle connections beyond the cap (32) are not accepted, and a request
#    waiting behind them is served once the deadline frees the slots;
#  - out of descriptors (ulimit -n), accept() fails with EMFILE: the daemon
#    neither spins nor floods its log, and serves again once descriptors
#    are free.
. "$(dirname "$0")/lib.sh"
pw_setup "$@"
command -v curl >/dev/null 2>&1 || fail "needs curl (deploy/deps.sh installs it)"
[ -d /proc/self/fd ] || skip "needs /proc to count the daemon's sockets"
trap '' PIPE # a write to a connection the server cut fails, not kills us

CAP=32
DEADLINE_MS=10000

# http_code [CURL-ARGS...]: the status code of GET /status
http_code() {
	curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@" \
	    "http://$A:17947/status"
}

# raw REQUEST: the whole answer to REQUEST (printf format) into RESP
raw() {
	exec 3<>"/dev/tcp/$A/17947" || return 1
	# shellcheck disable=SC2059
	printf "$1" >&3
	RESP=$(cat <&3; echo .) # the dot keeps trailing newlines
	RESP=${RESP%.}
	exec 3<&-
}

# sockets: the number of sockets the daemon holds, into NSOCK
sockets() {
	NSOCK=$(ls -l "/proc/${PID[alpha]}/fd" 2>/dev/null | grep -c 'socket:')
}

sockets_at_most() {
	sockets
	[ "$NSOCK" -le "$1" ]
}

sockets_are() {
	sockets
	[ "$NSOCK" -eq "$1" ]
}

mesh_loopback alpha beta
A=${ADDR[alpha]}
start alpha
start beta
wait_until 5 settled || fail "mesh did not come up"

# --- HEAD ---------------------------------------------------------------
raw "GET /status HTTP/1.1\r\nHost: $A\r\n\r\n" || fail "no answer to GET"
glen=$(printf '%s' "$RESP" | tr -d '\r' | awk -F': ' \
    'tolower($1) == "content-length" { print $2 }')
raw "HEAD /status HTTP/1.1\r\nHost: $A\r\n\r\n" || fail "no answer to HEAD"
hlen=$(printf '%s' "$RESP" | tr -d '\r' | awk -F': ' \
    'tolower($1) == "content-length" { print $2 }')
body=${RESP#*$'\r\n\r\n'}
log "GET: Content-Length $glen; HEAD: Content-Length $hlen, body ${#body} bytes"
case $RESP in "HTTP/1.1 200 "*) ;; *) fail "HEAD: ${RESP%%$'\r'*}" ;; esac
[ -n "$hlen" ] && [ "$hlen" -gt 0 ] || fail "HEAD without Content-Length"
[ -z "$body" ] || fail "HEAD answered with a body of ${#body} bytes"

# --- Host -----------------------------------------------------------------
for h in "$A" "$A:17947" localhost localhost:17947 LOCALHOST. 127.0.0.1 \
    "[::1]:17947" alpha "beta:80"; do
	c=$(http_code -H "Host: $h")
	[ "$c" = 200 ] || fail "Host: $h got $c, want 200"
done
for h in evil.example evil.example:17947 "alpha.evil.example" "127.0.0.1.nip.io" "[::1"; do
	c=$(http_code -H "Host: $h")
	[ "$c" = 403 ] || fail "Host: $h got $c, want 403"
done
c=$(http_code -H "Host:")
[ "$c" = 400 ] || fail "HTTP/1.1 without Host got $c, want 400"
c=$(http_code --http1.0 -H "Host:")
[ "$c" = 200 ] || fail "HTTP/1.0 without Host got $c, want 200"
# bare LF line ends, a header after Host
raw "GET /status HTTP/1.1\nHost: localhost\nUser-Agent: t:1\n\n" ||
    fail "no answer to a request with LF line ends"
case $RESP in "HTTP/1.1 200 "*) ;; *) fail "LF line ends: ${RESP%%$'\r'*}" ;; esac
log "Host: literals, localhost and peers.conf names pass; others 403"

# --- one byte every 2 s -------------------------------------------------
exec 3<>"/dev/tcp/$A/17947" || fail "connect failed"
pw_now
t0=$NOW_MS
printf 'GET /status HTTP/1.1\r\n' >&3
cut=0
for ((i = 0; i < 12; i++)); do
	# EOF (1) or any byte (0) from the server: it cut us; >128: timeout
	rc=0
	read -r -t 2 -u 3 _ || rc=$?
	if [ "$rc" -le 128 ]; then
		cut=1
		break
	fi
	printf 'X' >&3 2>/dev/null || { cut=1; break; }
done
pw_now
exec 3<&-
held=$((NOW_MS - t0))
log "a connection sending one byte every 2 s was held $held ms"
[ "$cut" = 1 ] || fail "a trickling connection was never cut ($held ms)"
[ "$held" -le $((DEADLINE_MS + 2500)) ] ||
    fail "a trickling connection was cut only after $held ms"

# --- the cap ------------------------------------------------------------
wait_until 5 sockets || fail "cannot count alpha's sockets"
base=$NSOCK
open_idle "$A:17947" 20 $((CAP + 8))
pw_now
t0=$NOW_MS
wait_until 3 sockets_are $((base + CAP)) ||
    fail "alpha holds $NSOCK sockets, want $base + $CAP"
hold 1 sockets_at_most $((base + CAP)) ||
    fail "alpha holds $NSOCK sockets, over $base + the cap $CAP"
# served once the deadline has cut the idle ones
c=$(curl -s -o /dev/null -w '%{http_code}' --max-time 25 "http://$A:17947/metrics")
pw_now
log "behind $((CAP + 8)) idle connections, /metrics answered $c after $((NOW_MS - t0)) ms"
[ "$c" = 200 ] || fail "/metrics behind idle connections: $c"
close_idle 20 $((CAP + 8))
wait_until 12 sockets_are "$base" || fail "alpha still holds $NSOCK sockets"

# --- out of descriptors ---------------------------------------------------
kill_peer alpha TERM
start alpha sh -c 'ulimit -n 40 && exec "$0" "$@"'
wait_until 5 settled || fail "alpha did not come back"
wait_until 5 sockets || fail "cannot count alpha's sockets"
nfd=$(ls "/proc/${PID[alpha]}/fd" | wc -l)
log "alpha runs with ulimit -n 40 and $nfd descriptors open"
size0=$(wc -c <"$T/alpha.log")
open_idle "$A:17947" 20 40
hold 3 true
size1=$(wc -c <"$T/alpha.log")
nfd=$(ls "/proc/${PID[alpha]}/fd" | wc -l)
log "40 connections: alpha at $nfd descriptors; its log grew $((size1 - size0)) bytes in 3 s"
grep -q 'status_listen.*accept: Too many open files' "$T/alpha.log" ||
    fail "alpha did not log running out of descriptors"
[ $((size1 - size0)) -lt 4096 ] ||
    fail "alpha's log grew $((size1 - size0)) bytes in 3 s"
close_idle 20 40
wait_until 15 eval '[ "$(http_code)" = 200 ]' ||
    fail "alpha does not serve again after the descriptors came back"
size2=$(wc -c <"$T/alpha.log")
log "serving again; the log grew $((size2 - size0)) bytes in all"
pass
