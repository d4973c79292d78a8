# SPDX-License-Identifier: ISC
# install-lib.sh: what deploy/linux/install.sh, uninstall.sh and
# deploy/macos/install.sh share, sourced (bash 3.2 and BSD tools: macOS).
# The caller sets ME, ROOT (DESTDIR-style prefix or empty), DRY (1: change
# nothing), MANIFEST (the list of what install.sh added, under ROOT) and
# TMP (a private temp dir); CHANGES counts what changed.
#
# The manifest, one entry a line:
#   dir PATH          a directory install.sh created
#   file PATH SHA256  a file it wrote (removed on uninstall while unchanged)
#   conf PATH SHA256  the user's config it copied in (kept unless --purge)
#   acl PATH SPEC     an ACL entry it set; user NAME: an account it created
#   enabled UNIT / loaded LABEL: a unit it enabled / a job it loaded

CHANGES=0

die() {
	echo "$ME: $*" >&2
	exit 1
}
note() { echo "$ME: $*"; }
changed() {
	CHANGES=$((CHANGES + 1))
	note "$*"
}
# a command that changes the system: run it, or say it would
act() {
	if [ "$DRY" -eq 1 ] || [ -n "$ROOT" ]; then
		echo "would run: $*"
		return 0
	fi
	"$@"
}
sha() {
	if command -v sha256sum >/dev/null 2>&1; then
		sha256sum "$1" | cut -d' ' -f1
	else
		shasum -a 256 "$1" | cut -d' ' -f1
	fi
}
# permission bits, octal without a leading 0 (GNU stat; BSD's stat has
# no -c, and its -f is GNU's file system status)
mode_of() {
	stat -c %a "$1" 2>/dev/null || stat -f %Lp "$1"
}
record() { printf '%s\n' "$*" >>"$TMP/manifest.new"; }
# the SHA256 an earlier run recorded for PATH
prev_sha() {
	[ -f "$MANIFEST" ] || return 0
	awk -v p="$1" '($1 == "file" || $1 == "conf") && $2 == p { s = $3 } END { if (s) print s }' "$MANIFEST"
}
in_manifest() {
	[ -f "$MANIFEST" ] && grep -qxF "$*" "$MANIFEST"
}

# ensure_dir DIR MODE [OWNER:GROUP]: create it (and missing parents,
# 0755), recorded; an existing one is left as it is (with a word when it is
# open to others and an owner was asked for)
ensure_dir() {
	local d=$1 mode=$2 own=${3:-} p
	p=$ROOT$d
	if [ -d "$p" ]; then
		if in_manifest "dir $d"; then record "dir $d"; fi
		case $(mode_of "$p") in
		*0) ;;
		*) [ -z "$own" ] || note "warning: $d exists with mode $(mode_of "$p"); want $mode" ;;
		esac
		return 0
	fi
	[ -e "$p" ] && die "$p exists and is not a directory"
	[ "$(dirname "$d")" = "$d" ] || ensure_dir "$(dirname "$d")" 0755
	changed "create $d ($mode)"
	[ "$DRY" -eq 1 ] || mkdir -m "$mode" "$p"
	record "dir $d"
	[ -z "$own" ] || act chown "$own" "$p"
}

# put SRC DEST MODE [KIND]: install a file. An identical one is left alone
# (its mode corrected); one that differs from what the last run wrote
# (edited by hand, or never ours) is kept as DEST.peerwatch-old-<time>
# first, then given PUT_OWNER (if set) with chown.
put() {
	local src=$1 d=$2 mode=$3 kind=${4:-file} p new old
	p=$ROOT$d
	new=$(sha "$src")
	if [ -f "$p" ] && cmp -s "$src" "$p"; then
		if [ "$(prev_sha "$d")" = "$new" ]; then record "$kind $d $new"; fi
		if [ "$(mode_of "$p")" != "${mode#0}" ]; then
			changed "chmod $mode $d"
			[ "$DRY" -eq 1 ] || chmod "$mode" "$p"
		fi
		return 0
	fi
	if [ -e "$p" ] || [ -h "$p" ]; then
		old=$(sha "$p" 2>/dev/null || echo none)
		if [ "$(prev_sha "$d")" != "$old" ]; then
			changed "keep $d (edited or not ours) as $d.peerwatch-old-$(date +%s)"
			[ "$DRY" -eq 1 ] || cp -p "$p" "$p.peerwatch-old-$(date +%s)"
		fi
		changed "update $d"
	else
		changed "install $d"
	fi
	record "$kind $d $new"
	[ "$DRY" -eq 0 ] || return 0
	cp "$src" "$p.pw-new.$$"
	chmod "$mode" "$p.pw-new.$$"
	mv -f "$p.pw-new.$$" "$p"
	[ -z "${PUT_OWNER:-}" ] || act chown "$PUT_OWNER" "$p"
}

