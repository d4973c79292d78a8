#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# ipv6: the same mesh over IPv6 only (ULA addresses inside this run's
# namespaces): 3 peers see each other alive, a kill -9 is confirmed by the
# survivors and exactly one acts, and the restarted peer is alive again.
. "$(dirname "$0")/lib.sh"
pw_setup "$@"

PW_IPV6=1
mesh_netns alpha beta gamma
grep -q "address = fd00:213:" "$T/peers.conf" || fail "config is not IPv6"
start_all
wait_until 8 settled || fail "IPv6 mesh did not come up"
status alpha
[ "$(jget "$ST" peers.beta.state)" = alive ] || fail "alpha does not see beta"

kill_peer gamma KILL
wait_until 8 confirmed_by gamma alpha beta || fail "gamma not confirmed down"
wait_until 3 acting_is gamma 1 alpha beta || fail "not exactly one actor"
start gamma
wait_until 8 settled || fail "gamma not back over IPv6"
pass
