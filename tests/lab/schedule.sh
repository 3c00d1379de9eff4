#!/usr/bin/env bash
# Operating hours (W-2): a scheduled rule opens and closes with its schedule (its open
# connections end with it), and outside wan.up the WAN link is shut: gate closed, link set
# down with its addresses and routes recorded, power hook "off"; at opening everything comes
# back as it was. An override and a jump session hold the link up, a forced down outranks
# them, a link set up by hand passes nothing, and a power hook others could change is not
# run. The daemon's clock is the test clock
# (docs/architecture.md, Time; SEKISHO_TEST_CLOCK_OFFSET_FILE).
set -u
bindir=$1
src=$2
. "$src/tests/lab/lab_test.sh"
lab_require_tools conntrack wireguard-go
tmp=$(mktemp -d)
run=$LAB_RUN_DIR
gw_if=${LAB_ID}ws0 # wireguard-go's sockets are shared by all namespaces: a name of our own
keys=/run/sekisho-lab/$LAB_ID-schedule-keys
trap 'kill -CONT "$(cat "$run/daemon.pid" 2>/dev/null)" 2>/dev/null; "$lab" down; rm -rf "$tmp" "$keys"; rm -f /var/run/wireguard/$gw_if.sock' EXIT
ctl_gw() { in_gw "$ctl" --control "$run/control.sock" "$@"; }
transfer() { "$lab" exec "$1" python3 "$src/tests/lab/transfer.py" "${@:2}"; }

# The test clock: the daemon's schedules see the real time plus this offset.
export SEKISHO_TEST_CLOCK_OFFSET_FILE=$tmp/clock-offset
# set_clock 'YYYY-MM-DD HH:MM:SS' (Asia/Tokyo): the daemon's schedule clock shows it now.
set_clock() {
  echo $(($(TZ=Asia/Tokyo date -d "$1" +%s) - $(date +%s))) >"$SEKISHO_TEST_CLOCK_OFFSET_FILE"
}
# epoch_of 'YYYY-MM-DD HH:MM:SS' (Asia/Tokyo) in real time, given the current offset.
epoch_of() { echo $(($(TZ=Asia/Tokyo date -d "$1" +%s) - $(cat "$SEKISHO_TEST_CLOCK_OFFSET_FILE"))); }
millis() { python3 -c "print(round(($1) * 1000))"; }

# The power hook: a root-owned script in a root-owned directory standing in for
# /etc/sekisho/hooks (test builds only: SEKISHO_TEST_HOOKS_DIR).
export SEKISHO_TEST_HOOKS_DIR=$tmp/hooks
mkdir -m 755 "$SEKISHO_TEST_HOOKS_DIR"
cat >"$SEKISHO_TEST_HOOKS_DIR/modem" <<EOF
#!/bin/sh
echo "\$1 \$(date +%s.%N)" >>$tmp/hook.log
EOF
chmod 755 "$SEKISHO_TEST_HOOKS_DIR/modem"
chmod 755 "$tmp"

rm -rf "$keys"
mkdir -m 700 -p "$keys"
"$ctl" vpn genkey --out "$keys/gw.key" >/dev/null
vendor_public=$(wg genkey | wg pubkey)

# The lab factory with operating hours 08:00-18:00 (Tokyo) on weekdays: the MES reads the
# HMI only then, and the WAN link is up only then (or while something holds it); hmi-1
# reports to the cloud; a VPN with one maintenance pairing for the session hold.
sed -e 's/^  wan:$/  maint:\n    vpn: maint\n  wan:/' \
  -e 's/^    schedule: always$/    schedule: hours/' \
  -e 's/^      - daily 00:00-24:00$/      - daily 00:00-24:00\n  hours:\n    weekly:\n      - mon-fri 08:00-18:00/' \
  -e 's/^  nat: masquerade$/  nat: masquerade\n  up: hours\n  power_hook: \/etc\/sekisho\/hooks\/modem/' \
  "$src/configs/lab-factory.yaml" >"$tmp/policy.yaml"
