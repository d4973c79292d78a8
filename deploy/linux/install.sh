#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# install.sh: install peerwatch on a systemd host (as root).
#
#   deploy/linux/install.sh [--from BUILD_DIR | --prefix PREFIX]
#       [-c peers.conf] [--name NAME] [--no-start] [--dry-run] [--root DIR]
#       [--ssh-account NAME --authorized-key FILE...]
#
# What it does, each step only when needed (a second run changes nothing):
#  - the `peerwatch` system user and group (no shell, no home);
#  - /etc/peerwatch (0750 root:peerwatch), state_dir and the flag dirs;
#  - the binary and man pages: copied from a build tree (--from), or the
#    ones `make install` put in PREFIX (default /usr/local) are used;
#  - -c FILE: the config, as /etc/peerwatch/peers.conf (0640); checked with
#    `peerwatch check-config` before anything changes: an invalid config
#    stops the install with check-config's errors;
#  - the units `peerwatch deploy-units --linux` writes (a sandboxed
#    peerwatch.service, the revive path units of this host's guards, the
#    sleep notice) into /etc/systemd/system; then daemon-reload, enable
#    --now (the sleep notice: enable only) (not with --no-start);
#  - --ssh-account NAME: the account peers log in as over SFTP (see below).
# A file it would replace that differs from what it wrote last time (edited
# by hand) is kept as FILE.peerwatch-old-<time> first. Everything it adds
# is listed in /etc/peerwatch/.installed, which uninstall.sh reads.
#
# --root DIR: install under DIR (DESTDIR-style, for tests and images):
# files and directories go under DIR; useradd, chown, setfacl and
# systemctl are printed ("would run: ..."), not run. --dry-run: print every
# step, change nothing.
#
# The SSH account (--ssh-account NAME, --authorized-key FILE with the
# peers' public keys): a system account with /usr/sbin/nologin as shell and
# a root-owned home (/var/lib/peerwatch-ssh/NAME), whose
# .ssh/authorized_keys (root's, so the account cannot add keys) holds one
# `restrict,command="internal-sftp" KEY` line per key: SFTP only, no
# shell, no forwarding, no pty. Its rights are POSIX ACL entries (setfacl,
# package acl), not a group: an ACL gives exactly this account rwx on the
# directory of each guarded file of this host (the restore writes a temp
# file there and renames it over the file) and on each flag directory,
# read on the file's backups (a glob's directory also gets a default ACL so
# that new backups are readable), and search (x) on the directories above
# them, without changing any owner, group or mode of the user's files; and
# uninstall.sh removes exactly those entries again (setfacl -x), which
# chgrp/chmod could not undo. A restore by this account cannot give the
# file its owner back (not root): SECURITY.md, "Owner and mode".
set -euo pipefail

ME=install.sh
SRC=$(cd "$(dirname "$0")/../.." && pwd)
ROOT=
FROM=
PREFIX=/usr/local
CONF_IN=
NAME=
START=1
DRY=0
SSH_ACCOUNT=
KEYS=()
USER_NAME=peerwatch
MANIFEST_REL=/etc/peerwatch/.installed

usage() {
	sed -n '3,8p' "$0" | sed 's/^# \{0,1\}//'
	exit "${1:-2}"
}

while [ $# -gt 0 ]; do
	case $1 in
	--from) FROM=${2:?}; shift ;;
	--prefix) PREFIX=${2:?}; shift ;;
	-c | --config) CONF_IN=${2:?}; shift ;;
	--name) NAME=${2:?}; shift ;;
	--no-start) START=0 ;;
	--dry-run) DRY=1 ;;
	--root) ROOT=${2:?}; shift ;;
	--ssh-account) SSH_ACCOUNT=${2:?}; shift ;;
	--authorized-key) KEYS+=("${2:?}"); shift ;;
	-h | --help) usage 0 ;;
	*) echo "$ME: unknown argument: $1" >&2; usage ;;
	esac
	shift
