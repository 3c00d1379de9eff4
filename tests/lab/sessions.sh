#!/usr/bin/env bash
# Audited jump sessions (W-1, operations chapter): an operator lets the vendor's VPN peer
# reach one maintenance target for a while; the kernel ends it on time, open connections
# included, also while sekishod does not run; every step is in the audit log, an end the
# kernel refuses for a while only once the kernel has it.
set -u
bindir=$1
src=$2
. "$src/tests/lab/lab_test.sh"
lab_require_tools wg wireguard-go conntrack sqlite3
tmp=$(mktemp -d)
run=$LAB_RUN_DIR
gw_if=${LAB_ID}gs0 # wireguard-go's sockets are shared by all namespaces: names of our own
vendor_if=${LAB_ID}vs0
keys=/run/sekisho-lab/$LAB_ID-session-keys
# A stopped daemon gets no SIGTERM: let it go on before the lab is torn down.
trap 'kill -CONT "$(cat "$run/daemon.pid" 2>/dev/null)" 2>/dev/null; "$lab" down; rm -rf "$tmp" "$keys"; rm -f /var/run/wireguard/{$gw_if,$vendor_if}.sock' EXIT
. "$src/tests/lab/vendor_lab.sh"
ctl_gw() { in_gw "$ctl" --control "$run/control.sock" "$@"; }
transfer() { "$lab" exec "$1" python3 "$src/tests/lab/transfer.py" "${@:2}"; }

rm -rf "$keys"
mkdir -m 700 -p "$keys"
gw_public=$("$ctl" vpn genkey --out "$keys/gw.key")
(umask 077 && wg genkey >"$tmp/vendor-a.key")
vendor_a_public=$(wg pubkey <"$tmp/vendor-a.key")

# policy FILE [without-opcua]: the lab factory with a VPN zone, vendor-a at 198.19.77.2,
# and three maintenance targets, two of them paired with vendor-a.
policy() {
  local opcua="    hmi-1-opcua: { host: hmi-1, services: [opcua] }" pair="hmi-1-opcua, "
  if [ "${2:-}" = without-opcua ]; then opcua="" pair=""; fi
  sed -e 's/^  wan:$/  maint:\n    vpn: maint\n  wan:/' "$src/configs/lab-factory.yaml" >"$1"
  cat >>"$1" <<EOF
vpn:
  maint:
    interface: $gw_if
    listen_port: 51820
    address: [198.19.77.1/24, "2001:db8:77::1/64"]
    private_key_file: $keys/gw.key
    peers:
      vendor-a: { public_key: "$vendor_a_public", addresses: [198.19.77.2, "2001:db8:77::2"] }
remote_maintenance:
  max_duration: 4h
  targets:
$opcua
    hmi-1-bulk: { host: hmi-1, services: [tcp/9999] }
    plc-1-modbus: { host: plc-1, services: [modbus] }
  peers:
    vendor-a: [${pair}hmi-1-bulk]
EOF
}
policy "$tmp/v1.yaml"
lab_up "$tmp/v1.yaml"
vendor_up
vpn_up() {
  [ "$(ctl_gw vpn status --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["vpns"][0]["state"])' 2>/dev/null)" = up ]
}
wait_ms 10000 vpn_up >/dev/null || lab_fail "the VPN did not come up"
ctl_gw vpn peer-config vendor-a --endpoint 198.51.100.2:51820 --policy "$run/policy.yaml" \
  >"$tmp/vendor-a.conf" || lab_fail "peer-config failed"
sed -i "s|<VENDOR PRIVATE KEY>|$(cat "$tmp/vendor-a.key")|" "$tmp/vendor-a.conf"
connect "$vendor_if" "$tmp/vendor-a.conf"
in_vendor ping -c 1 -W 1 198.19.77.1 >/dev/null 2>&1 # starts the handshake
handshake_done() { [ "$(handshake "$vendor_if")" -gt 0 ]; }
wait_ms 10000 handshake_done >/dev/null || lab_fail "no WireGuard handshake"

# The target's side: an echo server on hmi-1 tcp/9999 that logs when each read arrived.
transfer hmi1 serve 9999 "$tmp/hmi-rx.log" >/dev/null 2>&1 &
hmi_listening() { "$lab" exec hmi1 ss -Hltn 'sport = :9999' | grep -q LISTEN; }
wait_ms 5000 hmi_listening >/dev/null || lab_fail "the target's echo server did not start"

