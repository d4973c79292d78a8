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

TMP=$(mktemp -d "${TMPDIR:-/tmp}/pw-uninstall.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
. "$(dirname "$0")/../install-lib.sh"
# a step that fails (a unit already gone, say) does not stop the rest
try() { act "$@" || note "failed (continuing): $*"; }

# units first (while their files still exist), then files, ACLs, users,
# and directories deepest first
while read -r kind a _; do
	[ "$kind" = enabled ] || continue
	try systemctl disable --now "$a"
done <"$MANIFEST"
uninstall_files "$PURGE"
while read -r kind path s; do
	[ "$kind" = acl ] || continue
	# "user:NAME:PERMS": -x takes the entry without its perms
	s=${s%:*}
	case $s in
	default:*) try setfacl -d -x "${s#default:}" "$ROOT$path" ;;
	*) try setfacl -x "$s" "$ROOT$path" ;;
	esac
done <"$MANIFEST"
[ "$UNITS_GONE" -eq 0 ] || try systemctl daemon-reload
while read -r kind u; do
	[ "$kind" = user ] || continue
	try userdel "$u"
done <"$MANIFEST"
uninstall_dirs "$PURGE"
echo "$ME: done"
