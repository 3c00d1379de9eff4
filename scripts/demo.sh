#!/usr/bin/env bash
# The demo from a fresh checkout on Debian 12, as root: builds sekisho, starts the lab
# factory (network namespaces: an OT line, an IT segment, the gateway, a WAN with a
# cloud host) with sekishod enforcing configs/lab-factory.yaml, and shows what passes and
# what does not, next to what `sekishoctl explain` says. Nothing touches this machine's
# own network: everything runs in namespaces named demo-*, removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${SEKISHO_DEMO_BUILD_DIR:-build-demo}
scripts/install-deps.sh demo
cmake -S . -B "$build" -G Ninja -DSEKISHO_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" --target sekishoctl sekishod >/dev/null
ctl=$build/bin/sekishoctl
policy=configs/lab-factory.yaml
export LAB_ID=demo SEKISHO_BINDIR=$PWD/$build/bin LAB_RUN_DIR=/run/sekisho-lab/demo
lab=tests/lab/lab

echo "== The policy: a factory line (configs/lab-factory.yaml)"
"$ctl" check "$policy"
if [ "$(id -u)" != 0 ] || ! unshare --net true 2>/dev/null; then
  echo "The lab needs root (network namespaces); showing explain only."
  "$ctl" explain "$policy" --from historian --to plc-1 --proto tcp --port 502
  "$ctl" explain "$policy" --from plc-1 --to historian --proto tcp --port 502
  exit 0
fi

trap '"$lab" down' EXIT
echo
echo "== The lab factory, with sekishod in the gateway namespace"
"$lab" up "$policy" 2>/dev/null
"$lab" nodes | sed 's/^/  /'
sed 's/^/  /' "$LAB_RUN_DIR/daemon.log"

echo
echo "== Real traffic through the gateway, and what 'sekishoctl explain' says about it"
# node address  name  proto port  what
probes=(
  "historian 192.0.2.21 plc-1 tcp 502 historian reads plc-1 (modbus)"
  "historian 192.0.2.21 plc-1 tcp 23 telnet to plc-1"
  "historian 192.0.2.31 hmi-1 tcp 9005 trend ports on the HMI"
  "mes 192.0.2.22 plc-2 udp 5006 MES talks MELSEC/udp"
  "mes 192.0.2.21 plc-1 tcp 5007 MES to the wrong PLC"
  "plc1 198.18.20.5 historian tcp 4840 a PLC calls into IT"
  "plc1 203.0.113.10 cloud-broker tcp 8883 a PLC calls the cloud"
  "historian 203.0.113.10 cloud-broker tcp 8883 historian reports to the cloud"
  "cloud 198.18.20.5 historian tcp 4840 the internet calls in"
)
results=$(mktemp -d)
for i in "${!probes[@]}"; do # all at once: a dropped probe waits out its time-out
  read -r node address name proto port what <<<"${probes[$i]}"
  echo "p $proto $address $port" | "$lab" exec "$node" python3 tests/lab/probe.py >"$results/$i" &
done
wait
for i in "${!probes[@]}"; do
  read -r node address name proto port what <<<"${probes[$i]}"
  seen=$(awk '{print $2}' "$results/$i")
  source=$("$lab" address "$node" 4)
  said=$("$ctl" explain "$policy" --from "$source" --to "$address" --proto "$proto" \
    --port "$port" --json 2>/dev/null | python3 -c 'import json,sys
e = json.load(sys.stdin)
rule = e.get("rule")
print(e["verdict"] + (" by rule %r, line %s" % (rule, e["line"]) if rule else ": no rule allows it"))')
  printf '  %-34s %-8s -> %-12s %s/%-5s %-8s explain: %s\n' "$what" "$node" "$name" "$proto" \
    "$port" "$([ "$seen" = reached ] && echo PASSES || echo dropped)" "$said"
done
rm -rf "$results"

echo
echo "== Someone flushes the firewall by hand; sekishod notices and puts it back"
"$lab" exec gw nft flush ruleset
sleep 0.5
grep -E "drift|restored" "$LAB_RUN_DIR/daemon.log" | tail -2 | sed 's/^/  /'
"$lab" exec gw "$ctl" verify --policy "$policy" 2>/dev/null | sed 's/^/  /'

echo
echo "== A remote admin applies a change that cuts off the historian's trends, with a 5 s safety net"
scratch=$(mktemp -d)
sock=$LAB_RUN_DIR/control.sock
sed 's/    services: \[trends\]/    services: [ssh]/' "$policy" >"$scratch/change.yaml"
trends() {
  echo "p tcp 192.0.2.31 9005" | "$lab" exec historian python3 tests/lab/probe.py |
    awk '{print ($2 == "reached" ? "PASSES" : "dropped")}'
}
"$ctl" --control "$sock" apply "$scratch/change.yaml" --confirm-within 5s | sed 's/^/  /'
echo "  historian -> hmi-1 tcp/9005 (trends): $(trends)   nobody confirms..."
sleep 7
echo "  historian -> hmi-1 tcp/9005 (trends): $(trends)   rolled back:"
"$ctl" --control "$sock" audit show --kind policy.rollback | tail -1 | cut -c1-150 | sed 's/^/  /'

echo
echo "== A policy that breaks the JPCERT/CC guide is refused, with every reason"
broken=$scratch/lab-factory-broken.yaml
sed -e 's/^  - name: historian reports to the cloud/  - name: the internet reaches the historian/' \
  -e '/^  - name: the internet reaches the historian/{n;s/from: historian/from: wan/;n;s/to: cloud-broker/to: historian/}' \
  -e 's/^    address: 203.0.113.10 .*/    address: broker.example.com/' "$policy" >"$broken"
"$ctl" check "$broken" || echo "(exit $?: nothing was applied)"
rm -rf "$scratch"
