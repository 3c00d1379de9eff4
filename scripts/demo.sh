#!/usr/bin/env bash
# The demo from a fresh checkout on Debian 12, as root. Until the kernel backend lands it
# checks the example policy and asks it questions with explain; later it will start the
# lab factory with the daemon enforcing the policy.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${SEKISHO_DEMO_BUILD_DIR:-build-demo}
scripts/install-deps.sh demo
cmake -S . -B "$build" -G Ninja -DSEKISHO_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" --target sekishoctl >/dev/null
ctl=$build/bin/sekishoctl
policy=configs/factory-line.yaml

run() {
  echo
  echo "\$ sekishoctl $*"
  "$ctl" "$@" || echo "(exit $?)"
}

echo "== The example policy: one factory line (configs/factory-line.yaml)"
run check "$policy"

echo
echo "== What does it allow? (times are Asia/Tokyo, the policy's time zone)"
run explain "$policy" --from historian --to plc-1 --proto tcp --port 502
run explain "$policy" --from plc-1 --to historian --proto tcp --port 502
run explain "$policy" --from mes --to hmi-1 --proto tcp --port 4840 --at 2026-11-25T10:00
run explain "$policy" --from mes --to hmi-1 --proto tcp --port 4840 --at 2026-11-25T21:00
run explain "$policy" --from mes --to hmi-1 --proto tcp --port 4840 --at 2026-12-30T10:00
run explain "$policy" --from 10.20.7.7 --to plc-2 --proto icmp --type echo-request
run explain "$policy" --from vendor-a --to hmi-1 --proto tcp --port 5900
run explain "$policy" --from 198.51.100.9 --to gateway --proto udp --port 51820
run explain "$policy" --from gateway --to cloud-broker --proto tcp --port 8883 --json

echo
echo "== The ruleset it compiles to (sekishoctl compile; the start of it)"
ruleset=$(mktemp -d)/factory-line.nft
"$ctl" compile "$policy" >"$ruleset"
grep -n -A12 "chain forward {" "$ruleset" | head -14
echo "... $(wc -l <"$ruleset") lines in all"
if command -v nft >/dev/null && unshare --net true 2>/dev/null; then
  echo
  echo "== Loaded into the kernel of a private network namespace (never this machine's own)"
  unshare --net sh -c "nft -f '$ruleset' && nft list chain inet sekisho it_to_ot &&
    nft list table inet sekisho | awk '/^\t(set|map) /{s++} /^\tchain /{c++}
      END {print s \" sets and maps, \" c \" chains in the kernel\"}'"
fi
rm -rf "$(dirname "$ruleset")"

echo
echo "== A policy that breaks the JPCERT/CC guide is refused, with every reason"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
broken=$scratch/factory-line-broken.yaml
sed -e 's/^    broker: cloud-broker .*/    broker: mqtt.example.com/' \
  -e 's/^  - name: IT may ping the line/  - name: the internet may ping the line/' \
  -e '/^  - name: the internet may ping the line/{n;s/from: it/from: wan/}' \
  "$policy" >"$broken"
run check "$broken"
