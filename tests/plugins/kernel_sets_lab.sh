#!/usr/bin/env bash
# A plugin's set the kernel fills (ir::SetFill::Kernel) in a real kernel: the test plugin's
# ruleset loads, and `sekishoctl verify --policy` (in a binary that has the plugin) leaves
# the elements the kernel put into probe_seen alone, while it still finds an element added
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

out=$(in_namespace "nft add element inet sekisho probe_interfaces '{ \"eth9\" }'")
if echo "$out" | grep -q "^rc=1" && echo "$out" | grep -q "unexpected: element probe_interfaces"; then
  lab_pass "verify still finds an element added to the plugin's static set"
else
  lab_fail "verify misses an element added to probe_interfaces:"
  echo "$out" | tail -20
fi

lab_finish