vendor_probe() { echo "p tcp-echo $1 $2" | in_vendor python3 "$src/tests/lab/probe.py" | awk '{print $2}'; }
# reaches_exactly WHAT [DST:PORT...]: the vendor reaches these and none of the others.
all_targets="192.0.2.31:4840 [2001:db8:10::31]:4840 192.0.2.31:9999 192.0.2.31:502 192.0.2.21:502 198.18.20.5:22 198.19.77.1:22"
reaches_exactly() {
  local what=$1 wrong="" target host port seen
  shift
  for target in $all_targets; do
    host=${target%:*} port=${target##*:}
    host=${host#[} host=${host%]}
    seen=$(vendor_probe "$host" "$port")
    if [[ " $* " == *" $target "* ]]; then
      [ "$seen" = reached ] || wrong+=" $target:$seen"
    else
      [ "$seen" != reached ] || wrong+=" $target:reached"
    fi
  done
  if [ -z "$wrong" ]; then lab_pass "$what: the vendor reaches exactly ${*:-nothing}"; else
    lab_fail "$what:$wrong"
  fi
}
reaches_exactly "connected, before any session"

# session_field ID PYTHON-EXPRESSION-OF-s
session_field() {
  ctl_gw session show "$1" --json | python3 -c "import json,sys; s=json.load(sys.stdin); print($2)"
}
expect_exit() { # expect_exit CODE WHAT COMMAND...
  local code=$1 what=$2 out rc
  shift 2
  out=$("$@" 2>&1)
  rc=$?
  if [ "$rc" = "$code" ]; then lab_pass "$what (exit $rc: $(echo "$out" | head -1))"; else
    lab_fail "$what: exit $rc, expected $code: $out"
  fi
}

# Refusals change nothing.
expect_exit 65 "a target not paired with the peer is refused" \
  ctl_gw session open vendor-a plc-1-modbus --for 10m --reason "swap the PLC"
expect_exit 65 "longer than remote_maintenance.max_duration is refused" \
  ctl_gw session open vendor-a hmi-1-opcua --for 4h1s --reason "long job"
expect_exit 65 "an unknown peer is refused" \
  ctl_gw session open vendor-z hmi-1-opcua --for 10m --reason "who?"
expect_exit 2 "a session without a reason is refused" \
  ctl_gw session open vendor-a hmi-1-opcua --for 10m

# An unrelated connection (the historian polls plc-1, IT to OT) lives through it all.
"$lab" exec historian python3 "$src/tests/lab/hold.py" 192.0.2.21 502 "$tmp/historian-trigger" \
  >"$tmp/historian-hold" 2>&1 &
historian_hold=$!

# Open: exactly the target's services, from the first packet on.
start=$(now_ms)
id=$(ctl_gw session open vendor-a hmi-1-opcua --for 10m --reason "update the HMI screens" --ticket CHG-1042)
echo "== measured: sekishoctl session open (audit record, checkpoint, kernel elements): $(($(now_ms) - start)) ms"
opcua_reached() { [ "$(vendor_probe 192.0.2.31 4840)" = reached ]; }
if wait_ms 10000 opcua_reached >/dev/null; then
  took=$(($(now_ms) - start))
  lab_pass "session $id opened; the vendor's first connection passed $took ms after 'open' began"
  echo "== measured: session open -> first connection through (probe included): $took ms"
else
  lab_fail "session $id: the target stayed unreachable"
fi
reaches_exactly "session $id to hmi-1-opcua" "192.0.2.31:4840" "[2001:db8:10::31]:4840"
expect_exit 65 "a second session over the same grant is refused" \
  ctl_gw session open vendor-a hmi-1-opcua --for 10m --reason "again"
ctl_gw session list >"$tmp/list"
grep -q "$id  vendor-a -> hmi-1-opcua" "$tmp/list" && grep -q "CHG-1042" "$tmp/list" &&
  lab_pass "session list shows $id with its reason and ticket" ||
  lab_fail "session list: $(cat "$tmp/list")"

# Extend within the maximum; beyond it refused.
expect_exit 0 "extend by 3h (3h10m in all) is allowed" ctl_gw session extend "$id" --by 3h --reason "more screens"
expect_exit 65 "extend by 1h more (over 4h in all) is refused" ctl_gw session extend "$id" --by 1h
remaining=$(session_field "$id" "s['remaining_seconds']")
[ "$remaining" -gt $((3 * 3600)) ] && [ "$remaining" -le $((3 * 3600 + 600)) ] &&
  lab_pass "after the extension $remaining s remain" || lab_fail "remaining after extend: $remaining"

# Restart and reload keep the session with its remaining time (the kernel's element too).
"$lab" daemon stop
"$lab" daemon start
wait_ms 15000 vpn_up >/dev/null || lab_fail "the VPN did not come back after the restart"
after=$(session_field "$id" "s['remaining_seconds']")
if [ "$(session_field "$id" "s['state']")" = open ] && [ "$after" -le "$remaining" ] && [ "$after" -ge $((remaining - 60)) ]; then
  lab_pass "after a restart $id is open with $after s left (was $remaining)"
else
  lab_fail "after a restart: $(ctl_gw session show "$id" --json)"
fi
in_gw nft list map inet sekisho sessions_v4 >"$tmp/map"
# expires_seconds: when the kernel will drop the element ("expires 3h9m50s120ms").
expires=$(python3 -c "import re,sys
m = re.search(r'192\.0\.2\.31 \. tcp \. 4840 timeout \S+ expires ((\d+)h)?((\d+)m)?((\d+)s)?', open('$tmp/map').read())
print(int(m.group(2) or 0) * 3600 + int(m.group(4) or 0) * 60 + int(m.group(6) or 0) if m else -1)")
if [ "$expires" -le "$after" ] && [ "$expires" -ge $((after - 30)) ]; then
  lab_pass "the kernel's sessions_v4 holds $id's element again, expiring in $expires s (the session has $after s)"
else
  lab_fail "sessions_v4 after the restart (expires $expires, session $after s): $(cat "$tmp/map")"
fi
wait_ms 15000 opcua_reached >/dev/null && lab_pass "the vendor reaches the target again after the restart" ||
  lab_fail "after the restart the vendor does not reach the target"
"$lab" daemon reload
sleep 1
[ "$(session_field "$id" "s['state']")" = open ] && opcua_reached &&
  lab_pass "a reload of the same policy keeps $id" || lab_fail "the reload lost $id"

# stream_outcome FILE: "verdict error failed_at last_echo" of a transfer.py stream.
stream_outcome() { tail -1 "$1"; }
last_rx() { awk '{t=$2} END {print t}' "$tmp/hmi-rx.log"; }
millis() { python3 -c "print(round(($1) * 1000))"; }

# Close with sekishod running: access and the open connection end at once.
bulk=$(ctl_gw session open vendor-a hmi-1-bulk --for 10m --reason "copy the recipes")
transfer vendor stream 192.0.2.31 9999 30 >"$tmp/stream-close" 2>&1 &
stream=$!
wait_ms 5000 grep -q connected "$tmp/stream-close" >/dev/null
sleep 1
# flows_of ID: the session's connections in the gateway's conntrack table ("" if none;
# the command itself must work).
flows_of() { in_gw conntrack -L -m "${1#s-}" 2>/dev/null || echo "conntrack failed"; }
[ -n "$(flows_of "$bulk")" ] && lab_pass "the open connection carries $bulk's mark in conntrack" ||
  lab_fail "no conntrack entry with $bulk's mark while it streams"
closed_at=$(date +%s.%N)
ctl_gw session close "$bulk" --reason "recipes copied" >/dev/null
wait $stream
read -r verdict error failed_at last_echo <<<"$(stream_outcome "$tmp/stream-close")"
if [ "$verdict" = failed ]; then
  cut_ms=$(millis "$failed_at - $closed_at")
  [ "$cut_ms" -lt 5000 ] && lab_pass "close: the vendor's open connection failed ($error) $cut_ms ms after 'close' began" ||
    lab_fail "close: the connection failed only $cut_ms ms after 'close' began"
  echo "== measured: session close -> the vendor's connection fails: $cut_ms ms"
else
  lab_fail "close: the vendor's connection went on: $(cat "$tmp/stream-close")"
fi
after_close=$(millis "$(last_rx) - $closed_at")
# What arrived after 'close' began was already on its way during the command's round trip.
[ "$after_close" -lt 500 ] && lab_pass "close: the target's last payload byte arrived $after_close ms after 'close' began" ||
  lab_fail "the target still received data $after_close ms after close"
[ -z "$(flows_of "$bulk")" ] &&
  lab_pass "no conntrack entry carries $bulk's mark after the close" ||
  lab_fail "conntrack still holds: $(flows_of "$bulk")"

# Accounting: 10 MiB each way through a session. conntrack counts IP bytes per packet as
# the gateway receives it; the interfaces where the two directions enter the gateway (the
# tunnel from the vendor, lan0 from the target) count the same packets on their own. The
# record must match them within 2 % and hold at least the payload. (Against the payload
# alone it reads ~5 % high: IP and TCP headers, fewer of them than on the wire where
# segments arrive coalesced.)
acct=$(ctl_gw session open vendor-a hmi-1-bulk --for 10m --reason "firmware image")
rx_bytes() { in_gw cat "/sys/class/net/$1/statistics/rx_bytes"; }
rx0=$(rx_bytes "$gw_if") tx0=$(rx_bytes lan0)
transfer vendor send 192.0.2.31 9999 10485760 >"$tmp/send" 2>&1
rx=$(($(rx_bytes "$gw_if") - rx0)) tx=$(($(rx_bytes lan0) - tx0))
ctl_gw session close "$acct" --reason "image written" >/dev/null
ctl_gw session show "$acct" --json >"$tmp/acct.json"
read -r to from flows <<<"$(python3 -c "import json; s=json.load(open('$tmp/acct.json')); f=[x for x in s['flow_records'] if x['destination_port']==9999]; print(sum(x['bytes_to_target'] for x in f), sum(x['bytes_from_target'] for x in f), len(f))")"
ratio() { python3 -c "print('%.4f' % ($1 / $2))"; }
if grep -q "sent 10485760 received 10485760" "$tmp/send" && [ "$to" -ge 10485760 ] && [ "$from" -ge 10485760 ] &&
  [ "$flows" = 1 ] && python3 -c "import sys; sys.exit(0 if abs($to/$rx-1) < 0.02 and abs($from/$tx-1) < 0.02 else 1)"; then
  lab_pass "accounting: $flows flow, $to bytes to and $from from the target for 10 MiB each way (counted where they entered the gateway: $rx / $tx)"
else
  lab_fail "accounting: recorded $to / $from, the gateway's interfaces $rx / $tx, transfer: $(cat "$tmp/send")"
fi
echo "== measured: session accounting / the gateway's receiving interfaces: to target $(ratio "$to" "$rx"), from target $(ratio "$from" "$tx"); / payload (10485760 each way): $(ratio "$to" 10485760), $(ratio "$from" 10485760)"

# Expiry with sekishod running: the same at the deadline, and the kernel's element is gone.
brief=$(ctl_gw session open vendor-a hmi-1-bulk --for 5s --reason "glance")
deadline=$(session_field "$brief" "s['deadline_ms'] / 1000")
transfer vendor stream 192.0.2.31 9999 30 >"$tmp/stream-brief" 2>&1
read -r verdict error failed_at last_echo <<<"$(stream_outcome "$tmp/stream-brief")"
late_ms=$(millis "${failed_at:-0} - $deadline")
[ "$verdict" = failed ] && [ "$late_ms" -lt 5000 ] && [ "$late_ms" -gt -1000 ] &&
  lab_pass "expiry, sekishod running: the vendor's connection failed ($error) $late_ms ms after the deadline" ||
  lab_fail "expiry with sekishod running: $(cat "$tmp/stream-brief")"
brief_gone() { [ "$(session_field "$brief" "s['state']")" = expired ] && [ -z "$(flows_of "$brief")" ]; }
wait_ms 5000 brief_gone >/dev/null && ! in_gw nft list map inet sekisho sessions_v4 | grep -q "192.0.2.31 . tcp . 9999" &&
  lab_pass "$brief expired: no element left in sessions_v4, no connection in conntrack" ||
  lab_fail "$brief after its deadline: $(session_field "$brief" "s['state']"), map: $(in_gw nft list map inet sekisho sessions_v4)"

# Expiry with sekishod stopped: the kernel alone ends access and the open connection.
short=$(ctl_gw session open vendor-a hmi-1-bulk --for 8s --reason "quick look")
deadline=$(session_field "$short" "s['deadline_ms'] / 1000")
transfer vendor stream 192.0.2.31 9999 30 >"$tmp/stream-expiry" 2>&1 &
stream=$!
wait_ms 5000 grep -q connected "$tmp/stream-expiry" >/dev/null
kill -STOP "$("$lab" daemon pid)"
wait $stream
kill -CONT "$("$lab" daemon pid)"
read -r verdict error failed_at last_echo <<<"$(stream_outcome "$tmp/stream-expiry")"
if [ "$verdict" = failed ]; then
  late_ms=$(millis "$failed_at - $deadline")
  [ "$late_ms" -lt 5000 ] && lab_pass "expiry, sekishod stopped: the vendor's connection failed ($error) $late_ms ms after the deadline" ||
    lab_fail "expiry: the connection failed only $late_ms ms after the deadline"
  echo "== measured: expiry (sekishod stopped) -> the vendor's connection fails: $late_ms ms after the deadline"
else
  lab_fail "expiry: the vendor's connection went on: $(cat "$tmp/stream-expiry")"
fi
rx_late_ms=$(millis "$(last_rx) - $deadline")
# The kernel's timeout starts when the element is committed, a few ms after the deadline
# was computed: that much, and no more, may arrive "after" it.
[ "$rx_late_ms" -lt 100 ] && lab_pass "expiry: the target's last payload byte arrived $rx_late_ms ms from the deadline" ||
  lab_fail "expiry: payload reached the target $rx_late_ms ms after the deadline"
echo "== measured: expiry (sekishod stopped): last payload byte at the target $rx_late_ms ms from the deadline"
expired_recorded() {
  ctl_gw audit show --json | python3 -c "import json,sys; sys.exit(0 if any(r['kind']=='session.close' and r['details']['session']=='$short' and r['details']['state']=='expired' for r in json.load(sys.stdin)) else 1)"
}
wait_ms 10000 expired_recorded >/dev/null && lab_pass "sekishod, running again, recorded $short as expired" ||
  lab_fail "no expiry record for $short"
[ -z "$(flows_of "$short")" ] &&
  lab_pass "and deleted its conntrack entries" || lab_fail "conntrack still holds $short's flows: $(flows_of "$short")"

# A reload that takes the target away ends its session, recorded.
policy "$tmp/v2.yaml" without-opcua
"$lab" policy "$tmp/v2.yaml"
ended() { [ "$(session_field "$id" "s['state']")" = ended ]; }
wait_ms 10000 ended >/dev/null && lab_pass "a reload without hmi-1-opcua ended $id: $(session_field "$id" "s['close_reason']")" ||
  lab_fail "after the reload $id is $(session_field "$id" "s['state']")"
reaches_exactly "after the target was removed"

# The kill switch.
one=$(ctl_gw session open vendor-a hmi-1-bulk --for 10m --reason "one more file")
ctl_gw session close --all --reason "shift ends" >"$tmp/close-all"
open_now=$(ctl_gw session list --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["sessions"]))')
elements=$(in_gw nft list map inet sekisho sessions_v4 | grep -c " : 0x")
[ "$(session_field "$one" "s['state']")" = closed ] && [ "$open_now" = 0 ] && [ "$elements" = 0 ] &&
  lab_pass "close --all: $(cat "$tmp/close-all"); no open session, no element in sessions_v4" ||
  lab_fail "close --all: $(cat "$tmp/close-all"), $open_now open, $elements elements"
reaches_exactly "after close --all"

# A close the kernel refuses (another process owns the table for a while, as in
# tests/lab/refused_change.sh): the session's end is recorded only once the kernel has
# taken its access away, and that is tried again every second meanwhile.
refused=$(ctl_gw session open vendor-a hmi-1-bulk --for 10m --reason "refusal test")
mkfifo "$tmp/owner-in"
"$lab" exec gw python3 "$src/tests/lab/own_table.py" sekisho <"$tmp/owner-in" >"$tmp/owner" 2>&1 &
owner=$!
exec 3>"$tmp/owner-in"
wait_ms 5000 grep -q owned "$tmp/owner" >/dev/null || lab_fail "own_table.py: $(cat "$tmp/owner")"
records() { ctl_gw audit show --json | python3 -c "import json,sys
print(sum(1 for r in json.load(sys.stdin) if r['kind'] == '$1' and
          r['details'].get('${2:-session}') == '$3'))"; }
# An extension the kernel refuses is neither kept, stored nor answered as done.
stored_deadline() { sqlite3 "file:$run/state/sessions.db?mode=ro" \
  "SELECT json_extract(record, '\$.deadline_ms') FROM sessions WHERE number = ${refused#s-}"; }
deadline_before=$(session_field "$refused" "s['deadline']")
stored_before=$(stored_deadline)
ctl_gw session extend "$refused" --by 1h --reason "refusal test" >"$tmp/refused-extend" 2>&1
code=$?
[ "$code" = 1 ] && grep -q "the kernel refused the extension; $refused still ends at $deadline_before" "$tmp/refused-extend" &&
  lab_pass "session extend while the kernel refuses: exit 1, $(tail -1 "$tmp/refused-extend")" ||
  lab_fail "session extend while the kernel refuses: exit $code $(cat "$tmp/refused-extend")"
[ "$(session_field "$refused" "s['deadline']")" = "$deadline_before" ] && [ -n "$stored_before" ] &&
  [ "$(stored_deadline)" = "$stored_before" ] && [ "$(records session.extend_failed session "$refused")" = 1 ] &&
  lab_pass "the refused extension: deadline $deadline_before kept in sekishod and its store; one session.extend_failed" ||
  lab_fail "after the refused extension: deadline $(session_field "$refused" "s['deadline']") (was $deadline_before), stored $(stored_deadline) (was $stored_before), $(records session.extend_failed session "$refused") session.extend_failed"
ctl_gw session close "$refused" --reason "refusal test" >/dev/null 2>"$tmp/refused-close"
code=$?
[ "$code" = 1 ] && grep -q "kernel refused" "$tmp/refused-close" &&
  lab_pass "session close while the kernel refuses: exit 1, $(cat "$tmp/refused-close")" ||
  lab_fail "session close while the kernel refuses: exit $code $(cat "$tmp/refused-close")"
sleep 2.5
[ "$(records session.close session "$refused")" = 0 ] &&
  [ "$(records kernel.change_failed change "session $refused")" = 1 ] &&
  lab_pass "no session.close while the kernel grants the access; one kernel.change_failed" ||
  lab_fail "while refused: $(records session.close session "$refused") session.close, $(records kernel.change_failed change "session $refused") kernel.change_failed"
exec 3>&-
wait "$owner"
closed_once() { [ "$(records session.close session "$refused")" = 1 ]; }
if took=$(wait_ms 5000 closed_once); then
  lab_pass "once the owner let go, $refused's close is recorded ($took ms)"
else
  lab_fail "$refused's close was not recorded after the owner let go"
fi
[ "$(records kernel.change_applied change "session $refused")" = 1 ] &&
  [ "$(in_gw nft list map inet sekisho sessions_v4 | grep -c " : 0x")" = 0 ] &&
  lab_pass "kernel.change_applied, and no element left in sessions_v4" ||
  lab_fail "after the refusal: $(records kernel.change_applied change "session $refused") kernel.change_applied"

# The unrelated connection is untouched.
touch "$tmp/historian-trigger"
wait $historian_hold
grep -q "^alive" "$tmp/historian-hold" &&
  lab_pass "the historian's connection to plc-1, open throughout, is alive" ||
  lab_fail "the historian's connection: $(cat "$tmp/historian-hold")"

# The evidence: every kind recorded, the log verifies, a receipt verifies offline and a
# changed one does not.
ctl_gw audit show --json | python3 -c 'import json,sys
kinds = {}
for r in json.load(sys.stdin):
    if r["kind"].startswith("session."):
        k = r["kind"] + ("/" + r["details"]["state"] if r["kind"] == "session.close" else "")
        kinds[k] = kinds.get(k, 0) + 1
print(" ".join("%s=%d" % kv for kv in sorted(kinds.items())))' >"$tmp/kinds"
missing=""
for kind in session.open session.extend session.flow session.close/closed session.close/expired session.close/ended; do
  grep -q "$kind=" "$tmp/kinds" || missing+=" $kind"
done
[ -z "$missing" ] && lab_pass "audit records: $(cat "$tmp/kinds")" || lab_fail "no record of:$missing ($(cat "$tmp/kinds"))"
expect_exit 0 "the audit log verifies" ctl_gw audit verify
ctl_gw session receipt "$acct" >"$tmp/receipt.json"
ctl_gw audit pubkey >"$tmp/pubkey.pem"
expect_exit 0 "the receipt of $acct verifies offline with the gateway's key" \
  "$ctl" audit verify --receipt "$tmp/receipt.json" --pubkey "$tmp/pubkey.pem"
sed 's/firmware image/firmware images/' "$tmp/receipt.json" >"$tmp/receipt-changed.json"
expect_exit 1 "a receipt with one word changed does not" \
  "$ctl" audit verify --receipt "$tmp/receipt-changed.json" --pubkey "$tmp/pubkey.pem"
lab_finish
