#!/usr/bin/env bash
# A forced `link down` survives a reboot. The reboot: sekishod stops, the ruleset is gone
# and the WAN link comes up configured (as the network manager brings it up at boot); then
# `sekishod --restore` (the early-boot unit) and sekishod's start. From --restore on,
# nothing passes through the WAN, also while sekishod starts (watched all along), and the
# link stays down. A forced down whose deadline has passed by a clock that is not
# synchronised holds until the clock is; a wan.json that cannot be read keeps the WAN
# closed until an operator says `link auto`. A stored `up` override, or none (`link
# auto`), does not keep the WAN closed once sekishod runs.
set -u
bindir=$1
src=$2
. "$src/tests/lab/lab_test.sh"
run=$LAB_RUN_DIR
# The daemon's clock (test builds): synchronised or not, and how far ahead.
export SEKISHO_TEST_CLOCK_SYNCHRONISED_FILE=$tmp/clock-synchronised
export SEKISHO_TEST_CLOCK_OFFSET_FILE=$tmp/clock-offset
echo 1 >"$SEKISHO_TEST_CLOCK_SYNCHRONISED_FILE"
echo 0 >"$SEKISHO_TEST_CLOCK_OFFSET_FILE"
audit_kind() { ctl_gw audit show --json | python3 -c "import json,sys
for r in json.load(sys.stdin):
    if r['kind'] == '$1': print(json.dumps(r['details'], separators=(',', ':')))"; }

# The lab factory without operating hours (wan.up): only the override can shut the WAN;
# hmi-1 reports to the cloud through it.
policy_reporting_to_cloud "$tmp/policy.yaml"
lab_up "$tmp/policy.yaml"
cloud=$("$lab" address cloud 4)
link_is_up() { in_gw ip link show wan0 | grep -q "[<,]UP[,>]"; }
gate_holds_wan() { in_gw nft list set inet sekisho wan_closed 2>/dev/null | grep -q '"wan0"'; }
cloud_reached() { [ "$(probe hmi1 tcp "$cloud" 8883)" = reached ]; }
cloud_shut() { wan_shut hmi1 tcp "$cloud" 8883; }
# reboot WHAT [COMMAND]: sekishod stops, COMMAND runs, the table goes, the WAN link comes up
# with its default route, --restore runs.
reboot() {
  "$lab" daemon stop
  ${2:+"$2"}
  in_gw nft flush ruleset
  in_gw ip link set wan0 up
  in_gw ip route replace default via 198.51.100.1
  out=$(in_gw "$bindir/sekishod" --restore --state-dir "$run/state" 2>&1) ||
    lab_fail "$1: --restore failed: $out"
}

cloud_reached && lab_pass "before: OT reaches the cloud" || lab_fail "before: OT does not reach the cloud"
ctl_gw link down --reason "x" >/dev/null || lab_fail "link down was refused"
wait_ms 5000 cloud_shut >/dev/null && ! link_is_up && lab_pass "link down: the WAN is shut and the link down" ||
  lab_fail "link down: the WAN is not shut"

reboot "forced down"
link_is_up || lab_fail "the reboot did not bring the link up"
gate_holds_wan && lab_pass "--restore keeps the WAN gate closed: a forced down is stored" ||
  lab_fail "--restore left the WAN gate open: $(in_gw nft list set inet sekisho wan_closed 2>&1)"
# Watch the WAN from now on: at early boot some time passes before sekishod starts.
"$lab" exec hmi1 python3 "$src/tests/lab/watch_reach.py" "$cloud" 8883 "$tmp/stop" >"$tmp/watch" &
watch=$!
sleep 2
"$lab" daemon start >/dev/null || lab_fail "sekishod did not start"
sleep 3
touch "$tmp/stop"
wait "$watch"
if grep -q "^attempts" "$tmp/watch" && ! grep -q "^reached" "$tmp/watch"; then
  lab_pass "nothing passed through the WAN from --restore to 3 s after sekishod started ($(tail -1 "$tmp/watch"))"
else
  lab_fail "the WAN let traffic through across the reboot: $(grep -m3 . "$tmp/watch")"
fi
! link_is_up && lab_pass "after the start the link is down again" || lab_fail "after the start the link is up"
gate_holds_wan && lab_pass "after the start the gate is closed" || lab_fail "after the start the gate is open"
ctl_gw link | grep -q "to be down: forced down by root" &&
  lab_pass "status: still forced down" || lab_fail "status: $(ctl_gw link)"

# still_shut_after_start WHY: starts sekishod and checks that 3 s later the WAN is still
# shut (no cloud, the gate closed, the link down).
still_shut_after_start() {
  "$lab" daemon start >/dev/null || lab_fail "sekishod did not start"
  sleep 3
  cloud_shut && gate_holds_wan && ! link_is_up &&
    lab_pass "$1: 3 s after the start the WAN is still shut" ||
    lab_fail "$1: the WAN opened after the start"
}

# A forced down with a deadline, and a reboot that comes up with a clock 2 h ahead and not
# synchronised: the deadline looks passed, and the WAN stays shut until the clock is
# synchronised; then the override ends (link.auto) and the WAN opens.
ctl_gw link down --for 1h --reason "until the storm passes" >/dev/null || lab_fail "link down --for was refused"
reboot "forced down with a deadline"
echo 0 >"$SEKISHO_TEST_CLOCK_SYNCHRONISED_FILE"
echo 7200 >"$SEKISHO_TEST_CLOCK_OFFSET_FILE"
still_shut_after_start "deadline passed by an unsynchronised clock"
ctl_gw link | grep -q "its deadline has passed by a clock that is not synchronised" &&
  lab_pass "status says why: $(ctl_gw link | grep -o 'to be down: [^(]*')" || lab_fail "status: $(ctl_gw link)"
echo 1 >"$SEKISHO_TEST_CLOCK_SYNCHRONISED_FILE"
if took=$(wait_ms 10000 cloud_reached) && audit_kind link.auto | grep -q "override by root expired"; then
  lab_pass "once the clock is synchronised the override ends and OT reaches the cloud ($took ms)"
else
  lab_fail "after the clock was synchronised: $(ctl_gw link); link.auto: $(audit_kind link.auto)"
fi
echo 0 >"$SEKISHO_TEST_CLOCK_OFFSET_FILE"

# A wan.json that cannot be read (cut short on the disk) may hold a forced down: the WAN
# stays shut, also across a restart of sekishod, until an operator says link auto.
ctl_gw link down --reason "before the disk trouble" >/dev/null || lab_fail "link down was refused"
wait_ms 5000 cloud_shut >/dev/null || lab_fail "link down: the WAN is not shut"
cut_short() { printf '{"override": {"kind": "down", "since": "20' >"$run/state/wan.json"; }
reboot "unreadable wan.json" cut_short
gate_holds_wan && lab_pass "--restore keeps the gate closed: wan.json cannot be read" ||
  lab_fail "--restore opened the gate for an unreadable wan.json"
still_shut_after_start "unreadable wan.json"
ctl_gw link | grep -q "to be down: the stored link override cannot be read ($run/state/wan.json: " &&
  lab_pass "status says why: $(ctl_gw link | grep -o 'the stored link override cannot be read ([^:]*')" ||
  lab_fail "status: $(ctl_gw link)"
"$lab" daemon stop
"$lab" daemon start >/dev/null || lab_fail "sekishod did not start"
sleep 2
cloud_shut && gate_holds_wan && ctl_gw link | grep -q "cannot be read" &&
  lab_pass "after a restart (sekishod wrote wan.json meanwhile) it is still shut and unknown" ||
  lab_fail "after a restart: $(ctl_gw link)"
ctl_gw link auto --reason "disk checked" >/dev/null || lab_fail "link auto was refused"
wait_ms 10000 cloud_reached >/dev/null && audit_kind link.auto | grep -q '"replaces_unreadable"' &&
  lab_pass "link auto opens it, recorded with what it replaced" ||
  lab_fail "after link auto: $(ctl_gw link); link.auto: $(audit_kind link.auto)"

# A stored `up` override: closed at most until sekishod runs, then the WAN is open.
ctl_gw link up --for 30m --reason "y" >/dev/null || lab_fail "link up was refused"
wait_ms 10000 cloud_reached >/dev/null || lab_fail "link up: OT does not reach the cloud"
reboot "up override"
"$lab" daemon start >/dev/null || lab_fail "sekishod did not start"
wait_ms 10000 cloud_reached >/dev/null && link_is_up && ! gate_holds_wan &&
  lab_pass "a stored up override: after the start the WAN is open" ||
  lab_fail "a stored up override kept the WAN closed"

# No override (`link auto`): likewise.
ctl_gw link auto --reason "z" >/dev/null || lab_fail "link auto was refused"
reboot "no override"
"$lab" daemon start >/dev/null || lab_fail "sekishod did not start"
wait_ms 10000 cloud_reached >/dev/null && link_is_up && ! gate_holds_wan &&
  lab_pass "no override: after the start the WAN is open" ||
  lab_fail "without an override the WAN stayed closed"
lab_finish
