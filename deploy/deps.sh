#!/bin/sh
# Install what peerwatch needs to build and test, or say exactly how.
# Debian/Ubuntu as root: apt-get install the missing packages.
# Debian/Ubuntu as a user: print the apt-get line. macOS: brew install the
# missing formulae as a user; as root print that line (Homebrew refuses root).
set -eu

DEB_PKGS="cmake make gcc pkg-config libevent-dev libsodium-dev
libcurl4-openssl-dev libjansson-dev libssh-dev libinih-dev libcmocka-dev
openssh-server openssh-client iproute2 faketime curl procps systemd
prometheus debootstrap nftables python3 nodejs lintian acl"
# the ollama_npm test installs ollama-js with npm; NodeSource's nodejs
# carries its own npm, and Debian's npm package would conflict with it
command -v npm >/dev/null 2>&1 || DEB_PKGS="$DEB_PKGS npm"
# the status_page test renders the page in headless Chromium: Debian's
# chromium; Ubuntu has only chromium-browser (a snap wrapper). On macOS it
# is a cask, not a formula: that test skips without it.
chromium_pkg=chromium
if command -v apt-cache >/dev/null 2>&1 &&
    ! apt-cache show chromium >/dev/null 2>&1 &&
    apt-cache show chromium-browser >/dev/null 2>&1; then
	chromium_pkg=chromium-browser
fi
DEB_PKGS="$DEB_PKGS $chromium_pkg"
# bash: the integration tests and bench scripts need bash >= 5 (macOS's
# /bin/bash is 3.2); Homebrew's goes first in PATH. prometheus: promtool.
# node: npm for the ollama_npm test. lintian: the deb test; acl: setfacl for
# install.sh --ssh-account.
BREW_PKGS="cmake pkg-config libevent libsodium curl jansson libssh inih cmocka
prometheus bash node"

# macOS: Homebrew refuses to run as root (`sudo make test`), so as root this
# never runs brew: it looks for the formulae in Homebrew's prefix and prints
# the command for the user when some are missing.
deps_macos() {
	prefix=
	for b in "$(command -v brew 2>/dev/null || true)" \
	    /opt/homebrew/bin/brew /usr/local/bin/brew; do
		if [ -n "$b" ] && [ -x "$b" ]; then
			prefix=$(cd "$(dirname "$b")/.." && pwd)
			brew=$b
			break
		fi
	done
	if [ -z "$prefix" ]; then
		echo "deps: install Homebrew (https://brew.sh), then run as" \
		    "your user (not root):" >&2
		echo "  brew install" $BREW_PKGS >&2
		exit 1
	fi
	missing=""
	for f in $BREW_PKGS; do
		[ -e "$prefix/opt/$f" ] || missing="$missing $f"
	done
	case ":$PATH:" in
	*":$prefix/bin:"*) ;;
	*) echo "deps: put $prefix/bin first in PATH (Homebrew's bash," \
	       "cmake and pkg-config)" >&2 ;;
	esac
	[ -z "$missing" ] && return 0
	if [ "$(id -u)" -eq 0 ]; then
		echo "deps: missing Homebrew formulae; Homebrew will not run as" \
		    "root, so run as ${SUDO_USER:-your user}:" >&2
		echo "  $brew install$missing" >&2
		exit 1
	fi
	echo "deps: $brew install$missing"
	"$brew" install $missing
}

if [ "$(uname -s)" = Darwin ]; then
	deps_macos
	exit 0
fi

if ! command -v dpkg-query >/dev/null 2>&1; then
	echo "deps: not a Debian/Ubuntu system; install the equivalents of:" >&2
	echo "  $DEB_PKGS" | tr '\n' ' ' >&2
	echo >&2
	exit 1
fi

missing=""
for p in $DEB_PKGS; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$st" in
	*"install ok installed"*) ;;
	*) missing="$missing $p" ;;
	esac
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing packages; run as root:" >&2
	echo "  apt-get update && apt-get install -y$missing" >&2
	exit 1
fi
echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing
