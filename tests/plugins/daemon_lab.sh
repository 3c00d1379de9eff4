#!/usr/bin/env bash
# The daemon's half of the plugin seam, in the lab: sekishod and sekishoctl built with the
# test plugin "probe" (build/probe-bin; tests/plugins/probe_daemon.cpp, probe_ctl.cpp).
# Its control methods are listed without the daemon and role-checked like the core's; its
# sekishoctl command calls them; the daemon binds the NFLOG group its rules log to and
# hands it the packets; what it audits from a thread of its own is in the audit log, which
# still verifies; `status` shows its figures under plugins.probe; it stops with the daemon.
set -u
bindir=$1 # build/probe-bin
src=$2
. "$src/tests/lab/lab_test.sh"

policy=$tmp/probe.yaml
cat "$src/configs/lab-factory.yaml" - >"$policy" <<'YAML'
probe:
  zone: it
  port: 5020
YAML
lab_up "$policy"
sock=$LAB_RUN_DIR/control.sock
chmod 755 "$tmp"

uid_of() {
  case $1 in operator) echo 4102 ;; viewer) echo 4103 ;; esac
}
# as ROLE SEKISHOCTL-ARGS...: as the lab user holding ROLE (tests/lab/lab).
as() {
  local uid
  uid=$(uid_of "$1")
  shift
  setpriv --reuid="$uid" --regid=4100 --clear-groups "$ctl" --control "$sock" "$@"
}

