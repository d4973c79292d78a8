#!/bin/bash
# SPDX-License-Identifier: ISC
# install.sh: install peerwatch on macOS under launchd (as root).
#
#   deploy/macos/install.sh [--from BUILD_DIR | --prefix PREFIX]
#       [-c peers.conf] [--name NAME] [--no-start] [--dry-run] [--root DIR]
#   deploy/macos/install.sh --uninstall [--purge] [--dry-run] [--root DIR]
#
# Dependencies first, as your user (Homebrew refuses root):
#   brew install cmake pkg-config libevent libsodium curl jansson libssh inih cmocka
# (or the formula: brew install --build-from-source deploy/macos/peerwatch.rb)
#
# Installs, each step only when needed (a second run changes nothing):
# /etc/peerwatch (0750), state_dir and the flag directories; the binary and
# man pages from a build tree (--from) or the ones `make install` put in
# PREFIX; -c FILE as /etc/peerwatch/peers.conf after `peerwatch
# check-config` accepted it (an invalid config stops the install with its
# errors, nothing changed); the launchd jobs `peerwatch deploy-units
# --macos` writes (com.peerwatch.peerwatch with RunAtLoad and KeepAlive,
# the WatchPaths revive jobs) into /Library/LaunchDaemons (root:wheel 0644,
# or launchd ignores them); the newsyslog entry; the log directory
# /usr/local/var/log/peerwatch. Then `launchctl bootstrap system` for each
# job not loaded yet (not with --no-start); a job whose plist changed is
# booted out and in again. A file edited by hand is kept as
# FILE.peerwatch-old-<time> before it is replaced. Everything added is
# listed in /etc/peerwatch/.installed; --uninstall removes exactly that
# (never the config or state_dir unless --purge).
#
# --root DIR: everything under DIR, launchctl and chown printed, not run.
# Runs under macOS's bash 3.2 and BSD tools.
#
# Not done here yet: the restricted SSH account (--ssh-account of the
# Linux script); on macOS create it with sysadminctl and give it rights
# with `chmod +a "user:NAME allow ..."`.
set -eu

ME=install.sh
SRC=$(cd "$(dirname "$0")/../.." && pwd)
ROOT=
FROM=
PREFIX=/usr/local
CONF_IN=
NAME=
START=1
DRY=0
UNINSTALL=0
PURGE=0

while [ $# -gt 0 ]; do
	case $1 in
	--from) FROM=${2:?}; shift ;;
	--prefix) PREFIX=${2:?}; shift ;;
	-c | --config) CONF_IN=${2:?}; shift ;;
	--name) NAME=${2:?}; shift ;;
	--no-start) START=0 ;;
	--dry-run) DRY=1 ;;
	--root) ROOT=${2:?}; shift ;;
	--uninstall) UNINSTALL=1 ;;
	--purge) PURGE=1 ;;
	-h | --help) sed -n '3,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "$ME: unknown argument: $1" >&2; exit 2 ;;
	esac
	shift
done

if [ -n "$ROOT" ]; then
	[ -d "$ROOT" ] || die "--root $ROOT: not a directory"
	ROOT=$(cd "$ROOT" && pwd -P)
	[ "$ROOT" != / ] || ROOT=
fi
[ -n "$ROOT" ] || [ "$(id -u)" -eq 0 ] || [ "$DRY" -eq 1 ] ||
	die "run as root: sudo $0 (or --root DIR, --dry-run)"

