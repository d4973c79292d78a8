#!/bin/sh
# Install what peerwatch needs to build and test, or say exactly how.
# Debian/Ubuntu as root: apt-get install the missing packages.
# Debian/Ubuntu as a user: print the apt-get line. macOS: print brew line.
set -eu

DEB_PKGS="cmake make gcc pkg-config libevent-dev libsodium-dev
libcurl4-openssl-dev libjansson-dev libssh-dev libinih-dev libcmocka-dev
openssh-server openssh-client iproute2 faketime curl procps systemd
prometheus"
BREW_PKGS="cmake pkg-config libevent libsodium curl jansson libssh inih cmocka"

if [ "$(uname -s)" = Darwin ]; then
	if command -v brew >/dev/null 2>&1; then
		echo "deps: brew install $BREW_PKGS"
		brew install $BREW_PKGS
		exit 0
	fi
	echo "deps: install Homebrew, then run: brew install $BREW_PKGS" >&2
	exit 1
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