roles=$("$ctl" methods --json | python3 -c 'import json,sys
print(" ".join(m["name"] + "=" + m["least_role"] for m in json.load(sys.stdin)
               if m["name"].startswith("probe.")))')
if [ "$roles" = "probe.stats=viewer probe.note=operator probe.watch=viewer" ]; then
  lab_pass "methods lists the plugin's methods with their roles, without the daemon"
else
  lab_fail "the plugin's methods in 'methods --json': '$roles'"
fi

packets() { as viewer probe stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["packets"])'; }
if [ "$(packets)" = 0 ]; then
  lab_pass "a viewer calls probe.stats through the plugin's command: nothing logged yet"
else
  lab_fail "probe stats as a viewer: $(as viewer probe stats 2>&1)"
fi

# The probe's rule logs what comes into the gateway from its zone (it).
"$lab" exec historian ping -c 3 -i 0.2 -W 1 198.18.20.1 >/dev/null
logged() { [ "$(packets)" -ge 3 ]; }
if took=$(wait_ms 5000 logged); then
  "$lab" daemon log | grep -q "plugin probe: reading log group 16" &&
    lab_pass "the daemon reads the plugin's NFLOG group and hands it the packets ($took ms)" ||
    lab_fail "packets counted, but the daemon did not log binding group 16"
else
  lab_fail "probe.stats counts $(packets) packets after 3 pings into its zone"
fi

# The kernel's elements of its own set, read for the plugin: the packet path put the
# historian's address into probe_seen (its rule's `add @probe_seen { ip saddr }`).
seen=$(as viewer probe stats | python3 -c 'import json,sys
s = json.load(sys.stdin)
print(s["seen"], s["seen_error"] or "-")')
if [ "$seen" = "1 -" ]; then
  lab_pass "the plugin reads the elements the kernel put into its own set"
else
  lab_fail "probe_seen as the plugin reads it: $seen; nft: $(in_gw nft list set inet sekisho probe_seen 2>&1 | tr "\n" " ")"
fi

# A stream: the viewer's `probe watch` gets a line per packet as it comes, past the
# control socket's idle limit, and the plugin lets the stream go when the viewer does.
setpriv --reuid="$(uid_of viewer)" --regid=4100 --clear-groups "$ctl" --control "$sock" \
  probe watch >"$tmp/watch.out" 2>&1 &
watcher=$! # setpriv execs sekishoctl: this is its pid
watchers() {
  ctl_gw status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["plugins"]["probe"]["watchers"])'
}
watching() { [ "$(watchers)" = 1 ]; }
wait_ms 5000 watching >/dev/null
"$lab" exec historian ping -c 2 -i 0.2 -W 1 198.18.20.1 >/dev/null
streamed() { [ "$(grep -c '"prefix":"probe: "' "$tmp/watch.out")" -ge 2 ]; }
if took=$(wait_ms 5000 streamed); then
  lab_pass "probe watch streams a line per packet to a viewer ($took ms)"
else
  lab_fail "probe watch printed: $(head -c 300 "$tmp/watch.out")"
fi
kill "$watcher" 2>/dev/null
wait "$watcher" 2>/dev/null
"$lab" exec historian ping -c 1 -W 1 198.18.20.1 >/dev/null
gone() { [ "$(watchers)" = 0 ]; }
if wait_ms 5000 gone >/dev/null; then
  lab_pass "the stream ends when the viewer goes: the plugin holds no watcher"
else
  lab_fail "the plugin still holds $(watchers) watcher(s)"
fi

as viewer probe note --text "a viewer's note" >/dev/null 2>&1
refused=$?
as operator probe note --text "written from the plugin's thread" >/dev/null
allowed=$?
if [ $refused = 77 ] && [ $allowed = 0 ]; then
  lab_pass "probe.note: refused to a viewer (77), allowed to an operator"
else
  lab_fail "probe.note: viewer exit $refused, operator exit $allowed"
fi
noted() {
  ctl_gw audit show --kind probe.note --json | grep -q "written from the plugin's thread"
}
if took=$(wait_ms 5000 noted); then
  lab_pass "an audit record from the plugin's own thread is in the log as probe.note ($took ms)"
else
  lab_fail "no probe.note record: $(ctl_gw audit show --kind probe.note 2>&1 | tail -3)"
fi
if ctl_gw audit show --kind probe.started --json | grep -q '"state_dir"'; then
  lab_pass "the plugin started after the first apply (probe.started)"
else
  lab_fail "no probe.started record"
fi

status=$(ctl_gw status --json)
summary=$(echo "$status" | python3 -c 'import json,sys
p = json.load(sys.stdin)["plugins"]["probe"]
print(p["log"]["groups"], p["log"]["packets"] >= 3, p["log"]["lost"], p["packets"] >= 3,
      p["ticks_seen"], p["unpublished"])')
# The lab policy has no cloud: the note's cloud message is dropped and counted.
if [ "$summary" = "[16] True 0 True True 1" ]; then
  lab_pass "status shows the plugin under plugins.probe: its log group, packets, nothing lost"
else
  lab_fail "status plugins.probe: $summary"
fi

# With cloud brokering in the policy the plugin's message goes into the outbox on its own
# topic (no broker runs here: it waits there).
if bash "$src/tests/cloud/make_certs.sh" "$tmp/certs" 203.0.113.10 >/dev/null 2>&1; then
  cat >>"$policy" <<EOF
cloud:
  mqtt:
    broker: cloud-broker
    port: 8884
    tls: { ca_file: $tmp/certs/ca.pem, cert_file: $tmp/certs/client.pem, key_file: $tmp/certs/client.key }
    local_broker: 192.0.2.1:1883
    publishers: [plc-1]
    uplink: ["factory/+/telemetry"]
EOF
  "$lab" policy "$policy"
  queued() {
    ctl_gw cloud status --json | python3 -c 'import json,sys
sys.exit(0 if json.load(sys.stdin)["uplink"]["queued"] >= 1 else 1)' 2>/dev/null
  }
  bridged() { ctl_gw cloud status --json | grep -q '"uplink"'; }
  wait_ms 5000 bridged >/dev/null
  as operator probe note --text "to the cloud" >/dev/null
  if took=$(wait_ms 5000 queued); then
    topic=$(python3 -c 'import sqlite3,sys
db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
print(" ".join(bytes(t).decode() for (t,) in db.execute("SELECT topic FROM messages")))' \
      "$LAB_RUN_DIR/state/cloud-outbox.db")
    [ "$topic" = sekisho/probe/notes ] &&
      lab_pass "the plugin's message is in the cloud outbox on sekisho/probe/notes ($took ms)" ||
      lab_fail "the outbox holds messages on '$topic'"
  else
    lab_fail "no message queued for the cloud: $(ctl_gw cloud status --json | head -c 600)"
  fi
else
  lab_fail "make_certs.sh failed"
fi

"$lab" daemon stop
if "$lab" daemon log | grep -q "stopping on SIGTERM" && ! "$lab" daemon log | grep -q " failed: "; then
  lab_pass "the daemon stops with the plugin (its thread joined); no hook of it failed"
else
  lab_fail "the stop: $("$lab" daemon log | tail -5)"
fi
"$lab" daemon start
if ctl_gw audit verify >/dev/null; then
  lab_pass "the audit log verifies with the plugin's records"
else
  lab_fail "audit verify: $(ctl_gw audit verify 2>&1 | tail -3)"
fi
lab_finish