cat >>"$tmp/policy.yaml" <<EOF
vpn:
  maint:
    interface: $gw_if
    listen_port: 51820
    address: [198.19.78.1/24]
    private_key_file: $keys/gw.key
    peers:
      vendor-a: { public_key: "$vendor_public", addresses: [198.19.78.2] }
remote_maintenance:
  max_duration: 4h
  targets:
    hmi-1-opcua: { host: hmi-1, services: [opcua] }
  peers:
    vendor-a: [hmi-1-opcua]
EOF
sed -i 's/^rules:$/rules:\n  - name: the line reports to the cloud\n    from: hmi-1\n    to: cloud-broker\n    services: [mqtts]/' \
  "$tmp/policy.yaml"
"$ctl" check "$tmp/policy.yaml" >/dev/null || {
  "$ctl" check "$tmp/policy.yaml"
  lab_fail "the test policy does not check"
  lab_finish
  exit 1
}

set_clock "2027-01-13 10:00:00" # a Wednesday, inside hours
lab_up "$tmp/policy.yaml"
cloud=$("$lab" address cloud 4)
hmi=$("$lab" address hmi1 4)

link_state() { in_gw ip -j link show wan0 | python3 -c 'import json,sys; print("up" if "UP" in json.load(sys.stdin)[0]["flags"] else "down")'; }
link_is() { [ "$(link_state)" = "$1" ]; }
# wan_config: the WAN link's addresses and routes as ip shows them (kernel-made ones aside),
# one sorted line each, to compare before and after a power-down.
wan_config() {
  in_gw ip -j addr show dev wan0 | python3 -c 'import json,sys
for a in json.load(sys.stdin)[0].get("addr_info", []):
    if not a["local"].startswith("fe80"): print("addr", a["local"], a["prefixlen"])' | sort
  for family in -4 -6; do
    in_gw ip -j "$family" route show dev wan0 table all | python3 -c 'import json,sys
for r in json.load(sys.stdin):
    if r.get("protocol") == "kernel" or r.get("table") == "local" or r["dst"].startswith(("fe80", "ff00", "multicast")): continue
    print("route", r["dst"], r.get("gateway", "-"), r.get("metric", 0), r.get("table", "main"))' | sort
  done
}
# expect_shut NODE PROTO DESTINATION PORT WHAT: nothing gets through, whether the gate drops
# it (blocked) or the gateway has no route any more (it answers net unreachable).
expect_shut() {
  local seen
  seen=$(probe "$1" "$2" "$3" "$4")
  case $seen in
    blocked | error:ENETUNREACH | error:EHOSTUNREACH) lab_pass "$5: $1 -> $3 $2/$4 $seen" ;;
    *) lab_fail "$5: $1 -> $3 $2/$4 expected nothing through, saw $seen" ;;
  esac
}
audit_count() { ctl_gw audit show --json | python3 -c "import json,sys; print(sum(1 for r in json.load(sys.stdin) if r['kind']=='$1'))"; }
audit_last() { ctl_gw audit show --json | python3 -c "import json,sys
rs=[r for r in json.load(sys.stdin) if r['kind']=='$1']
print(json.dumps(rs[-1]['details']) if rs else '{}')"; }

# Inside hours: everything passes; give the WAN link configuration worth restoring.
in_gw ip addr add 2001:db8:51::2/64 dev wan0 nodad
in_gw ip route add 203.0.113.128/25 via 198.51.100.1 metric 50
in_gw ip -6 route add 2001:db8:99::/48 via 2001:db8:51::1
in_gw sysctl -qw net.ipv6.conf.wan0.keep_addr_on_down=0
wan_config >"$tmp/wan-before"
link_is up && lab_pass "inside hours the WAN link is up" || lab_fail "inside hours the WAN link is $(link_state)"
expect hmi1 tcp "$cloud" 8883 reached "inside hours OT reaches the cloud"
expect mes tcp "$hmi" 4840 reached "inside hours the scheduled rule lets the MES read the HMI"
ctl_gw schedule >"$tmp/schedule.txt"
grep -q "^hours: OPEN (rule 'MES reads the HMI while the plant runs', wan.up)" "$tmp/schedule.txt" &&
  grep -q "closes 2027-01-13 Wed 18:00 JST" "$tmp/schedule.txt" &&
  lab_pass "sekishoctl schedule: hours is open and closes at 18:00 JST" ||
  lab_fail "sekishoctl schedule says: $(cat "$tmp/schedule.txt")"

# The end of hours: an open MES->HMI connection and the link go with it.
set_clock "2027-01-13 17:59:57"
closing=$(epoch_of "2027-01-13 18:00:00")
transfer mes stream "$hmi" 4840 30 >"$tmp/stream" 2>&1 &
stream=$!
wait_ms 3000 grep -q connected "$tmp/stream" >/dev/null || lab_fail "the MES stream did not connect"
mark=$("$ctl" compile "$tmp/policy.yaml" 2>/dev/null | grep -o "ct mark set 0x[0-9a-f]*" | head -1 | awk "{print \$4}")
marked() { in_gw conntrack -L -m "$((mark))" 2>/dev/null | grep -c "dport=4840"; }
[ "$(marked)" -ge 1 ] && lab_pass "the MES connection carries the schedule's ct mark" ||
  lab_fail "no conntrack entry with the schedule's mark: $(in_gw conntrack -L 2>&1 | grep 4840)"
wait_ms 15000 link_is down >/dev/null || lab_fail "the WAN link did not go down at 18:00"
down_ms=$(millis "$(date +%s.%N) - $closing")
echo "== measured: end of hours -> WAN link down (ip link): $down_ms ms"
[ "$down_ms" -lt 10000 ] && lab_pass "the WAN link went down $down_ms ms after 18:00" ||
  lab_fail "the WAN link went down only $down_ms ms after 18:00"
wait $stream
read -r verdict error failed_at last_echo <<<"$(tail -1 "$tmp/stream")"
if [ "$verdict" = failed ]; then
  last_ms=$(millis "$last_echo - $closing")
  echo "== measured: end of hours -> last echo of the open MES connection: $last_ms ms"
  [ "$last_ms" -lt 5000 ] && lab_pass "the open MES connection ended with the window ($error; last echo $last_ms ms after 18:00)" ||
    lab_fail "the MES connection answered $last_ms ms after 18:00"
else
  lab_fail "the MES connection outlived the window: $(cat "$tmp/stream")"
fi
[ "$(marked)" = 0 ] && lab_pass "no conntrack entry carries the closed schedule's mark" ||
  lab_fail "conntrack still holds the schedule's connections"
expect mes tcp "$hmi" 4840 blocked "outside hours the scheduled rule is closed"
expect_shut hmi1 tcp "$cloud" 8883 "outside hours OT does not reach the cloud"
expect historian tcp "$hmi" 4840 reached "outside hours the plant's own permanent rules go on"
in_gw nft list set inet sekisho wan_closed | grep -q '"wan0"' && lab_pass "the WAN gate holds wan0" ||
  lab_fail "the WAN gate is open: $(in_gw nft list set inet sekisho wan_closed)"
hook_logged() { grep -q "^$1 " "$tmp/hook.log" 2>/dev/null; }
wait_ms 5000 hook_logged off >/dev/null && lab_pass "the power hook ran with 'off'" ||
  lab_fail "the power hook did not run: $(cat "$tmp/hook.log" 2>&1)"
close_record=$(audit_last schedule.close)
python3 -c "import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if d['schedule']=='hours' and d['connections_ended']>=1 else 1)" "$close_record" &&
  lab_pass "audit: schedule.close of hours with its connections ended" ||
  lab_fail "audit schedule.close: $close_record"
down_record=$(audit_last wan.down)
python3 -c "import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if d['cause']=='schedule' and d['link_set_down'] and d['recorded_routes']>=2 else 1)" "$down_record" &&
  lab_pass "audit: wan.down by the schedule, routes recorded" || lab_fail "audit wan.down: $down_record"
wait_ms 5000 test "$(audit_count wan.hook)" -ge 1 >/dev/null
python3 -c "import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if d['argument']=='off' and d['exit_status']==0 else 1)" "$(audit_last wan.hook)" &&
  lab_pass "audit: the hook's exit status" || lab_fail "audit wan.hook: $(audit_last wan.hook)"
ctl_gw status | grep -q "wan:.*wan0 down, gate closed; to be down: schedule hours is closed" &&
  lab_pass "status shows the link down and why" || lab_fail "status: $(ctl_gw status | grep -A3 wan:)"

# Someone sets the link up by hand, with its default route: the kernel's gate alone (sekishod
# stopped meanwhile) passes nothing; running again, sekishod sets the link down again.
kill -STOP "$("$lab" daemon pid)"
in_gw ip link set wan0 up
in_gw ip route replace default via 198.51.100.1
sleep 0.5
in_gw ip route show default | grep -q "via 198.51.100.1 dev wan0" || lab_fail "no default route via wan0 for the hand-raised link"
expect hmi1 tcp "$cloud" 8883 blocked "a link set up by hand passes nothing (the gate)"
in_gw ping -c 1 -W 1 198.51.100.1 >/dev/null 2>&1 && lab_fail "the gateway reached the ISP through the closed gate" ||
  lab_pass "the gateway itself sends nothing through the closed gate"
"$lab" exec isp ping -c 1 -W 1 198.51.100.2 >/dev/null 2>&1 && lab_fail "the ISP reached the gateway through the closed gate" ||
  lab_pass "nothing from the ISP side reaches the gateway through the closed gate"
kill -CONT "$("$lab" daemon pid)"
wait_ms 10000 link_is down >/dev/null && lab_pass "sekishod set the hand-raised link down again" ||
  lab_fail "the link stayed up"
[ "$(audit_count wan.drift)" -ge 1 ] && lab_pass "audit: wan.drift" || lab_fail "no wan.drift record"

# An override keeps the link up outside hours, with its configuration back.
ctl_gw link up --for 20m --reason "firmware download" >/dev/null || lab_fail "link up was refused"
wait_ms 10000 link_is up >/dev/null && lab_pass "link up: the WAN link is up outside hours" ||
  lab_fail "link up: the link is $(link_state)"
cloud_reached() { [ "$(probe hmi1 tcp "$cloud" 8883)" = reached ]; }
wait_ms 10000 cloud_reached >/dev/null && lab_pass "link up: OT reaches the cloud again" ||
  lab_fail "link up: OT does not reach the cloud"
wan_config >"$tmp/wan-override"
diff -u "$tmp/wan-before" "$tmp/wan-override" >"$tmp/diff" && lab_pass "link up: addresses and routes restored exactly ($(wc -l <"$tmp/wan-before") lines)" ||
  lab_fail "link up: the configuration differs: $(cat "$tmp/diff")"
ctl_gw link --json | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d["cause"]=="override" and d["override"]["by"] else 1)' &&
  lab_pass "link status: up by the override" || lab_fail "link status: $(ctl_gw link)"
