#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# uninstall.sh: undo deploy/linux/install.sh (as root).
#
#   deploy/linux/uninstall.sh [--purge] [--dry-run] [--root DIR]
#
# Reads /etc/peerwatch/.installed and removes exactly what install.sh added:
# stops and disables the units it enabled, deletes the files it wrote (a
# file edited since is kept, and said so), removes the ACL entries it set
# and the directories it created once empty, and deletes the users it
# created. The config (/etc/peerwatch/peers.conf, keys), state_dir and
# anything else not in the list stay, unless --purge: then the config and
# peerwatch's own directories install.sh created (/etc/peerwatch,
# state_dir, the SSH account's home) go with their contents. --root DIR
# and --dry-run as for install.sh.
set -euo pipefail

ME=uninstall.sh
ROOT=
DRY=0
PURGE=0
while [ $# -gt 0 ]; do
	case $1 in
	--purge) PURGE=1 ;;
	--dry-run) DRY=1 ;;
	--root) ROOT=${2:?}; shift ;;
	-h | --help) sed -n '3,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "$ME: unknown argument: $1" >&2; exit 2 ;;
	esac
	shift
done
if [ -n "$ROOT" ]; then
	ROOT=$(cd "$ROOT" && pwd)
	[ "$ROOT" != / ] || ROOT=
fi
[ -n "$ROOT" ] || [ "$(id -u)" -eq 0 ] || [ "$DRY" -eq 1 ] ||
	{ echo "$ME: run as root (or --root DIR, --dry-run)" >&2; exit 1; }
MANIFEST=$ROOT/etc/peerwatch/.installed
[ -f "$MANIFEST" ] || { echo "$ME: $MANIFEST: nothing installed by install.sh" >&2; exit 1; }

act() {
	if [ "$DRY" -eq 1 ] || [ -n "$ROOT" ]; then
		echo "would run: $*"
		return 0
	fi
	"$@" || echo "$ME: failed (continuing): $*" >&2
}
del() {
	echo "$ME: remove $1"
	[ "$DRY" -eq 1 ] || rm -f "$ROOT$1"
}
sha() { sha256sum "$1" | cut -d' ' -f1; }

# units first (while their files still exist), then files, ACLs, users,
# and directories deepest first
reload=0
while read -r kind a _; do
	[ "$kind" = enabled ] || continue
	act systemctl disable --now "$a"
done <"$MANIFEST"
while read -r kind path s; do
	case $kind in
	file | conf)
		if [ "$kind" = conf ] && [ "$PURGE" -eq 0 ]; then
			echo "$ME: keep $path (your config; --purge removes it)"
			continue
		fi
		[ -e "$ROOT$path" ] || continue
		if [ "$(sha "$ROOT$path")" != "$s" ] && [ "$PURGE" -eq 0 ]; then
			echo "$ME: keep $path (changed since install)"
			continue
		fi
		case $path in /etc/systemd/*) reload=1 ;; esac
		del "$path" ;;
	acl)
		# "user:NAME:PERMS": -x takes the entry without its perms
		s=${s%:*}
		case $s in
		default:*) act setfacl -d -x "${s#default:}" "$ROOT$path" ;;
		*) act setfacl -x "$s" "$ROOT$path" ;;
		esac ;;
	esac
done <"$MANIFEST"
[ "$reload" -eq 0 ] || act systemctl daemon-reload
while read -r kind u; do
	[ "$kind" = user ] || continue
	act userdel "$u"
done <"$MANIFEST"
awk '$1 == "dir" { print $2 }' "$MANIFEST" | sort -r >"${TMPDIR:-/tmp}/pw-uninstall.$$"
if [ "$DRY" -eq 0 ]; then
	rm -f "$MANIFEST"
fi
while IFS= read -r d; do
	[ -d "$ROOT$d" ] || continue
	if [ -z "$(ls -A "$ROOT$d")" ]; then
		echo "$ME: remove $d/"
		[ "$DRY" -eq 1 ] || rmdir "$ROOT$d"
	elif [ "$PURGE" -eq 1 ] && case $d in *peerwatch*) true ;; *) false ;; esac; then
		echo "$ME: purge $d/ and its contents"
		[ "$DRY" -eq 1 ] || rm -rf "$ROOT$d"
	else
		echo "$ME: keep $d/ (not empty)"
	fi
done <"${TMPDIR:-/tmp}/pw-uninstall.$$"
rm -f "${TMPDIR:-/tmp}/pw-uninstall.$$"
echo "$ME: done"
