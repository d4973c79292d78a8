#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# deploy_examples: deploy/linux and deploy/macos are exactly what
# `peerwatch deploy-units` prints for the example config today.
set -euo pipefail
PW=$1
SRC=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d /tmp/pw-deploy-examples.XXXXXX)
trap 'rm -rf "$T"' EXIT
mkdir "$T/linux" "$T/macos"
"$PW" deploy-units --linux -c "$SRC/deploy/peers.conf.example" --name vps \
    --bin /usr/local/sbin/peerwatch --unit-config /etc/peerwatch/peers.conf -o "$T/linux" >/dev/null
"$PW" deploy-units --macos -c "$SRC/deploy/peers.conf.example" \
    --name macbook --bin /usr/local/sbin/peerwatch --unit-config /etc/peerwatch/peers.conf -o "$T/macos" >/dev/null
# the install scripts and the Homebrew formula live next to the units
diff -ru -x '*.sh' -x '*.rb' "$SRC/deploy/linux" "$T/linux"
diff -ru -x '*.sh' -x '*.rb' "$SRC/deploy/macos" "$T/macos"
echo "deploy_examples: deploy/linux and deploy/macos match deploy-units"