# An override survives a restart.
"$lab" daemon stop
"$lab" daemon start >/dev/null
sleep 2
link_is up && cloud_reached && lab_pass "the override survives a restart of sekishod" ||
  lab_fail "after a restart the override is gone (link $(link_state))"
ctl_gw link auto --reason "download done" >/dev/null
wait_ms 10000 link_is down >/dev/null && lab_pass "link auto: the schedule decides again (down)" ||
  lab_fail "link auto: the link is $(link_state)"

# A jump session holds the link up; a forced down outranks it and refuses new sessions.
session=$(ctl_gw session open vendor-a hmi-1-opcua --for 30m --reason "PLC update")
wait_ms 10000 link_is up >/dev/null && lab_pass "an open jump session holds the WAN link up" ||
  lab_fail "with session $session open the link is $(link_state)"
ctl_gw link --json | python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["cause"]=="session" else 1)' &&
  lab_pass "link status names the session" || lab_fail "link status: $(ctl_gw link)"
ctl_gw link down --reason "storm warning" >/dev/null
wait_ms 10000 link_is down >/dev/null && lab_pass "a forced down outranks the session" ||
  lab_fail "forced down: the link is $(link_state)"
ctl_gw session close "$session" --reason done >/dev/null
ctl_gw session open vendor-a hmi-1-opcua --for 30m --reason "again" >/dev/null 2>"$tmp/refused"
code=$?
[ "$code" = 65 ] && lab_pass "a session is refused (65) while the link is forced down" ||
  lab_fail "session open while forced down: exit $code $(cat "$tmp/refused")"
