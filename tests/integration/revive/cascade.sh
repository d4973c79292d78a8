#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# revive/cascade (scenario 2): the backup cascade past .bak. First death:
# the file and {file}.bak are corrupt, so {file}.bak.1 is installed. Then,
# with gamma healthy again on a new valid config that alpha has pulled into
# its mesh store (a mesh_backup event), second death: the file, .bak and
# .bak.1 are all corrupt, so alpha's `mesh` copy is installed.
set -euo pipefail
. "$(dirname "$0")/revive_lib.sh"
rv_setup "$@"

RV_SSH=gamma rv_mesh alpha beta gamma
rv_guard app gamma
f=$(rv_file app gamma)
rv_sshd_start gamma
rv_watch gamma
rv_start_all
wait_until 10 settled || fail "mesh did not come up"

# kill_and_wait N CMD...: kill -9 gamma, run CMD, wait for its Nth revive_ok at alpha
kill_and_wait() {
	local n=$1 old_pid
	shift
	old_pid=$(rv_pid gamma)
	rv_kill9 gamma
	"$@"
	wait_until 30 rv_restarted gamma "$old_pid" ||
	    fail "gamma was not restarted by its revive flag"
	wait_until 15 all_alive || fail "gamma not alive again everywhere"
	wait_until 5 rv_ev_has_at_least alpha revive_ok "$n" gamma ||
	    fail "alpha: no revive_ok number $n"
}

# the source of alpha's Nth config_restored event (1-based)
restored_source() {
	rv_ev alpha type source | awk -F'\t' -v n="$1" \
	    '$1 == "config_restored" && ++k == n { print $2 }'
}

corrupt_file_and_bak() {
	rv_corrupt "$f"
	rv_corrupt "$f.bak"
}
kill_and_wait 1 corrupt_file_and_bak
[ "$(restored_source 1)" = "$f.bak.1" ] ||
    fail "first restore from '$(restored_source 1)', want $f.bak.1"
cmp -s "$f" "$f.bak.1" || fail "$f does not hold the .bak.1 content"
log "first death: restored from .bak.1"

# a new valid config on the healthy gamma; wait until alpha has pulled it
# into its mesh store (a pull already under way may store the old one first)
store=$T/alpha/state/mesh/gamma/app
newest_copy_is() {
	local latest
	latest=$(find "$store" -name '*.json' 2>/dev/null | sort | tail -n 1)
	[ -n "$latest" ] && cmp -s "$latest" "$1"
}
pulls=$(ev_count alpha mesh_backup gamma)
rv_valid_json meshcopy >"$T/meshcopy.json"
cp "$T/meshcopy.json" "$f"
wait_until 15 newest_copy_is "$T/meshcopy.json" ||
    fail "alpha did not pull gamma's new config into its mesh store"
# the copy is on disk a moment before the daemon logs it
wait_until 5 rv_ev_has_at_least alpha mesh_backup $((pulls + 1)) gamma ||
    fail "alpha stored a mesh copy without a mesh_backup event"
log "alpha pulled gamma's config into $store"

corrupt_all_local() {
	rv_corrupt "$f"
	rv_corrupt "$f.bak"
	rv_corrupt "$f.bak.1"
}
kill_and_wait 2 corrupt_all_local
src=$(restored_source 2)
case $src in
mesh:"$store"/*) ;;
*) fail "second restore from '$src', want mesh:$store/..." ;;
esac
cmp -s "$f" "$T/meshcopy.json" || fail "$f does not hold the mesh copy"
log "second death: restored from $src"

[ "$(ls "$f".broken-* | wc -l)" -eq 2 ] || fail "want two broken copies: $(ls "$f".broken-*)"
steps=$(rv_steps alpha gamma | tr '\n' ' ')
one="revive_start config_invalid config_restored flag_dropped revive_ok "
[ "$steps" = "$one$one" ] || fail "alpha's revive events for gamma: $steps"
rv_pass
