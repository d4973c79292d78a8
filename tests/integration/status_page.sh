#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# status_page: the page at / of a live three-peer loopback mesh, rendered
# by headless Chromium (its DOM after the script ran): every peer listed
# alive; after a kill -9 the dead peer shows down on a fresh load within a
# deadline, and then in maintenance once held. Screenshots at desktop (1280x900) and phone (390x844) widths
# and the last DOM go to ARTIFACTS (the build tree's test-artifacts/, kept
# after the run).
# With a local service whose breaker opens, a peer's service and fake
# Ollamas, those sections show them. Also GET /events over curl: JSON, newest last, n's default, cap and
# errors, HEAD, and the page's files with their Content-Security-Policy.
# Usage: status_page.sh PEERWATCH PWJSON PWFORGE ARTIFACTS
. "$(dirname "$0")/lib.sh"
pw_setup "$@"
ART=${PW_ARGS[0]:?usage: status_page.sh PEERWATCH PWJSON PWFORGE ARTIFACTS}
command -v curl >/dev/null 2>&1 || fail "needs curl (deploy/deps.sh installs it)"
# Debian's chromium, Ubuntu's chromium-browser, Chrome; on macOS the apps
CHROMIUM=
for c in chromium chromium-browser google-chrome \
    /Applications/Chromium.app/Contents/MacOS/Chromium \
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome"; do
	if command -v "$c" >/dev/null 2>&1; then
		CHROMIUM=$c
		break
	fi
done
[ -n "$CHROMIUM" ] ||
    skip "needs headless Chromium (Debian: apt-get install chromium, which deploy/deps.sh does; macOS: brew install --cask chromium)"
mkdir -p "$ART"

# bounded where coreutils' timeout exists (macOS has none by default)
TIMEOUT=()
! command -v timeout >/dev/null 2>&1 || TIMEOUT=(timeout 60)

# chromium ARGS...: one headless run with a private profile
chromium_run() {
	"${TIMEOUT[@]}" "$CHROMIUM" --headless --no-sandbox --disable-gpu \
	    --no-first-run --disable-background-networking \
	    --disable-dev-shm-usage --disable-extensions --mute-audio \
	    --user-data-dir="$T/chromium" "$@" 2>>"$T/chromium.log"
}

# dom: the page's DOM after its first refresh, into DOM
dom() {
	DOM=$(chromium_run --virtual-time-budget=4000 --dump-dom "$URL/") || return 1
	printf '%s\n' "$DOM" >"$ART/dom.html" # the last one, for a failure
	grep -q 'data-ready="yes"' <<<"$DOM"
}

# page_shows PEER STATE: a fresh load lists PEER in STATE
page_shows() {
	dom || return 1
	grep -q "data-peer=\"$1\" data-state=\"$2\"" <<<"$DOM"
}

page_all_alive() {
	dom || return 1
	local p
	for p in beta gamma; do
		grep -q "data-peer=\"$p\" data-state=\"alive\"" <<<"$DOM" || return 1
	done
	grep -q 'data-peer="alpha" data-state="self"' <<<"$DOM"
}

# a PNG of more than a few hundred bytes
png_ok() {
	[ -s "$1" ] && [ "$(wc -c <"$1")" -gt 1000 ] &&
	    [ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]
}

# shot FILE W,H [CHROMIUM-ARGS...]
shot() {
	rm -f "$ART/$1"
	chromium_run --virtual-time-budget=4000 --hide-scrollbars \
	    --window-size="$2" "${@:3}" --screenshot="$ART/$1" "$URL/" >/dev/null ||
	    fail "chromium --screenshot $1 failed (see $T/chromium.log)"
	png_ok "$ART/$1" || fail "$ART/$1 is not a PNG"
	log "screenshot $ART/$1 ($2, $(($(wc -c <"$ART/$1"))) bytes)"
}

