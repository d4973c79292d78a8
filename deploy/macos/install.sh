#!/bin/bash
# SPDX-License-Identifier: ISC
# install.sh: install peerwatch on macOS under launchd (as root).
#
#   deploy/macos/install.sh [--from BUILD_DIR | --prefix PREFIX]
#       [-c peers.conf] [--name NAME] [--no-start] [--dry-run] [--root DIR]
#       [--ssh-account NAME --authorized-key FILE...]
#   deploy/macos/install.sh --uninstall [--purge] [--dry-run] [--root DIR]
#
# Dependencies first, as your user (Homebrew refuses root):
#   brew install cmake pkg-config libevent libsodium curl jansson libssh inih cmocka
# (or the formula: brew install --HEAD --build-from-source deploy/macos/peerwatch.rb)
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
# --ssh-account NAME --authorized-key FILE: the account peers log in as,
# as the Linux script makes it: a hidden account (dscl; UID and group in
# 400-499, shell /usr/bin/false, password "*"), root-owned home
# /var/lib/peerwatch-ssh/NAME whose .ssh/authorized_keys has one
# `restrict,command="internal-sftp" KEY` line per key, in
# com.apple.access_ssh when Remote Login is limited to some users; its
# rights are macOS ACL entries (chmod +a "user:NAME allow ..."), exactly the
# Linux script's (see there), removed again with chmod -a. Remote Login
# itself (System Settings, Sharing) is yours to turn on.
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
SSH_ACCOUNT=
KEYS=

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
	--ssh-account) SSH_ACCOUNT=${2:?}; shift ;;
	# one key file a line (bash 3.2 with set -u: no empty arrays)
	--authorized-key) KEYS="$KEYS${2:?}
"; shift ;;
	-h | --help) sed -n '3,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
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
	while read -r kind path rule; do
		case $kind in
		macl) act chmod -a "$rule" "$ROOT$path" || note "failed (continuing): chmod -a on $path" ;;
		user) act dseditgroup -o edit -d "$path" -t user com.apple.access_ssh 2>/dev/null || true
			act dscl . -delete "/Users/$path" || true
			act dscl . -delete "/Groups/$path" || true ;;
		esac
	done <"$MANIFEST"
	uninstall_dirs "$PURGE"
	note "done"
	exit 0
fi

# --- install ------------------------------------------------------------------
if [ -n "$FROM" ]; then
	PW=$FROM/peer/peerwatch
	[ -x "$PW" ] || die "--from $FROM: no peer/peerwatch there (build first)"
	HEAL=$FROM/peer/peerwatch-heal
	[ -x "$HEAL" ] || die "--from $FROM: no peer/peerwatch-heal there (build first)"
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
	# its warnings (a flag unit without reset-failed, a heal worker the
	# installed daemon would not find) are worth seeing; they stop nothing
	printf '%s\n' "$out" | grep '^warning:' >&2 || true
	# bash 3.2 + set -u: no empty arrays; the name goes in as two words
	set -- -c "$CONF"
	[ -z "$NAME" ] || set -- "$@" --name "$NAME"
	"$PW" deploy-units --paths "$@" >"$TMP/paths" ||
		die "$CONF: this host is not in it (give --name NAME or its key)"
	mkdir "$TMP/units"
	"$PW" deploy-units --macos "$@" --bin "$BIN" \
	    --unit-config "$CONF_DEST" -o "$TMP/units" >/dev/null
fi
if [ -n "$SSH_ACCOUNT" ]; then
	case $SSH_ACCOUNT in
	*[!a-z0-9_-]* | [!a-z_]*) die "--ssh-account $SSH_ACCOUNT: not a valid user name" ;;
	esac
	[ -n "$KEYS" ] || die "--ssh-account needs --authorized-key FILE"
	[ -n "$CONF" ] || die "--ssh-account needs the config (-c FILE)"
	# the key files, one a line, as arguments
	set -f
	oldifs=$IFS
	IFS='
'
	set -- $KEYS
	IFS=$oldifs
	set +f
	ssh_keys "$@"
	if [ -z "$ROOT" ] && dscl . -read "/Users/$SSH_ACCOUNT" >/dev/null 2>&1 &&
	    ! in_manifest "user $SSH_ACCOUNT"; then
		die "--ssh-account $SSH_ACCOUNT: the account exists and this script did not create it; name a new one"
	fi
fi

# 2. directories
ensure_dir /etc/peerwatch 0750
ensure_dir /usr/local/var/log/peerwatch 0755
if [ -n "$CONF" ]; then
	ensure_state_dirs