# state_dir and the flag directories `deploy-units --paths` listed in
# $TMP/paths; state_dir gets OWNER:GROUP if given
ensure_state_dirs() {
	local f
	ensure_dir "$(awk -F'\t' '$1 == "state_dir" { print $2 }' "$TMP/paths")" 0750 "${1:-}"
	awk -F'\t' '$1 == "flag" { print $2 }' "$TMP/paths" >"$TMP/flags"
	while IFS= read -r f; do
		ensure_dir "$(dirname "$f")" 0755
	done <"$TMP/flags"
}

# install_from_build SRC PEERWATCH HEAL: the binary as
# /usr/local/sbin/peerwatch, its heal worker as
# /usr/local/libexec/peerwatch-heal (the daemon looks in ../libexec from its
# own directory), the man pages and the example config from the source
# tree SRC
install_from_build() {
	local man=/usr/local/share/man
	ensure_dir /usr/local/sbin 0755
	put "$2" /usr/local/sbin/peerwatch 0755
	ensure_dir /usr/local/libexec 0755
	put "$3" /usr/local/libexec/peerwatch-heal 0755
	ensure_dir "$man/man8" 0755
	ensure_dir "$man/man5" 0755
	put "$1/man/peerwatch.8" "$man/man8/peerwatch.8" 0644
	put "$1/man/peers.conf.5" "$man/man5/peers.conf.5" 0644
	ensure_dir /usr/local/share/peerwatch 0755
	put "$1/deploy/peers.conf.example" /usr/local/share/peerwatch/peers.conf.example 0644
}

# ssh_keys FILE...: the authorized_keys of the SSH account in $TMP/keys,
# one `restrict,command="internal-sftp" KEY` line per public key (SFTP
# only: no shell, no forwarding, no pty); a line with options of its own is
# refused
ssh_keys() {
	local k line
	: >"$TMP/keys"
	for k in "$@"; do
		[ -f "$k" ] || die "--authorized-key $k: no such file"
		while IFS= read -r line || [ -n "$line" ]; do
			case $line in '' | '#'*) continue ;; esac
			printf '%s\n' "$line" | grep -Eq '^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh.com|sk-ecdsa-sha2-nistp256@openssh.com) [A-Za-z0-9+/]+=*( [^"]*)?$' ||
				die "--authorized-key $k: not a public key line (options are added here, not taken)"
			printf 'restrict,command="internal-sftp" %s\n' "$line" >>"$TMP/keys"
		done <"$k"
	done
	[ -s "$TMP/keys" ] || die "--authorized-key: no keys"
}

