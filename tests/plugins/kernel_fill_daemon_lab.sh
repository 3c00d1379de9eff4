#!/usr/bin/env bash
# The packet path fills a plugin's sets while sekishod enforces the policy: the daemon of
# build/probe-bin (the test plugin "probe" registered) applies the factory lab's policy
# with a probe section (its compiled text loads with nft -f and lists back the same);
# packets from the OT zone put their sources into probe_seen and their flows into
# probe_scans. That is no commit: drift restore stays quiet and `verify` matches. An
# element nft adds to the plugin's static set is restored, so the guard was watching.
set -u
bindir=$1 # build/probe-bin
src=$2
. "$src/tests/lab/lab_test.sh"
policy=$tmp/probe-factory.yaml
{
  cat "$src/configs/lab-factory.yaml"
  printf 'probe:\n  zone: ot\n  port: 5020\n'
} >"$policy"
# The compiled text loads with nft -f, and nft lists the plugin's sets and rules as
# sekishoctl compile printed them (but for the counters' values).
"$ctl" compile "$policy" >"$tmp/probe.nft"
plugin_part() { sed -n '/^\t\(set probe_s\|chain probe_input\)/,/^\t}/p' "$1"; }
unshare --net sh -c "nft -f '$tmp/probe.nft' && nft list table inet sekisho" >"$tmp/listed.nft"
sed -i 's/ counter packets [0-9]* bytes [0-9]*/ counter/' "$tmp/listed.nft"
if [ -n "$(plugin_part "$tmp/probe.nft")" ] &&
  diff <(plugin_part "$tmp/probe.nft") <(plugin_part "$tmp/listed.nft"); then
  lab_pass "nft lists the plugin's sets and set updates as sekishoctl compile prints them"
else
  lab_fail "nft lists the plugin's part otherwise than sekishoctl compile"
fi

lab_up "$policy"
gateway=192.0.2.1 # its OT leg (tests/lab/lab)

drift_lines() { "$lab" daemon log | grep -c "drift:"; }

# plc1 and hmi1 open connections to the gateway (most are dropped, after probe_input saw
# them); plc1 tries port 502 three times.
for port in 502 502 502 22 8080; do
  "$lab" exec plc1 timeout 0.3 bash -c "echo >/dev/tcp/$gateway/$port" 2>/dev/null
done
"$lab" exec hmi1 timeout 0.3 bash -c "echo >/dev/tcp/$gateway/502" 2>/dev/null
seen=$(in_gw nft list set inet sekisho probe_seen)
scans=$(in_gw nft list set inet sekisho probe_scans)
if echo "$seen" | grep -q "192.0.2.21" && echo "$seen" | grep -q "192.0.2.31" &&
  echo "$scans" | grep -q "192.0.2.21 . $gateway . tcp . 502 counter packets 3 " &&
  echo "$scans" | grep -q "192.0.2.31 . $gateway . tcp . 502 counter packets 1 .*timeout 1m"; then
  lab_pass "packets from the OT zone fill probe_seen and probe_scans"
else
  lab_fail "the sets the kernel fills:"
  echo "$seen" "$scans" | head -20
fi

if verify_quiet && [ "$(drift_lines)" = 0 ]; then
  lab_pass "no drift restore while the kernel fills the sets, and verify matches"
else
  lab_fail "drift or verify while the kernel fills the sets:"
  "$lab" daemon log | grep "drift:" | tail -3
  in_gw "$ctl" verify --policy "$LAB_RUN_DIR/policy.yaml" | tail -5
fi

in_gw nft add element inet sekisho probe_interfaces '{ "eth9" }'
if took=$(wait_ms 5000 verify_quiet) && [ "$("$lab" daemon log | grep -c "restore #")" = 1 ]; then
  lab_pass "an element nft adds to probe_interfaces is restored after $took ms (the guard watched)"
else
  lab_fail "an element nft added to probe_interfaces was not restored once"
  "$lab" daemon log | grep "drift:" | tail -3
fi

lab_finish