ctl_gw link auto --reason "storm passed" >/dev/null

# A hook others could change is refused; the link still goes down.
ctl_gw link up --for 5m --reason "hook test" >/dev/null
wait_ms 10000 link_is up >/dev/null
chmod g+w "$SEKISHO_TEST_HOOKS_DIR/modem"
hooks_before=$(audit_count wan.hook)
ctl_gw link down --reason "hook test" >/dev/null
wait_ms 10000 link_is down >/dev/null && lab_pass "with an untrusted hook the link still goes down" ||
  lab_fail "untrusted hook: the link is $(link_state)"
wait_ms 5000 test "$(audit_count wan.hook)" -gt "$hooks_before" >/dev/null
refused=$(audit_last wan.hook)
python3 -c "import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if 'group' in d.get('refused','') and not d['ok'] else 1)" "$refused" &&
  lab_pass "a group-writable hook is refused and audited" || lab_fail "group-writable hook: $refused"
chmod g-w "$SEKISHO_TEST_HOOKS_DIR/modem"
ctl_gw link auto --reason "hook test done" >/dev/null

# A restart outside hours keeps everything shut; then the opening brings it all back.
"$lab" daemon stop
"$lab" daemon start >/dev/null
sleep 2
link_is down && in_gw nft list set inet sekisho wan_closed | grep -q '"wan0"' &&
  lab_pass "a restart outside hours keeps the link down and the gate closed" ||
  lab_fail "after a restart outside hours: link $(link_state)"
