#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# ollama_npm: the real ollama-js client (npm "ollama", installed once into
# the build tree) against alpha's endpoint: list, chat and generate with
# and without streaming, embed and a missing model behave as against
# Ollama; a mid-stream death makes it throw the error line; with alpha's
# Ollama killed every call still succeeds, through beta. Skips (77) only
# when node or npm is missing or the package cannot be installed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ollama_lib.sh"
pw_setup "$@"

command -v node >/dev/null 2>&1 || skip "needs node"
command -v npm >/dev/null 2>&1 || skip "needs npm"
NPMDIR=$(cd "$(dirname "$PW")/.." && pwd)/ollama-js
if [ ! -f "$NPMDIR/node_modules/ollama/package.json" ]; then
	mkdir -p "$NPMDIR"
	log "installing ollama-js with npm into $NPMDIR"
	timeout 150 npm install --no-audit --no-fund --silent \
	    --prefix "$NPMDIR" ollama@0.6 >"$T/npm.log" 2>&1 ||
	    skip "npm cannot install ollama: $(tail -n 3 "$T/npm.log")"
fi
log "ollama-js $("$PWJSON" version <"$NPMDIR/node_modules/ollama/package.json")"
cp "$PW_LIB_DIR/ollama_npm.mjs" "$NPMDIR/"
js() {
	node "$NPMDIR/ollama_npm.mjs" "http://${ADDR[alpha]}:17948" "$@"
}

ollama_mesh alpha beta
fake_start alpha tiny
fake_start beta tiny
ollama_up alpha beta

out=$(js all) || fail "ollama-js against alpha: $out"
# (list is the union of both: "alpha,beta")
[ "$(printf '%s\n' "$out" | sort -u | grep -v -e '^-$' -e '^alpha,beta$')" = alpha ] ||
    fail "not all answered by alpha: $out"

fake_set alpha '{"die_after":4}'
js midstream >/dev/null || fail "ollama-js did not see the mid-stream death"
fake_set alpha '{"die_after":null}'

fake_kill alpha
out=$(js all) || fail "ollama-js with alpha's Ollama dead: $out"
[ "$(printf '%s\n' "$out" | sort -u | grep -v '^-$')" = beta ] ||
    fail "not all answered by beta: $out"
pass
