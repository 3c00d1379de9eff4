#!/usr/bin/env bash
# Runs the rtnetlink test binary (tests/net/rtnl_test.cpp) inside a throw-away network
# namespace, never in the machine's own: it creates and deletes links there. The namespace
# is removed on exit, also after a failure or Ctrl-C. Skips (77) without root or
# CAP_NET_ADMIN, or where namespaces cannot be made.
# Usage: rtnl_lab.sh BINARY [doctest options]
set -u
binary=${1:?usage: rtnl_lab.sh BINARY [doctest options]}
shift

if [ "$(id -u)" != 0 ]; then
  echo "SKIP: needs root (ip netns add)"
  exit 77
fi
if ! command -v ip >/dev/null; then
  echo "SKIP: ip is not installed (apt-get install iproute2)"
  exit 77
fi
# CAP_NET_ADMIN is bit 12 of the effective set.
if (( (16#$(awk '/^CapEff:/ {print $2}' /proc/self/status) >> 12 & 1) == 0 )); then
  echo "SKIP: root without CAP_NET_ADMIN"
  exit 77
fi

ns=sekisho-rtnl-$$
trap 'ip netns delete "$ns" 2>/dev/null' EXIT
trap 'exit 130' INT TERM
if ! ip netns add "$ns"; then
  echo "SKIP: cannot create a network namespace here"
  exit 77
fi
# The binary refuses to run in the namespace it was started from.
SEKISHO_OUTER_NETNS=$(readlink /proc/self/ns/net) ip netns exec "$ns" "$binary" "$@"
