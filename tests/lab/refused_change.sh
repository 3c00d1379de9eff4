#!/usr/bin/env bash
# A WAN gate change the kernel refuses is neither recorded as applied nor forgotten: it is
# tried again every second, audited once (kernel.change_failed), and recorded as taken
# (kernel.change_applied) when the kernel has it.
#
# How the kernel is made to refuse: another process takes table inet sekisho over as a
# table it owns (NFT_TABLE_F_OWNER, tests/lab/own_table.py). The kernel then refuses every
# change of that table from any other socket with EPERM, sekishod's element batch and its
# whole-table fallback alike, for as long as the owner keeps its socket; when the owner
# exits, the kernel deletes its table and sekishod's restore puts the ruleset back. It is
# what any process with CAP_NET_ADMIN could do, and it needs no fault hook in sekishod.
set -u
bindir=$1
src=$2
. "$src/tests/lab/lab_test.sh"
# audit_kind KIND: the details of each record of KIND, one compact JSON line each.
audit_kind() { ctl_gw audit show --json | python3 -c "import json,sys
for r in json.load(sys.stdin):
    if r['kind'] == '$1': print(json.dumps(r['details'], separators=(',', ':')))"; }
gate_holds_wan() { in_gw nft list set inet sekisho wan_closed 2>/dev/null | grep -q '"wan0"'; }

# The lab factory, and hmi-1 reporting to the cloud through the WAN gate.
policy_reporting_to_cloud "$tmp/policy.yaml"
lab_up "$tmp/policy.yaml"
cloud=$("$lab" address cloud 4)
expect hmi1 tcp "$cloud" 8883 reached "before: OT reaches the cloud through the open gate"

# The table changes hands; sekishod's restore of it is refused as well.
mkfifo "$tmp/owner-in"
"$lab" exec gw python3 "$src/tests/lab/own_table.py" sekisho <"$tmp/owner-in" >"$tmp/owner" 2>&1 &
owner=$!
exec 3>"$tmp/owner-in"
if ! wait_ms 5000 grep -q owned "$tmp/owner" >/dev/null; then
  lab_fail "own_table.py did not take the table over: $(cat "$tmp/owner")"
  lab_finish
  exit 1
fi

ctl_gw link down --reason "refusal test" >"$tmp/down" 2>&1
grep -q "gate open (to be closed: the kernel has not taken it yet)" "$tmp/down" &&
  lab_pass "link down: the reply says the kernel has not taken the gate yet" ||
  lab_fail "link down replied: $(cat "$tmp/down")"
sleep 3
ctl_gw link >"$tmp/link"
grep -q "gate open (to be closed" "$tmp/link" &&
  lab_pass "3 s later the status still says open, to be closed" ||
  lab_fail "status: $(cat "$tmp/link")"
gate_holds_wan && lab_fail "the kernel holds the gate closed while the table is not sekishod's" ||
  lab_pass "the kernel holds no closed gate (the table is another process's)"
failures=$(audit_kind kernel.change_failed | grep -c '"wan-gate-close"')
[ "$failures" = 1 ] && lab_pass "audit: one kernel.change_failed for the gate, not one per retry" ||
  lab_fail "audit: $failures kernel.change_failed records for the gate: $(audit_kind kernel.change_failed)"
audit_kind kernel.change_failed | grep '"wan-gate-close"' | grep -q "Operation not permitted" &&
  lab_pass "audit: the failure says why (EPERM)" || lab_fail "audit: $(audit_kind kernel.change_failed)"
audit_kind wan.down | grep -q '"gate_applied":false' &&
  lab_pass "audit: wan.down with gate_applied false" || lab_fail "audit wan.down: $(audit_kind wan.down)"
tries=$("$lab" daemon log | grep -c "WAN gate closed: element change refused")
[ "$tries" -ge 3 ] && lab_pass "the gate change was tried again every second ($tries attempts)" ||
  lab_fail "the gate change was tried $tries times in 3 s"
[ "$(audit_kind drift.restore | grep -c '"restored":false')" = 1 ] &&
  lab_pass "audit: one drift.restore failure for the refused restores, not one per second" ||
  lab_fail "audit drift.restore: $(audit_kind drift.restore)"

# The owner lets go: the kernel deletes its table, and the next attempt takes.
released=$(now_ms)
exec 3>&-
wait "$owner"
if took=$(wait_ms 5000 gate_holds_wan); then
  lab_pass "after the owner let go the gate is closed in the kernel ($took ms)"
  echo "== measured: owner gone -> gate closed: $(($(now_ms) - released)) ms"
else
  lab_fail "the gate was not closed within 5 s of the owner letting go"
fi
gate_settled() { ! ctl_gw link | grep -q "to be closed"; }
wait_ms 3000 gate_settled >/dev/null
ctl_gw link | grep -q "down, gate closed; to be down: forced down" &&
  lab_pass "status: gate closed, nothing pending" || lab_fail "status: $(ctl_gw link)"
applied=$(audit_kind kernel.change_applied | grep '"wan-gate-close"')
python3 -c "import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if d['failed_attempts']>=3 else 1)" "$applied" 2>/dev/null &&
  lab_pass "audit: kernel.change_applied for the gate after $(python3 -c "import json,sys; print(json.loads(sys.argv[1])['failed_attempts'])" "$applied") failed attempts" ||
  lab_fail "audit kernel.change_applied: $(audit_kind kernel.change_applied)"
wan_shut hmi1 tcp "$cloud" 8883 && lab_pass "OT no longer reaches the cloud" || lab_fail "OT still reaches the cloud"
ctl_gw audit verify >/dev/null && lab_pass "the audit log verifies" || lab_fail "audit verify failed"
lab_finish
