#!/usr/bin/env bash
# Runs a lab test binary (tests/net/rtnl_test.cpp, conntrack_lab_test.cpp) inside a
# throw-away network namespace, never in the machine's own: the tests create and delete
# links, load nftables rules and flush conntrack there. The namespace is removed on exit,
# also after a failure or Ctrl-C. Skips (77) without root or CAP_NET_ADMIN, where
# namespaces cannot be made, or when a tool named with --require is missing.
# Usage: netns_lab.sh [--require TOOL]... BINARY [doctest options]
set -u
required=(ip)
while [ "${1:-}" = --require ]; do
  required+=("${2:?--require needs a tool name}")
  shift 2
done
binary=${1:?usage: netns_lab.sh [--require TOOL]... BINARY [doctest options]}
shift

if [ "$(id -u)" != 0 ]; then
  echo "SKIP: needs root (ip netns add)"
  exit 77
fi
for tool in "${required[@]}"; do
  if ! command -v "$tool" >/dev/null; then
    echo "SKIP: $tool is not installed"
    exit 77
  fi
done
# CAP_NET_ADMIN is bit 12 of the effective set.
if (( (16#$(awk '/^CapEff:/ {print $2}' /proc/self/status) >> 12 & 1) == 0 )); then
  echo "SKIP: root without CAP_NET_ADMIN"
  exit 77
fi

ns=sekisho-$(basename "$binary")-$$
trap 'ip netns delete "$ns" 2>/dev/null' EXIT
trap 'exit 130' INT TERM
if ! ip netns add "$ns"; then
  echo "SKIP: cannot create a network namespace here"
  exit 77
fi
# The binary refuses to run in the namespace it was started from.
SEKISHO_OUTER_NETNS=$(readlink /proc/self/ns/net) ip netns exec "$ns" "$binary" "$@"