set_clock "2027-01-14 07:59:57"
opening=$(epoch_of "2027-01-14 08:00:00")
wait_ms 15000 link_is up >/dev/null || lab_fail "the WAN link did not come up at 08:00"
up_ms=$(millis "$(date +%s.%N) - $opening")
echo "== measured: opening -> WAN link up (ip link): $up_ms ms"
wait_ms 10000 cloud_reached >/dev/null
reach_ms=$(millis "$(date +%s.%N) - $opening")
echo "== measured: opening -> OT reaches the cloud: $reach_ms ms"
[ "$reach_ms" -lt 15000 ] && lab_pass "at opening OT reaches the cloud again ($reach_ms ms)" ||
  lab_fail "at opening OT does not reach the cloud"
wan_config >"$tmp/wan-after"
diff -u "$tmp/wan-before" "$tmp/wan-after" >"$tmp/diff" && lab_pass "at opening the link's addresses and routes are exactly as before" ||
  lab_fail "at opening the configuration differs: $(cat "$tmp/diff")"
expect mes tcp "$hmi" 4840 reached "at opening the scheduled rule lets the MES in again"
wait_ms 5000 hook_logged on >/dev/null && lab_pass "the power hook ran with 'on'" || lab_fail "no 'on' in the hook log"
for kind in schedule.open schedule.close wan.up wan.down wan.hook wan.drift link.up link.down link.auto; do
  [ "$(audit_count "$kind")" -ge 1 ] || missing="${missing:-} $kind"
