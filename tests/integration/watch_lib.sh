# SPDX-License-Identifier: ISC
# watch_lib.sh: what the local-watch scenarios share on top of lib.sh.
# Sourced after `pw_setup` and `mesh_loopback`: pwsvc.py (a small real
# HTTP service, tests/tools) in $SVC, its processes killed by PID when the
# test ends, and the service state of alpha's /status.

PWSVC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../tools" && pwd)/pwsvc.py
command -v python3 >/dev/null 2>&1 || skip "needs python3"
SVC=$T/svc
mkdir -p "$SVC"

# every pwsvc started (by the test or by a restart), by PID
pw_test_cleanup() {
	local p
	[ -f "$SVC/starts" ] || return 0
	while read -r p; do
		kill -KILL "$p" 2>/dev/null
	done <"$SVC/starts"
}

# sv NAME FIELD: alpha's /status services.NAME.FIELD ("none" if absent)
sv() {
	status alpha || return 1
	jget "$ST" -d none "services.$1.$2"
}

sv_is() {
	[ "$(sv "$1" "$2")" = "$3" ]
}
