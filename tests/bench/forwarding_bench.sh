#!/usr/bin/env bash
# Benchmark: TCP forwarding through the gateway (iperf3, IT client -> OT server on a flow
# the policy allows, so the data walks the it -> ot allowlist) with
#   none     no ruleset at all,
#   conntrack  only connection tracking (accept established, accept the rest): what any
#            stateful firewall pays, to tell sekisho's own cost from conntrack's,
#   sekisho  the large generated policy enforced by sekishod (one set lookup per packet),
#   linear   the same policy as a naive list, one rule per flow, established last,
# interleaved rounds; prints median, min and max per configuration and the ratios (goals:
# sekisho at least 0.9 of none, at least 4x linear). The flow used is the last one of the
# list, the worst case for the linear ruleset, as a packet to an unlisted host would be.
#   forwarding_bench.sh BINDIR [--rounds N] [--seconds S] [--ot-hosts N --pairs N]
set -euo pipefail
bindir=$1
shift
rounds=5
seconds=5
shape=()
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    *) shape+=("$1" "$2"); shift 2 ;;
  esac
done
for tool in iperf3 nft ip python3; do
  command -v $tool >/dev/null || { echo "SKIP: $tool is not installed"; exit 77; }
done
id=skb$$
if ! ip netns add "$id-probe" 2>/dev/null; then
  echo "SKIP: needs root (network namespaces)"
  exit 77
fi
ip netns del "$id-probe"
tmp=$(mktemp -d)
cleanup() {
  for node in it gw ot; do
    for pid in $(ip netns pids "$id-$node" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
    ip netns del "$id-$node" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$bindir/sekisho_policy_gen" "${shape[@]}" >"$tmp/policy.yaml"
"$bindir/sekisho_linear_ruleset" "$tmp/policy.yaml" >"$tmp/linear.nft" 2>/dev/null
flow=$("$bindir/sekishoctl" compile "$tmp/policy.yaml" 2>/dev/null |
  sed -n '/set it_to_ot_v4 {/,/}/p' | grep -o '[0-9.]* \. [0-9.]* \. tcp \. [0-9]*' | tail -1)
read -r it_address _ ot_address _ _ _ port <<<"$flow"

for node in it gw ot; do
  ip netns add "$id-$node"
  ip -n "$id-$node" link set lo up
done
ip -n "$id-it" link add eth0 type veth peer name it0 netns "$id-gw"
ip -n "$id-ot" link add eth0 type veth peer name lan0 netns "$id-gw"
ip -n "$id-it" addr add "$it_address/17" dev eth0
ip -n "$id-ot" addr add "$ot_address/16" dev eth0
ip -n "$id-gw" addr add 198.19.127.254/17 dev it0
ip -n "$id-gw" addr add 198.18.255.254/16 dev lan0
for link in "it eth0" "ot eth0" "gw it0" "gw lan0"; do
  read -r node ifname <<<"$link"
  ip -n "$id-$node" link set "$ifname" up
done
ip -n "$id-it" route add default via 198.19.127.254
ip -n "$id-ot" route add default via 198.18.255.254
ip netns exec "$id-gw" sysctl -qw net.ipv4.ip_forward=1
ip netns exec "$id-ot" iperf3 -s -p "$port" -D
ip netns exec "$id-gw" "$bindir/sekishod" --policy "$tmp/policy.yaml" --state-dir "$tmp/state" \
  >"$tmp/daemon.log" 2>&1 &
daemon=$!
for i in $(seq 1 300); do grep -q enforcing "$tmp/daemon.log" && break; sleep 0.1; done
kill -TERM $daemon # the ruleset stays; re-applied below with the apply tool
wait $daemon || true

load() {
  case $1 in
    none) ip netns exec "$id-gw" nft flush ruleset ;;
    conntrack)
      ip netns exec "$id-gw" nft flush ruleset
      ip netns exec "$id-gw" nft -f - <<'NFT'
table inet conntrack_only {
  chain forward {
    type filter hook forward priority 0; policy accept;
    ct state established,related accept
  }
}
NFT
      ;;
    sekisho) ip netns exec "$id-gw" "$bindir/sekishod" --restore --state-dir "$tmp/state" 2>/dev/null ;;
    linear) ip netns exec "$id-gw" nft -f "$tmp/linear.nft" ;;
  esac
}

sleep 1
for round in $(seq 1 "$rounds"); do
  for config in none conntrack sekisho linear; do
    load $config
    bps=$(ip netns exec "$id-it" iperf3 -c "$ot_address" -p "$port" -t "$seconds" -J |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"])')
    echo "$config $bps" >>"$tmp/figures"
  done
done

python3 - "$tmp/figures" "$it_address" "$ot_address" "$port" "$seconds" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    config, bps = line.split()
    runs.setdefault(config, []).append(float(bps) / 1e9)
print(f"forwarding benchmark: iperf3 TCP {sys.argv[2]} -> {sys.argv[3]}:{sys.argv[4]}, "
      f"{len(runs['none'])} interleaved rounds of {sys.argv[5]} s, Gbit/s")
med = {}
for config in ("none", "conntrack", "sekisho", "linear"):
    values = runs[config]
    med[config] = statistics.median(values)
    print(f"  {config:9s} median {med[config]:6.2f}  min {min(values):6.2f}  max {max(values):6.2f}")
print(f"  sekisho / none   = {med['sekisho'] / med['none']:.2f} (goal: at least 0.90)")
print(f"  sekisho / conntrack only = {med['sekisho'] / med['conntrack']:.2f}"
      " (sekisho's own cost beyond connection tracking)")
print(f"  sekisho / linear = {med['sekisho'] / med['linear']:.1f} (goal: at least 4)")
PY
