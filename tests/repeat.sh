#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# repeat.sh [N] [--here]: run every test (ctest: unit and integration) N
# times in a row (default 10) in both build trees, to find the test that
# fails one run in N. By default it works in a fresh clone of HEAD under
# $TMPDIR (what CI sees: committed files only); --here uses this checkout's
# build and build-asan. Prints one line per run and a closing
# "N passed, N failed"; the log of every failed run is kept and named.
# `make test-repeat N=10` runs it.
set -euo pipefail

n=10
here=0
for a in "$@"; do
	case $a in
	--here) here=1 ;;
	-h | --help)
		sed -n '3,9p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*[!0-9]* | '') echo "repeat.sh: bad argument '$a'" >&2; exit 2 ;;
	*) n=$a ;;
	esac
done
[ "$n" -ge 1 ] && [ "$n" -le 100 ] || { echo "repeat.sh: N must be 1-100" >&2; exit 2; }

src=$(cd "$(dirname "$0")/.." && pwd)
logs=$(mktemp -d "${TMPDIR:-/tmp}/pw-repeat.XXXXXX")
if [ $here = 0 ]; then
	git clone -q "$src" "$logs/src"
	src=$logs/src
	echo "repeat: fresh clone of $(git -C "$src" rev-parse --short HEAD) in $src"
fi
make -C "$src" --no-print-directory build asan WERROR=ON >"$logs/build.log" 2>&1 ||
    { tail -n 20 "$logs/build.log" >&2; echo "repeat: build failed" >&2; exit 1; }

pass=0 failed=0
for i in $(seq 1 "$n"); do
	for tree in build build-asan; do
		log=$logs/run$i-$tree.log
		t0=$SECONDS
		if (cd "$src/$tree" && ctest --output-on-failure -j "$(nproc 2>/dev/null || echo 2)") \
		    >"$log" 2>&1; then
			pass=$((pass + 1))
			echo "run $i $tree: ok ($((SECONDS - t0)) s)"
			rm -f "$log"
		else
			failed=$((failed + 1))
			echo "run $i $tree: FAILED ($((SECONDS - t0)) s): $(grep -E '^\s+[0-9]+ - ' "$log" | tr -s ' ' | tr '\n' ';')"
			echo "   log: $log"
		fi
	done
done
[ $here = 1 ] || [ $failed -gt 0 ] || rm -rf "$logs"
echo "repeat: $n rounds x 2 trees (build, build-asan)"
echo "$pass passed, $failed failed"
[ $failed -eq 0 ]
