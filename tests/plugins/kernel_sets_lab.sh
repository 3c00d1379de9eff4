#!/usr/bin/env bash
# A plugin's set the kernel fills (ir::SetFill::Kernel) in a real kernel: the test plugin's
# ruleset loads, real packets from its zone put elements into probe_seen and probe_scans
# (its rules' `add @set` / `update @set`), and `sekishoctl verify --policy` (in a binary
# that has the plugin) leaves those elements alone, while it still finds an element added
# to the plugin's static set. Each case in a private network namespace.
set -u
tool=$1 # sekisho_plugin_lab_tool
src=$2
. "$src/tests/lab/common.sh"
lab_require

policy=$tmp/probe.yaml
cat >"$policy" <<'YAML'
version: 1
zones:
  ot: { interfaces: [eth1], networks: [10.10.0.0/16] }
  it: { interfaces: [eth0], networks: [10.20.0.0/16] }
hosts:
  plc: { address: 10.10.0.5 }
  historian: { address: 10.20.0.9 }
rules:
  - name: historian polls the plc
    from: historian
    to: plc
    services: [tcp/502]
probe:
  zone: ot
  port: 5020
YAML

# in_namespace NFT-COMMAND: apply, run the nft command, verify; prints rc=N of verify.
in_namespace() {
  unshare --net sh -c "'$tool' apply '$policy' && nft list set inet sekisho probe_seen && \
    $1 && '$tool' verify '$policy'; echo rc=\$?" 2>&1
}

out=$(in_namespace true)
if echo "$out" | grep -q "^rc=0" && echo "$out" | grep -q "flags dynamic"; then
  lab_pass "the plugin's ruleset loads with a dynamic set, and verify matches"
else
  lab_fail "the plugin's ruleset:"
  echo "$out" | tail -20
fi

out=$(in_namespace "nft add element inet sekisho probe_seen '{ 10.10.0.5, 10.20.0.9 }'")
if echo "$out" | grep -q "^rc=0" && echo "$out" | grep -q "matches"; then
  lab_pass "verify leaves the elements of a set the kernel fills alone"
else
  lab_fail "verify after the kernel filled probe_seen:"
  echo "$out" | tail -20
fi

# A peer on eth1 in a namespace of its own (a child of the test's, gone with it): a ping
# and TCP connection attempts to three ports, one twice.
packets='ip link add eth1 type veth peer name peer1 && ip addr add 10.10.0.1/24 dev eth1 &&
  ip link set eth1 up && { unshare --net sleep 20 & peer=$!; sleep 0.2; } &&
  ip link set peer1 netns $peer && nsenter -t $peer -n sh -c "ip addr add 10.10.0.7/24 dev peer1 &&
    ip link set peer1 up && ping -c 1 -W 2 10.10.0.1 >/dev/null;
    for port in 502 503 504 502; do timeout 1 bash -c \"echo >/dev/tcp/10.10.0.1/\$port\"; done";
  kill $peer; nft list set inet sekisho probe_seen && nft list set inet sekisho probe_scans'
out=$(in_namespace "$packets")
if echo "$out" | grep -q "^rc=0" && echo "$out" | grep -q "elements = { 10.10.0.7 }" &&
  echo "$out" | grep -q "10.10.0.7 . 10.10.0.1 . tcp . 502 counter packets 2 " &&
  echo "$out" | grep -q "10.10.0.7 . 10.10.0.1 . tcp . 504 counter packets 1 .* timeout 1m"; then
  lab_pass "packets fill the sets from the packet path (a counter and a timeout each), verify matches"
else
  lab_fail "the packet path's set updates:"
  echo "$out" | tail -20
fi

out=$(in_namespace "nft add element inet sekisho probe_interfaces '{ \"eth9\" }'")
if echo "$out" | grep -q "^rc=1" && echo "$out" | grep -q "unexpected: element probe_interfaces"; then
  lab_pass "verify still finds an element added to the plugin's static set"
else
  lab_fail "verify misses an element added to probe_interfaces:"
  echo "$out" | tail -20
fi

lab_finish