MANIFEST=$ROOT/etc/peerwatch/.installed
LAUNCHD=/Library/LaunchDaemons
TMP=$(mktemp -d "${TMPDIR:-/tmp}/pw-install.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
. "$(dirname "$0")/../install-lib.sh"
: >"$TMP/manifest.new"
# launchd loads only root:wheel plists; the rest follows suit
PUT_OWNER=root:wheel

# --- uninstall ----------------------------------------------------------------
if [ "$UNINSTALL" -eq 1 ]; then
	[ -f "$MANIFEST" ] || die "$MANIFEST: nothing installed by install.sh"
	while read -r kind a _; do
		[ "$kind" = loaded ] && act launchctl bootout "system/$a"
	done <"$MANIFEST"
	uninstall_files "$PURGE"
	uninstall_dirs "$PURGE"
	note "done"
	exit 0
fi

# --- install ------------------------------------------------------------------
if [ -n "$FROM" ]; then
	PW=$FROM/peer/peerwatch
	[ -x "$PW" ] || die "--from $FROM: no peer/peerwatch there (build first)"
	BIN=/usr/local/sbin/peerwatch
else
	BIN=$PREFIX/sbin/peerwatch
	PW=$ROOT$BIN
	[ -x "$PW" ] || die "$PW: missing; run \`sudo make install PREFIX=$PREFIX\` or give --from BUILD_DIR"
fi

# 1. the config, checked before anything changes
CONF_DEST=/etc/peerwatch/peers.conf
CONF=
if [ -n "$CONF_IN" ]; then
	[ -f "$CONF_IN" ] || die "-c $CONF_IN: no such file"
	CONF=$CONF_IN
elif [ -f "$ROOT$CONF_DEST" ]; then
	CONF=$ROOT$CONF_DEST
fi
if [ -n "$CONF" ]; then
	if ! out=$("$PW" check-config -c "$CONF" 2>&1); then
		printf '%s\n' "$out" >&2
		die "$CONF is not valid (above); nothing installed or started"
	fi
	# bash 3.2 + set -u: no empty arrays; the name goes in as two words
	set -- -c "$CONF"
	[ -z "$NAME" ] || set -- "$@" --name "$NAME"
	"$PW" deploy-units --paths "$@" >"$TMP/paths" ||
		die "$CONF: this host is not in it (give --name NAME or its key)"
	mkdir "$TMP/units"
	"$PW" deploy-units --macos "$@" --bin "$BIN" \
	    --unit-config "$CONF_DEST" -o "$TMP/units" >/dev/null
fi

# 2. directories
ensure_dir /etc/peerwatch 0750
ensure_dir /usr/local/var/log/peerwatch 0755
if [ -n "$CONF" ]; then
	ensure_state_dirs
fi

# 3. binary, man pages, config
[ -z "$FROM" ] || install_from_build "$SRC" "$PW"
[ -z "$CONF_IN" ] || put "$CONF_IN" "$CONF_DEST" 0640 conf

# 4. launchd jobs and the newsyslog entry
: >"$TMP/reload"
if [ -n "$CONF" ]; then
	ensure_dir "$LAUNCHD" 0755
	for u in "$TMP"/units/*.plist; do
		b=$(basename "$u")
		before=$CHANGES
		put "$u" "$LAUNCHD/$b" 0644
		[ "$CHANGES" -eq "$before" ] || echo "${b%.plist}" >>"$TMP/reload"
	done
	ensure_dir /etc/newsyslog.d 0755
	put "$TMP/units/peerwatch.newsyslog.conf" /etc/newsyslog.d/peerwatch.conf 0644
fi

# 5. the manifest
manifest_write

# 6. load
if [ -z "$CONF" ]; then
	note "no $CONF_DEST yet: create this host's key (sudo peerwatch keygen -o /etc/peerwatch/key),"
	note "write the config (start from $SRC/deploy/peers.conf.example), then run again"
elif [ "$START" -eq 1 ]; then
	for u in "$TMP"/units/*.plist; do
		label=$(basename "$u" .plist)
		if [ -n "$ROOT" ] || [ "$DRY" -eq 1 ]; then
			act launchctl bootstrap system "$LAUNCHD/$label.plist"
			continue
		fi
		if launchctl print "system/$label" >/dev/null 2>&1; then
			grep -qxF "$label" "$TMP/reload" || continue
			changed "reload $label (its plist changed)"
			launchctl bootout "system/$label" || true
		else
			changed "load $label"
		fi
		launchctl bootstrap system "$LAUNCHD/$label.plist"
		in_manifest "loaded $label" || echo "loaded $label" >>"$MANIFEST"
	done
fi
if [ "$CHANGES" -eq 0 ]; then
	note "nothing changed"
else
	note "$CHANGES changes${ROOT:+ under $ROOT}"
fi