fi

# 3. binary, man pages, config
[ -z "$FROM" ] || install_from_build "$SRC" "$PW" "$HEAL"
[ -z "$CONF_IN" ] || put "$CONF_IN" "$CONF_DEST" 0640 conf

# 4. the SSH account
# mac_rule PERMS DIR|FILE [inherit]: the macOS ACL entry for rwx-style
# PERMS on a directory or a file
mac_rule() {
	local r=
	case $2:$1 in
	dir:r??) r=list,readattr,readextattr,readsecurity ;;
	file:r??) r=read,readattr,readextattr,readsecurity ;;
	esac
	case $2:$1 in
	dir:?w?) r=$r${r:+,}add_file,add_subdirectory,delete_child ;;
	file:?w?) r=$r${r:+,}write,append,writeattr,writeextattr ;;
	esac
	case $2:$1 in
	dir:??x) r=$r${r:+,}search ;;
	file:??x) r=$r${r:+,}execute ;;
	esac
	[ -z "${3:-}" ] || r=$r,file_inherit,only_inherit
	echo "user:$SSH_ACCOUNT allow $r"
}
# mac_acl PATH RULE: once (an entry for the account already there counts)
mac_acl() {
	local p=$ROOT$1
	[ -e "$p" ] || return 0
	if [ -z "$ROOT" ] && ls -led "$p" 2>/dev/null | grep -qF "$2"; then
		if in_manifest "macl $1 $2"; then record "macl $1 $2"; fi
		return 0
	fi
	if [ -n "$ROOT" ]; then
		note "ACL on $1: not set under --root"
	else
		changed "ACL \"$2\" on $1"
	fi
	act chmod +a "$2" "$p"
	[ -n "$ROOT" ] || record "macl $1 $2"
}
# the first UID (and GID) in 400-499 nobody has
free_id() {
	{ dscl . -list /Users UniqueID; dscl . -list /Groups PrimaryGroupID; } |
	    awk '{ used[$2] = 1 } END { for (i = 400; i < 500; i++) if (!(i in used)) { print i; exit } }'
}
if [ -n "$SSH_ACCOUNT" ]; then
	h=/var/lib/peerwatch-ssh/$SSH_ACCOUNT
	if [ -n "$ROOT" ] || ! dscl . -read "/Users/$SSH_ACCOUNT" >/dev/null 2>&1; then
		if [ -n "$ROOT" ]; then
			note "account $SSH_ACCOUNT: not created under --root"
			id='<a free id in 400-499>'
		else
			changed "create hidden account $SSH_ACCOUNT"
			id=$(free_id)
			[ -n "$id" ] || die "no free UID in 400-499 for $SSH_ACCOUNT"
		fi
		act dscl . -create "/Groups/$SSH_ACCOUNT" PrimaryGroupID "$id"
		act dscl . -create "/Users/$SSH_ACCOUNT" UniqueID "$id"
		act dscl . -create "/Users/$SSH_ACCOUNT" PrimaryGroupID "$id"
		act dscl . -create "/Users/$SSH_ACCOUNT" UserShell /usr/bin/false
		act dscl . -create "/Users/$SSH_ACCOUNT" NFSHomeDirectory "$h"
		act dscl . -create "/Users/$SSH_ACCOUNT" Password '*'
		act dscl . -create "/Users/$SSH_ACCOUNT" IsHidden 1
		[ -n "$ROOT" ] || record "user $SSH_ACCOUNT"
	else
		if in_manifest "user $SSH_ACCOUNT"; then record "user $SSH_ACCOUNT"; fi
	fi
	# Remote Login limited to some users: this one too
	if [ -n "$ROOT" ] || dscl . -read /Groups/com.apple.access_ssh >/dev/null 2>&1; then
		act dseditgroup -o edit -a "$SSH_ACCOUNT" -t user com.apple.access_ssh
	fi
	ensure_dir "$h/.ssh" 0755
	put "$TMP/keys" "$h/.ssh/authorized_keys" 0644
	ssh_wants
	while IFS=$'\t' read -r perm path; do
		case $path in
		default:*) mac_acl "${path#default:}" "$(mac_rule "$perm" file inherit)" ;;
		*)
			if [ -d "$ROOT$path" ]; then
				mac_acl "$path" "$(mac_rule "$perm" dir)"
			else
				mac_acl "$path" "$(mac_rule "$perm" file)"
			fi ;;
		esac
	done <"$TMP/wants"
fi

# 5. launchd jobs and the newsyslog entry
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

# 6. the manifest
manifest_write

# 7. load
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