# http PATH [CURL-ARGS...]: body into BODY, status code into CODE
http() {
	local p=$1
	shift
	BODY=$(curl -sS --max-time 5 -w '\n%{http_code}' "$@" "$URL$p") || return 1
	CODE=${BODY##*$'\n'}
	BODY=${BODY%$'\n'*}
}

# nev: the number of events in BODY (a JSON array), into NEV
nev() {
	NEV=$(grep -c '^{' <<<"$BODY" || true)
	# the JSON agrees: element NEV-1 is there, NEV is not
	[ "$NEV" -eq 0 ] || [ "$(jget "$BODY" -d none "$((NEV - 1)).type")" != none ] ||
	    fail "BODY has no element $((NEV - 1))"
	[ "$(jget "$BODY" -d none "$NEV.type")" = none ] || fail "BODY has more than $NEV elements"
}

# a fake Ollama on alpha and beta; alpha watches a service that never
# starts (its breaker opens), beta one that is up (the port of its fake)
. "$(dirname "$0")/ollama_lib.sh"
ollama_mesh alpha beta gamma
URL=http://${ADDR[alpha]}:17947
cat >>"$T/peers.conf" <<EOF
[service dead@alpha]
probe = tcp://${ADDR[alpha]}:18089
interval = 200ms
timeout = 150ms
failures_before_restart = 1
start_grace = 200ms
restart = sh -c 'echo "cannot start: config broken" >&2; exit 3'
restart_timeout = 2s
breaker_failures = 2
breaker_window = 1m
breaker_cooldown = 10m

[service api@beta]
probe = tcp://${ADDR[beta]}:$OPORT
interval = 200ms
timeout = 150ms

EOF
fake_start alpha tiny,big tiny
fake_start beta tiny
start_all
wait_until 8 settled || fail "mesh did not come up"
breaker_open() {
	status alpha || return 1
	[ "$(jget "$ST" -d none services.dead.breaker)" = open ]
}
wait_until 10 breaker_open || fail "alpha's breaker for dead never opened"
wait_until 5 backend_sees alpha beta reported_up true || fail "alpha never heard beta's Ollama"
beta_api_up() {
	status alpha || return 1
	[ "$(jget "$ST" -d none peers.beta.services.api)" = u ]
}
wait_until 5 beta_api_up || fail "alpha does not see beta's service api up"

# --- the page's files and their headers -----------------------------------
for p in / /app.css /app.js; do
	H=$(curl -sS --max-time 5 -D - -o /dev/null "$URL$p") || fail "GET $p"
	grep -q '^HTTP/1.1 200' <<<"$H" || fail "GET $p: $(head -n 1 <<<"$H")"
	grep -qi "^content-security-policy: default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'" <<<"$H" ||
	    fail "GET $p: no strict Content-Security-Policy"
	grep -qi '^x-content-type-options: nosniff' <<<"$H" || fail "GET $p: no nosniff"
done
H=$(curl -sS --max-time 5 -D - -o /dev/null "$URL/app.js")
grep -qi '^content-type: text/javascript' <<<"$H" || fail "/app.js: wrong Content-Type"
http / && [ "$CODE" = 200 ] || fail "GET /: $CODE"
grep -q '<script src="/app.js"' <<<"$BODY" || fail "/ does not load /app.js"
! grep -qE '(src|href)="(https?:)?//' <<<"$BODY" || fail "/ loads an external asset"
http /app.js && ! grep -q 'innerHTML' <<<"$BODY" || fail "/app.js uses innerHTML"

# --- GET /events ----------------------------------------------------------
http /events && [ "$CODE" = 200 ] || fail "GET /events: $CODE"
[ "$(jget "$BODY" -d none 0.type)" = started ] ||
    fail "the oldest event is not 'started': $(head -c 300 <<<"$BODY")"
nev
[ "$NEV" -ge 3 ] || fail "GET /events: $NEV events, want the start and two peers alive"
# newest last: the file's last line is the array's last element (polled:
# an event may land between the two reads)
newest_is_files_last() {
	http /events && [ "$CODE" = 200 ] || return 1
	[ "$(printf '%s' "$BODY" | tail -n 2 | head -n 1)" = \
	    "$(tail -n 1 "$(events_file alpha)")" ]
}
wait_until 5 newest_is_files_last || fail "GET /events: the last element is not the file's last line"
http '/events?n=1' && [ "$CODE" = 200 ] || fail "GET /events?n=1: $CODE"
nev
[ "$NEV" -eq 1 ] || fail "n=1 gave $NEV events"
http '/events?n=0' && [ "$CODE" = 200 ] && [ "$BODY" = "[]" ] ||
    fail "GET /events?n=0: $CODE $BODY"
# 200 reloads (one event each) push the first events out of the 200 kept;
# one SIGHUP at a time, as pending signals of a kind merge into one
reloads() {
	grep -c '"type":"config_reloaded"' "$(events_file alpha)" || true
}
hup_until() {
	local want=$1 i
	kill -HUP "${PID[alpha]}"
	for i in $(seq 500); do
		[ "$(reloads)" -lt "$want" ] || return 0
		sleep 0.01
	done
	return 1
}
for i in $(seq 200); do
	hup_until "$i" || fail "reload $i was not logged"
done
log "200 reloads logged"
# markup in an event's text (a bad key quoted in a failed reload) must
# reach the page as text, never as elements
cp "$T/peers.conf" "$T/peers.conf.good"
awk '{ print } $0 == "[mesh]" { print "<b>pwxss</b> = 1" }' "$T/peers.conf.good" >"$T/peers.conf"
kill -HUP "${PID[alpha]}"
wait_until 5 grep -q config_reload_failed "$(events_file alpha)" ||
    fail "the bad reload was not logged"
cp "$T/peers.conf.good" "$T/peers.conf"
more_than_200() {
	http '/events?n=100000' && [ "$CODE" = 200 ] || return 1
	nev
	[ "$NEV" -eq 200 ]
}
wait_until 20 more_than_200 || fail "GET /events?n=100000: not capped at 200"
http '/events?x=1&n=200' && nev && [ "$NEV" -eq 200 ] ||
    fail "n=200 after another parameter: $NEV events"
http '/events?x=1' && nev && [ "$NEV" -eq 50 ] ||
    fail "GET /events without n: $NEV events, want 50"
wait_until 5 newest_is_files_last || fail "after 200 events the last element is not the file's last line"
http '/events?n=200' && [ "$(jget "$BODY" 0.type)" != started ] ||
    fail "the oldest event was not dropped from the 200 kept"
for bad in 'n=' 'n=abc' 'n=-1' 'n=5x' 'n=1e3'; do
	http "/events?$bad" || fail "GET /events?$bad: no answer"
	[ "$CODE" = 400 ] || fail "GET /events?$bad: $CODE, want 400"
done
H=$(curl -sS --max-time 5 -I "$URL/events") || fail "HEAD /events"
grep -q '^HTTP/1.1 200' <<<"$H" && grep -qi '^content-length: [1-9]' <<<"$H" ||
    fail "HEAD /events: $H"
[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H 'Host: evil.example' "$URL/events")" = 403 ] ||
    fail "GET /events with a foreign Host is not 403"
[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST "$URL/events")" = 405 ] ||
    fail "POST /events is not 405"
wait_until 10 settled || fail "the mesh did not settle after the reloads"

# --- the page in Chromium -------------------------------------------------
wait_until 60 page_all_alive || fail "the page does not list beta and gamma alive"
grep -q '<table id="events"' <<<"$DOM" || fail "no events table"
grep -q 'config_reloaded' <<<"$DOM" || fail "the page lists no events"
grep -q 'unknown key "&lt;b&gt;pwxss&lt;/b&gt;"' <<<"$DOM" || {
	grep -o ".\{0,80\}pwxss.\{0,80\}" <<<"$DOM" >&2
	fail "the failed reload's detail is not on the page as text"
}
! grep -q '<b>pwxss' <<<"$DOM" || fail "an event's text became an element"
# this host's service and its breaker, beta's reported service, the
# Ollama backends with their models, the breaker's incident
grep -q '<tr data-service="dead" data-state="down">' <<<"$DOM" || fail "the page does not show service dead down"
grep -o '<tr data-service="dead".*</tr>' <<<"$DOM" | sed 's|</tr>.*||' | grep -q '>open<' ||
    fail "the page does not show dead's breaker open"
grep -o '<tr class="peer" data-peer="beta".*</tr>' <<<"$DOM" | sed 's|</tr>.*||' |
    grep -q '>api up<' || fail "the page does not show beta's service api up"
grep -q '<section id="ollama-section">' <<<"$DOM" || fail "the Ollama section is hidden"
grep -o '<tr data-backend="alpha">.*</tr>' <<<"$DOM" | sed 's|</tr>.*||' |
    grep -q '>big:latest, tiny:latest<' || fail "alpha's backend does not list its models"
grep -q '<tr data-backend="beta">' <<<"$DOM" || fail "no row for beta's backend"
grep -q '>circuit_open<' <<<"$DOM" || fail "the page shows no circuit_open incident"
log "the page lists all three peers, services, breakers, backends and incidents"
shot desktop.png 1280,900
shot phone.png 390,844
shot desktop-dark.png 1280,900 --force-dark-mode

pw_now
t_kill=$NOW_MS
kill_peer gamma KILL
wait_until 60 page_shows gamma down || fail "the page does not show gamma down"
pw_now
log "the page shows gamma down $((NOW_MS - t_kill)) ms after the kill"
grep -q 'data-peer="beta" data-state="alive"' <<<"$DOM" || fail "beta is no longer alive on the page"
shot desktop-down.png 1280,900
shot phone-down.png 390,844

# a maintenance hold on the dead peer: shown as such, with its end
pw_cli alpha maintenance on --peer gamma --for 1h >/dev/null || fail "maintenance on failed"
wait_until 30 page_shows gamma maintenance || fail "the page does not show gamma in maintenance"
grep -q '>maintenance: gamma until ' <<<"$DOM" || fail "the page does not list the hold"
log "the page shows gamma in maintenance"
pass
