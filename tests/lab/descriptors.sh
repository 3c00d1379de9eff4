#!/usr/bin/env bash
# Descriptor exhaustion never opens the firewall. sekishod runs with the limit a systemd
# unit gives it; then its soft RLIMIT_NOFILE is lowered (prlimit --pid) to the lowest
# descriptor number it does not use, so that, as after a local user's flood of control
# connections, not one more descriptor can be had. Meanwhile the ruleset is flushed (it
# must be restored within 5 s), and the operating hours end: the WAN gate must close, the
# link go down, and the connections of the closing schedule be deleted. Restore times are
# measured with descriptors free and with none. The watchdog keep-alive (sd_notify) must
# go on meanwhile: one that fails gets the daemon killed under systemd.
set -u
bindir=$1
src=$2
. "$src/tests/lab/lab_test.sh"
lab_require_tools conntrack prlimit
run=$LAB_RUN_DIR
transfer() { "$lab" exec "$1" python3 "$src/tests/lab/transfer.py" "${@:2}"; }
audit_last() { ctl_gw audit show --json | python3 -c "import json,sys
rs=[r for r in json.load(sys.stdin) if r['kind']=='$1']
print(json.dumps(rs[-1]['details']) if rs else '{}')"; }
# The test clock (docs/architecture.md, Time): the daemon's schedules see the real time plus this.
export SEKISHO_TEST_CLOCK_OFFSET_FILE=$tmp/clock-offset
set_clock() {
  echo $(($(TZ=Asia/Tokyo date -d "$1" +%s) - $(date +%s))) >"$SEKISHO_TEST_CLOCK_OFFSET_FILE"
}
epoch_of() { echo $(($(TZ=Asia/Tokyo date -d "$1" +%s) - $(cat "$SEKISHO_TEST_CLOCK_OFFSET_FILE"))); }

# The lab factory with operating hours 08:00-18:00 (Tokyo) on weekdays: the MES reads the
# HMI only then, and the WAN link is up only then; hmi-1 reports to the cloud.
policy_reporting_to_cloud "$tmp/policy.yaml" \
  's/^    schedule: always$/    schedule: hours/' \
  's/^      - daily 00:00-24:00$/      - daily 00:00-24:00\n  hours:\n    weekly:\n      - mon-fri 08:00-18:00/' \
  's/^  nat: masquerade$/  nat: masquerade\n  up: hours/'
set_clock "2027-01-13 10:00:00" # a Wednesday, inside hours
# systemd's side of sd_notify, with a keep-alive every second (WATCHDOG_USEC=2 s).
chmod 755 "$tmp"
export NOTIFY_SOCKET=$tmp/notify.sock WATCHDOG_USEC=2000000
python3 "$src/tests/lab/notify_listener.py" "$NOTIFY_SOCKET" true 300 >"$tmp/notify" &
listener=$!
wait_ms 5000 grep -q listening "$tmp/notify" >/dev/null
lab_up "$tmp/policy.yaml"
pid=$("$lab" daemon pid)
cloud=$("$lab" address cloud 4)
hmi=$("$lab" address hmi1 4)
# A unit's soft limit (systemd's default 1024; the hard limit stays what this box allows,
# which only CAP_SYS_RESOURCE could raise).
prlimit --pid "$pid" --nofile=1024:

link_is_down() { ! in_gw ip link show wan0 | grep -q "[<,]UP[,>]"; }
gate_holds_wan() { in_gw nft list set inet sekisho wan_closed 2>/dev/null | grep -q '"wan0"'; }
mark=$("$ctl" compile "$tmp/policy.yaml" 2>/dev/null | grep -o "ct mark set 0x[0-9a-f]*" | head -1 | awk '{print $4}')
marked() { in_gw conntrack -L -m "$((mark))" 2>/dev/null | grep -c "dport=4840"; }
table_text() { in_gw nft list table inet sekisho 2>/dev/null | sed -E 's/packets [0-9]+ bytes [0-9]+//'; }
# restore_ms WHAT: flushes the ruleset and waits until the table is back as it was.
restore_ms() {
  local before took
  before=$(table_text)
  restored() { [ "$(table_text)" = "$before" ]; }
  in_gw nft flush ruleset
  if took=$(wait_ms 5000 restored); then
    echo "== measured: flushed ruleset restored, $1: $took ms"
    lab_pass "a flushed ruleset is restored, $1 ($took ms)"
  else
    lab_fail "a flushed ruleset is not restored within 5 s, $1"
  fi
}
open_descriptors() { find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 | wc -l; }

expect hmi1 tcp "$cloud" 8883 reached "inside hours OT reaches the cloud"
expect mes tcp "$hmi" 4840 reached "inside hours the scheduled rule lets the MES read the HMI"
restore_ms "with descriptors free"

# Ten seconds before the end of hours, with an open MES->HMI connection.
transfer mes stream "$hmi" 4840 60 >"$tmp/stream" 2>&1 &
stream=$!
wait_ms 3000 grep -q connected "$tmp/stream" >/dev/null || lab_fail "the MES stream did not connect"
[ "$(marked)" -ge 1 ] && lab_pass "the MES connection carries the schedule's ct mark" ||
  lab_fail "no conntrack entry with the schedule's mark"
set_clock "2027-01-13 17:59:50"
closing=$(epoch_of "2027-01-13 18:00:00")
sleep 1.5 # the daemon has read the new offset (it keeps the last one while it cannot read)

# No descriptor to spare: the soft limit at the lowest number not in use.
lowest=$(python3 -c "import os,sys
used={int(n) for n in os.listdir('/proc/%s/fd' % sys.argv[1])}
print(next(n for n in range(len(used) + 1) if n not in used))" "$pid")
prlimit --pid "$pid" --nofile="$lowest":
full_since=$(date +%s)
pings_before=$(grep -c "WATCHDOG=1" "$tmp/notify")
echo "sekishod holds $(open_descriptors) descriptors; soft limit now $lowest"
timeout 3 "$ctl" --control "$run/control.sock" status >/dev/null 2>&1 &&
  lab_fail "the control socket still took a connection: descriptors were left" ||
  lab_pass "the control socket takes no connection: no descriptor is free"

restore_ms "with no descriptor free"

wait_ms 15000 link_is_down >/dev/null || true
if link_is_down && gate_holds_wan; then
  lab_pass "the end of hours closed the WAN gate and set the link down, with no descriptor free ($(($(date +%s) - closing)) s after 18:00)"
else
  lab_fail "with no descriptor free the end of hours left the gate $(gate_holds_wan && echo closed || echo open) and the link $(link_is_down && echo down || echo up)"
fi
wait "$stream"
read -r verdict error _ <<<"$(tail -1 "$tmp/stream")"
[ "$verdict" = failed ] && lab_pass "the open MES connection ended with its window ($error)" ||
  lab_fail "the MES connection outlived its window: $(tail -1 "$tmp/stream")"
[ "$(marked)" = 0 ] && lab_pass "no conntrack entry carries the closed schedule's mark" ||
  lab_fail "conntrack still holds the closed schedule's connections"
wan_shut hmi1 tcp "$cloud" 8883 && lab_pass "outside hours OT does not reach the cloud" ||
  lab_fail "outside hours OT still reaches the cloud"
[ "$(open_descriptors)" -ge "$lowest" ] && lab_pass "the descriptor table stayed full throughout" ||
  lab_fail "sekishod closed descriptors meanwhile ($(open_descriptors) open, limit $lowest)"

pings=$(($(grep -c "WATCHDOG=1" "$tmp/notify") - pings_before))
full_for=$(($(date +%s) - full_since))
[ "$pings" -ge $((full_for - 2)) ] &&
  lab_pass "the watchdog keep-alive went on with no descriptor free ($pings in $full_for s)" ||
  lab_fail "only $pings watchdog keep-alives in $full_for s with no descriptor free"

# Descriptors again: everything above is in the audit log.
prlimit --pid "$pid" --nofile=1024:
wait_ms 5000 ctl_gw status >/dev/null && lab_pass "with descriptors free again the control socket answers" ||
  lab_fail "the control socket does not answer"
python3 -c "import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if d['restored'] else 1)" "$(audit_last drift.restore)" &&
  lab_pass "audit: drift.restore, restored" || lab_fail "audit drift.restore: $(audit_last drift.restore)"
python3 -c "import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if d['gate_applied'] and d['link_set_down'] else 1)" "$(audit_last wan.down)" &&
  lab_pass "audit: wan.down, gate applied and link set down" || lab_fail "audit wan.down: $(audit_last wan.down)"
python3 -c "import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if d['schedule']=='hours' and d['connections_ended']>=1 else 1)" "$(audit_last schedule.close)" &&
  lab_pass "audit: schedule.close with its connections ended" || lab_fail "audit schedule.close: $(audit_last schedule.close)"
kill "$listener" 2>/dev/null
lab_finish
