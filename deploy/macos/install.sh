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

die() {
	echo "$ME: $*" >&2
	exit 1
}
note() { echo "$ME: $*"; }

if [ -n "$ROOT" ]; then
	[ -d "$ROOT" ] || die "--root $ROOT: not a directory"
	ROOT=$(cd "$ROOT" && pwd -P)
	[ "$ROOT" != / ] || ROOT=
fi
[ -n "$ROOT" ] || [ "$(id -u)" -eq 0 ] || [ "$DRY" -eq 1 ] ||
	die "run as root: sudo $0 (or --root DIR, --dry-run)"

# portable to macOS and Linux (the tests run it on Linux)
sha() {
	if command -v shasum >/dev/null 2>&1; then
		shasum -a 256 "$1" | cut -d' ' -f1
	else
		sha256sum "$1" | cut -d' ' -f1
	fi
}
mode_of() {
	if stat -f %Lp "$1" >/dev/null 2>&1; then
		stat -f %Lp "$1"
	else
		stat -c %a "$1"
	fi
}
act() {
	if [ "$DRY" -eq 1 ] || [ -n "$ROOT" ]; then
		echo "would run: $*"
		return 0
	fi
	"$@"
}

MANIFEST=$ROOT/etc/peerwatch/.installed
LAUNCHD=/Library/LaunchDaemons
TMP=$(mktemp -d "${TMPDIR:-/tmp}/pw-install.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# --- uninstall ----------------------------------------------------------------
if [ "$UNINSTALL" -eq 1 ]; then
	[ -f "$MANIFEST" ] || die "$MANIFEST: nothing installed by install.sh"
	while read -r kind a _; do
		[ "$kind" = loaded ] && act launchctl bootout "system/$a"
	done <"$MANIFEST"
	while read -r kind path s; do
		case $kind in
		file | conf) ;;
		*) continue ;;
		esac
		if [ "$kind" = conf ] && [ "$PURGE" -eq 0 ]; then
			note "keep $path (your config; --purge removes it)"
			continue
		fi
		[ -e "$ROOT$path" ] || continue
		if [ "$(sha "$ROOT$path")" != "$s" ] && [ "$PURGE" -eq 0 ]; then
			note "keep $path (changed since install)"
			continue
		fi
		note "remove $path"
		[ "$DRY" -eq 1 ] || rm -f "$ROOT$path"
	done <"$MANIFEST"
	awk '$1 == "dir" { print $2 }' "$MANIFEST" | sort -r >"$TMP/dirs"
	[ "$DRY" -eq 1 ] || rm -f "$MANIFEST"
	while IFS= read -r d; do
		[ -d "$ROOT$d" ] || continue
		if [ -z "$(ls -A "$ROOT$d")" ]; then
			note "remove $d/"
			[ "$DRY" -eq 1 ] || rmdir "$ROOT$d"
		elif [ "$PURGE" -eq 1 ] && case $d in *peerwatch*) true ;; *) false ;; esac; then
			note "purge $d/ and its contents"
			[ "$DRY" -eq 1 ] || rm -rf "$ROOT$d"
		else
			note "keep $d/ (not empty)"
		fi
	done <"$TMP/dirs"
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

CHANGES=0
: >"$TMP/manifest.new"
changed() {
	CHANGES=$((CHANGES + 1))
	note "$*"
}
record() { printf '%s\n' "$*" >>"$TMP/manifest.new"; }
prev_sha() {
	[ -f "$MANIFEST" ] || return 0
	awk -v p="$1" '($1 == "file" || $1 == "conf") && $2 == p { s = $3 } END { if (s) print s }' "$MANIFEST"
}
in_manifest() {
	[ -f "$MANIFEST" ] && grep -qxF "$*" "$MANIFEST"
}
ensure_dir() {
	d=$1
	p=$ROOT$d
	if [ -d "$p" ]; then
		if in_manifest "dir $d"; then record "dir $d"; fi
		return 0
	fi
	[ -e "$p" ] && die "$p exists and is not a directory"
	[ "$(dirname "$d")" = "$d" ] || ensure_dir "$(dirname "$d")" 0755
	d=$1
	p=$ROOT$d
	changed "create $d ($2)"
	[ "$DRY" -eq 1 ] || mkdir -m "$2" "$p"
	record "dir $d"
}
# put SRC DEST MODE [KIND]; prints "changed" when it wrote
put() {
	p=$ROOT$2
	new=$(sha "$1")
	kind=${4:-file}
	if [ -f "$p" ] && cmp -s "$1" "$p"; then
		if [ "$(prev_sha "$2")" = "$new" ]; then record "$kind $2 $new"; fi
		if [ "$(mode_of "$p")" != "${3#0}" ]; then
			changed "chmod $3 $2"
			[ "$DRY" -eq 1 ] || chmod "$3" "$p"
		fi
		return 0
	fi
	if [ -e "$p" ] || [ -h "$p" ]; then
		old=$(sha "$p" 2>/dev/null || echo none)
		if [ "$(prev_sha "$2")" != "$old" ]; then
			changed "keep $2 (edited or not ours) as $2.peerwatch-old-$(date +%s)"
			[ "$DRY" -eq 1 ] || cp -p "$p" "$p.peerwatch-old-$(date +%s)"
		fi
		changed "update $2"
	else
		changed "install $2"
	fi
	record "$kind $2 $new"
	[ "$DRY" -eq 0 ] || return 0
	cp "$1" "$p.pw-new.$$"
	chmod "$3" "$p.pw-new.$$"
	mv -f "$p.pw-new.$$" "$p"
	# launchd loads only root:wheel plists
	act chown root:wheel "$p"
}

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
	ensure_dir "$(awk -F'\t' '$1 == "state_dir" { print $2 }' "$TMP/paths")" 0750
	awk -F'\t' '$1 == "flag" { print $2 }' "$TMP/paths" >"$TMP/flags"
	while IFS= read -r f; do
		ensure_dir "$(dirname "$f")" 0755
	done <"$TMP/flags"
fi

# 3. binary, man pages, config
if [ -n "$FROM" ]; then
	ensure_dir /usr/local/sbin 0755
	put "$PW" "$BIN" 0755
	ensure_dir /usr/local/share/man/man8 0755
	ensure_dir /usr/local/share/man/man5 0755
	put "$SRC/man/peerwatch.8" /usr/local/share/man/man8/peerwatch.8 0644
	put "$SRC/man/peers.conf.5" /usr/local/share/man/man5/peers.conf.5 0644
	ensure_dir /usr/local/share/peerwatch 0755
	put "$SRC/deploy/peers.conf.example" /usr/local/share/peerwatch/peers.conf.example 0644
fi
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

# 5. the manifest (earlier entries stay; one line per path)
if [ -f "$MANIFEST" ]; then
	cat "$MANIFEST" "$TMP/manifest.new" >"$TMP/manifest.all"
else
	cp "$TMP/manifest.new" "$TMP/manifest.all"
fi
awk '{ key = $1 == "file" || $1 == "conf" ? "f " $2 : $0
       if (!(key in line)) order[n++] = key; line[key] = $0 }
     END { for (i = 0; i < n; i++) print line[order[i]] }' "$TMP/manifest.all" >"$TMP/manifest"
if ! cmp -s "$TMP/manifest" "$MANIFEST" 2>/dev/null && [ "$DRY" -eq 0 ]; then
	cp "$TMP/manifest" "$MANIFEST.new.$$"
	chmod 0600 "$MANIFEST.new.$$"
	mv -f "$MANIFEST.new.$$" "$MANIFEST"
fi

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