done

. "$(dirname "$0")/../install-lib.sh"

if [ -n "$ROOT" ]; then
	[ -d "$ROOT" ] || die "--root $ROOT: not a directory"
	ROOT=$(cd "$ROOT" && pwd)
	[ "$ROOT" != / ] || ROOT=
fi
[ -n "$ROOT" ] || [ "$(id -u)" -eq 0 ] || [ "$DRY" -eq 1 ] ||
	die "run as root (or --root DIR, --dry-run)"
if [ -n "$SSH_ACCOUNT" ]; then
	[ ${#KEYS[@]} -gt 0 ] || die "--ssh-account needs --authorized-key FILE"
	case $SSH_ACCOUNT in
	*[!a-z0-9_-]* | [!a-z_]*) die "--ssh-account $SSH_ACCOUNT: not a valid user name" ;;
	esac
fi

# the binary this install runs and what the units name
if [ -n "$FROM" ]; then
	PW=$FROM/peer/peerwatch
	[ -x "$PW" ] || die "--from $FROM: no peer/peerwatch there (build first)"
	HEAL=$FROM/peer/peerwatch-heal
	[ -x "$HEAL" ] || die "--from $FROM: no peer/peerwatch-heal there (build first)"
	BIN=/usr/local/sbin/peerwatch
else
	BIN=$PREFIX/sbin/peerwatch
	PW=$ROOT$BIN
	[ -x "$PW" ] || die "$PW: missing; run \`make install PREFIX=$PREFIX\` or give --from BUILD_DIR"
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/pw-install.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
: >"$TMP/manifest.new"
MANIFEST=$ROOT$MANIFEST_REL

# under --root the user is looked up in DIR/etc/passwd and never created:
# what would run is printed, not counted as a change
has_user() {
	if [ -n "$ROOT" ]; then
		grep -q "^$1:" "$ROOT/etc/passwd" 2>/dev/null
	else
		getent passwd "$1" >/dev/null 2>&1
	fi
}

# --- 1. the config, checked before anything changes ---------------------
CONF_DEST=/etc/peerwatch/peers.conf
if [ -n "$CONF_IN" ]; then
	[ -f "$CONF_IN" ] || die "-c $CONF_IN: no such file"
	CONF=$CONF_IN
elif [ -f "$ROOT$CONF_DEST" ]; then
	CONF=$ROOT$CONF_DEST
else
	CONF=
fi
NAMEARG=()
[ -z "$NAME" ] || NAMEARG=(--name "$NAME")
if [ -n "$CONF" ]; then
	if ! out=$(PEERWATCH_SYSTEMD_DIR=$ROOT/etc/systemd/system \
	    "$PW" check-config -c "$CONF" 2>&1); then
		printf '%s\n' "$out" >&2
		die "$CONF is not valid (above); nothing installed or started"
	fi
	# its warnings (a flag unit without reset-failed, a heal worker the
	# installed daemon would not find) are worth seeing; they stop nothing
	printf '%s\n' "$out" | grep '^warning:' >&2 || true
	"$PW" deploy-units --paths -c "$CONF" "${NAMEARG[@]}" >"$TMP/paths" ||
		die "$CONF: this host is not in it (give --name NAME or its key)"
	mkdir "$TMP/units"
	"$PW" deploy-units --linux -c "$CONF" "${NAMEARG[@]}" --bin "$BIN" \
	    --unit-config "$CONF_DEST" -o "$TMP/units" >/dev/null
fi
if [ -n "$SSH_ACCOUNT" ]; then
	[ -n "$CONF" ] || die "--ssh-account needs the config (-c FILE)"
	ssh_keys "${KEYS[@]}"
	if has_user "$SSH_ACCOUNT" &&
	    ! in_manifest "user $SSH_ACCOUNT"; then
		die "--ssh-account $SSH_ACCOUNT: the account exists and this script did not create it; name a new one"
	fi
fi

# --- 2. user, group, directories ------------------------------------------
SSH_HOME_BASE=/var/lib/peerwatch-ssh
# ensure_user NAME [ssh]: an SSH account gets "*" as its password (no
# password matches, but unlike useradd's "!" sshd does not take it for a
# locked account where it runs without PAM)
ensure_user() {
	local u=$1 pwopt=()
	[ "${2:-}" != ssh ] || pwopt=(--password '*')
	if has_user "$u"; then
		in_manifest "user $u" && record "user $u"
		return 0
	fi
	if [ -n "$ROOT" ]; then
		note "system user $u: not created under --root"
	else
		changed "create system user $u"
	fi
	if command -v useradd >/dev/null 2>&1; then
		act useradd --system --user-group --no-create-home \
		    --home-dir "$SSH_HOME_BASE/$u" --shell /usr/sbin/nologin \
		    ${pwopt[@]+"${pwopt[@]}"} "$u"
	else
		act adduser --system --group --no-create-home \
		    --home "$SSH_HOME_BASE/$u" --shell /usr/sbin/nologin "$u"
		[ -z "${2:-}" ] || act usermod --password '*' "$u"
	fi
	[ -n "$ROOT" ] || record "user $u"
}
ensure_user "$USER_NAME"
ensure_dir /etc/peerwatch 0750 "root:$USER_NAME"
if [ -n "$CONF" ]; then
	ensure_state_dirs "root:$USER_NAME"
fi

# --- 3. binary, man pages, config -----------------------------------------
[ -z "$FROM" ] || install_from_build "$SRC" "$PW" "$HEAL"
if [ -n "$CONF_IN" ]; then
	before=$CHANGES
	put "$CONF_IN" "$CONF_DEST" 0640 conf
	[ "$CHANGES" -eq "$before" ] || act chown "root:$USER_NAME" "$ROOT$CONF_DEST"
fi

# --- 4. units ---------------------------------------------------------------
UNITDIR=/etc/systemd/system
units_changed=0
if [ -n "$CONF" ]; then
	ensure_dir "$UNITDIR" 0755
	before=$CHANGES
	for u in "$TMP"/units/*; do
		put "$u" "$UNITDIR/$(basename "$u")" 0644
	done
	# flag units of guards no longer in the config: ours, unmodified
	if [ -f "$MANIFEST" ]; then
		awk '$1 == "file" && $2 ~ "^/etc/systemd/system/peerwatch-" { print $2, $3 }' \
		    "$MANIFEST" >"$TMP/old-units"
		while read -r d s; do
			[ ! -e "$TMP/units/$(basename "$d")" ] && [ -f "$ROOT$d" ] || continue
			if [ "$(sha "$ROOT$d")" != "$s" ]; then
				note "keep $d (edited by hand; its guard left the config)"
				continue
			fi
			case $d in *.path) act systemctl disable --now "$(basename "$d")" || true ;; esac
			changed "remove $d (its guard left the config)"
			[ "$DRY" -eq 1 ] || rm -f "$ROOT$d"
		done <"$TMP/old-units"
	fi
	[ "$CHANGES" -eq "$before" ] || units_changed=1
fi

# --- 5. the SSH account -----------------------------------------------------
# acl PATH SPEC: one ACL entry for the account, once
acl() {
	local path=$1 spec=$2 p
	p=$ROOT$path
	[ -e "$p" ] || return 0
	if [ -z "$ROOT" ] && command -v getfacl >/dev/null 2>&1 &&
	    getfacl -cp "$p" 2>/dev/null | grep -qxF "${spec%:*}:${spec##*:}"; then
		in_manifest "acl $path $spec" && record "acl $path $spec"
		return 0
	fi
	if [ -n "$ROOT" ]; then
		note "ACL $spec on $path: not set under --root"
	else
		changed "ACL $spec on $path"
	fi
	act setfacl -m "$spec" "$p"
	[ -n "$ROOT" ] || record "acl $path $spec"
}
if [ -n "$SSH_ACCOUNT" ]; then
	command -v setfacl >/dev/null 2>&1 || [ -n "$ROOT" ] || [ "$DRY" -eq 1 ] ||
		die "setfacl missing: apt-get install acl"
	if [ "$SSH_ACCOUNT" != "$USER_NAME" ]; then
		ensure_user "$SSH_ACCOUNT" ssh
	elif ! in_manifest "sshpw $SSH_ACCOUNT"; then
		# the peerwatch user itself as the SSH account
		if [ -n "$ROOT" ]; then
			note "$SSH_ACCOUNT: password not set to * under --root"
		else
			changed "let $SSH_ACCOUNT log in with a key"
		fi
		act usermod --password '*' "$SSH_ACCOUNT"
		[ -n "$ROOT" ] || record "sshpw $SSH_ACCOUNT"
	else
		record "sshpw $SSH_ACCOUNT"
	fi
	h=$SSH_HOME_BASE/$SSH_ACCOUNT
	ensure_dir "$h/.ssh" 0755
	put "$TMP/keys" "$h/.ssh/authorized_keys" 0644
	ssh_wants
	while IFS=$'\t' read -r perm path; do
		case $path in
		default:*) acl "${path#default:}" "default:user:$SSH_ACCOUNT:$perm" ;;
		*) acl "$path" "user:$SSH_ACCOUNT:$perm" ;;
		esac
	done <"$TMP/wants"
fi

# --- 6. the manifest --------------------------------------------------------
manifest_write

# --- 7. start ---------------------------------------------------------------
if [ -z "$CONF" ]; then
	note "no $CONF_DEST yet: create this host's key (peerwatch keygen -o /etc/peerwatch/key),"
	note "write the config (start from $SRC/deploy/peers.conf.example), then run again"
elif [ "$START" -eq 1 ]; then
	units=$(cd "$TMP/units" && ls peerwatch.service *.path)
	# a running peerwatch gets its changed unit by a restart; one that
	# enable --now starts below already has it
	was_active=0
	[ -n "$ROOT" ] || [ "$DRY" -eq 1 ] || ! systemctl is-active -q peerwatch.service ||
		was_active=1
	[ "$units_changed" -eq 0 ] || act systemctl daemon-reload
	for u in $units; do
		if [ -n "$ROOT" ]; then
			act systemctl enable --now "$u"
		elif [ "$DRY" -eq 1 ] || ! systemctl is-enabled -q "$u" 2>/dev/null ||
		    ! systemctl is-active -q "$u" 2>/dev/null; then
			changed "enable and start $u"
			act systemctl enable --now "$u"
			[ "$DRY" -eq 1 ] || in_manifest "enabled $u" ||
				printf 'enabled %s\n' "$u" >>"$MANIFEST"
		fi
	done
	# the sleep notice runs before suspend (WantedBy=sleep.target):
	# enabled, never started here (it would tell the mesh we sleep)
	u=peerwatch-sleep.service
	if [ -e "$TMP/units/$u" ]; then
		if [ -n "$ROOT" ]; then
			act systemctl enable "$u"
		elif [ "$DRY" -eq 1 ] || ! systemctl is-enabled -q "$u" 2>/dev/null; then
			changed "enable $u"
			act systemctl enable "$u"
			[ "$DRY" -eq 1 ] || in_manifest "enabled $u" ||
				printf 'enabled %s\n' "$u" >>"$MANIFEST"
		fi
	fi
	if [ "$units_changed" -eq 1 ] && [ "$was_active" -eq 1 ]; then
		act systemctl try-restart peerwatch.service
	fi
fi
if [ "$CHANGES" -eq 0 ]; then
	note "nothing changed"
else
	note "$CHANGES changes${ROOT:+ under $ROOT}"
fi