# ssh_wants: from $TMP/paths, the rights the SSH account needs, one
# "PERMS<TAB>PATH" a line in $TMP/wants (PATH "default:DIR": what new files
# in DIR inherit): rwx on the directory of each guarded file (the restore
# writes a temporary file there and renames it) and of each flag, rw on
# the file, r on its backups (r-x on their directories; a glob's directory
# also passes r on to new files), search (x) on the directories above them
# that are closed to others. A path wanted for several reasons gets the
# union (a directory of a guard and of its backups: rwx, not r-x).
want() { printf '%s\t%s\n' "${3:-}$1" "$2" >>"$TMP/want.raw"; }
want_above() {
	local d
	d=$(dirname "$1")
	while [ "$d" != / ] && [ -n "$d" ]; do
		if [ -d "$ROOT$d" ] && [ -z "$(find "$ROOT$d" -prune -perm -o=x)" ]; then
			want "$d" --x
		fi
		d=$(dirname "$d")
	done
}
ssh_wants() {
	local kind path f
	: >"$TMP/want.raw"
	while IFS=$'\t' read -r kind path; do
		case $kind in
		guard)
			want "$(dirname "$path")" rwx
			want "$path" rw-
			want_above "$path" ;;
		flag)
			want "$(dirname "$path")" rwx
			want_above "$path" ;;
		backup)
			case $path in
			*[*?[]*)
				want "$(dirname "$path")" r-x
				want "$(dirname "$path")" r-- default:
				for f in $ROOT$path; do
					[ -f "$f" ] && want "${f#"$ROOT"}" r--
				done ;;
			*)
				want "$path" r--
				want "$(dirname "$path")" r-x ;;
			esac
			want_above "$path" ;;
		esac
	done <"$TMP/paths"
	awk -F'\t' '{
		if (!($1 in p)) { order[n++] = $1; p[$1] = "---" }
		for (i = 1; i <= 3; i++) {
			c = substr($2, i, 1)
			if (c != "-")
				p[$1] = substr(p[$1], 1, i - 1) c substr(p[$1], i + 1)
		}
	} END { for (i = 0; i < n; i++) print p[order[i]] "\t" order[i] }' \
	    "$TMP/want.raw" >"$TMP/wants"
}

# the manifest after a run: earlier entries stay (a later run finds their
# things already there), one line per path, the newest
manifest_write() {
	if [ -f "$MANIFEST" ]; then
		cat "$MANIFEST" "$TMP/manifest.new" >"$TMP/manifest.all"
	else
		cp "$TMP/manifest.new" "$TMP/manifest.all"
	fi
	awk '{ key = $1 == "file" || $1 == "conf" ? "f " $2 : $0
	       if (!(key in line)) order[n++] = key; line[key] = $0 }
	     END { for (i = 0; i < n; i++) print line[order[i]] }' \
	    "$TMP/manifest.all" >"$TMP/manifest"
	cmp -s "$TMP/manifest" "$MANIFEST" 2>/dev/null && return 0
	[ "$DRY" -eq 0 ] && [ -d "$(dirname "$MANIFEST")" ] || return 0
	cp "$TMP/manifest" "$MANIFEST.new.$$"
	chmod 0600 "$MANIFEST.new.$$"
	mv -f "$MANIFEST.new.$$" "$MANIFEST"
}

# uninstall_files PURGE: delete the files the manifest lists (unchanged
# ones; the config only with PURGE); UNITS_GONE=1 if a systemd unit went
UNITS_GONE=0
uninstall_files() {
	local kind path s
	while read -r kind path s; do
		case $kind in file | conf) ;; *) continue ;; esac
		if [ "$kind" = conf ] && [ "$1" -eq 0 ]; then
			note "keep $path (your config; --purge removes it)"
			continue
		fi
		[ -e "$ROOT$path" ] || continue
		if [ "$(sha "$ROOT$path")" != "$s" ] && [ "$1" -eq 0 ]; then
			note "keep $path (changed since install)"
			continue
		fi
		case $path in /etc/systemd/*) UNITS_GONE=1 ;; esac
		note "remove $path"
		[ "$DRY" -eq 1 ] || rm -f "$ROOT$path"
	done <"$MANIFEST"
}

# uninstall_dirs PURGE: the directories it created, deepest first, when
# empty; with PURGE peerwatch's own (a name with "peerwatch") with their
# contents. Removes the manifest.
uninstall_dirs() {
	local d
	awk '$1 == "dir" { print $2 }' "$MANIFEST" | sort -r >"$TMP/dirs"
	[ "$DRY" -eq 1 ] || rm -f "$MANIFEST"
	while IFS= read -r d; do
		[ -d "$ROOT$d" ] || continue
		if [ -z "$(ls -A "$ROOT$d")" ]; then
			note "remove $d/"
			[ "$DRY" -eq 1 ] || rmdir "$ROOT$d"
		elif [ "$1" -eq 1 ] && case $d in *peerwatch*) true ;; *) false ;; esac; then
			note "purge $d/ and its contents"
			[ "$DRY" -eq 1 ] || rm -rf "$ROOT$d"
		else
			note "keep $d/ (not empty)"
		fi
	done <"$TMP/dirs"
}