done
[ -z "${missing:-}" ] && lab_pass "every transition and override is in the audit log" ||
  lab_fail "no record of:$missing"

# A clock step (NTP, suspend) into the night: the state follows the clock, not the past.
set_clock "2027-01-16 03:00:00" # Saturday night
wait_ms 10000 link_is down >/dev/null && lab_pass "after a clock step into the night the link is down" ||
  lab_fail "after a clock step the link is $(link_state)"
expect mes tcp "$hmi" 4840 blocked "after a clock step the scheduled rule is closed"
ctl_gw audit verify >/dev/null && lab_pass "the audit log verifies" || lab_fail "audit verify failed"
verify_quiet && lab_pass "sekishoctl verify --policy agrees with the kernel (gate closed by the schedule)" ||
  lab_fail "verify --policy: $(in_gw "$ctl" verify --policy "$LAB_RUN_DIR/policy.yaml" 2>&1 | head -5)"

# sekishod not running across the closing minute: at its start the window's open
# connections end all the same, and the close is recorded.
set_clock "2027-01-15 17:59:30" # Friday, open
mes_reached() { [ "$(probe mes tcp "$hmi" 4840)" = reached ]; }
wait_ms 10000 mes_reached >/dev/null || lab_fail "the window did not open again for the restart check"
transfer mes stream "$hmi" 4840 60 >"$tmp/stream-restart" 2>&1 &
stream=$!
wait_ms 3000 grep -q connected "$tmp/stream-restart" >/dev/null || lab_fail "the MES stream did not connect"
"$lab" daemon stop
set_clock "2027-01-15 18:30:00"
sleep 1
[ "$(marked)" -ge 1 ] || lab_fail "the connection was gone before sekishod started again"
started=$(date +%s.%N)
"$lab" daemon start >/dev/null
wait $stream
read -r verdict error failed_at last_echo <<<"$(tail -1 "$tmp/stream-restart")"
[ "$verdict" = failed ] && [ "$(marked)" = 0 ] &&
  lab_pass "a connection whose window closed while sekishod was stopped ends at its start ($(millis "$failed_at - $started") ms after it began)" ||
  lab_fail "after a restart across the closing the connection went on: $(cat "$tmp/stream-restart")"
python3 -c "import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if d.get('at_start') and d['connections_ended']>=1 else 1)" "$(audit_last schedule.close)" &&
  lab_pass "audit: schedule.close at start with the connections ended" ||
  lab_fail "audit schedule.close at start: $(audit_last schedule.close)"

# Early boot (the clock may be unset): --restore keeps a WAN with operating hours closed
# until sekishod decides. The clock says 'open' now, so only the restore can have closed it.
set_clock "2027-01-14 10:00:00"
wait_ms 10000 link_is up >/dev/null || lab_fail "the link did not come up for the restore check"
"$lab" daemon stop
in_gw nft flush ruleset
out=$(in_gw "$bindir/sekishod" --restore --state-dir "$run/state" 2>&1) || lab_fail "--restore: $out"
in_gw nft list set inet sekisho wan_closed | grep -q '"wan0"' &&
  lab_pass "--restore (early boot) keeps the WAN gate closed" ||
  lab_fail "--restore left the WAN gate open: $(in_gw nft list set inet sekisho wan_closed 2>&1)"
"$lab" daemon start >/dev/null
wait_ms 10000 cloud_reached >/dev/null && lab_pass "sekishod then opens it, inside hours" ||
  lab_fail "after the restore sekishod did not open the WAN gate"
lab_finish
