#!/usr/bin/env bash
# Cloud brokering (C-1): factory telemetry reaches a cloud MQTT broker at a fixed address
# over pinned TLS, and nothing is lost while the WAN link is down or sekishod is killed.
# Real mosquitto on both sides: the local broker in the gateway namespace with the
# shipped example configuration (configs/mosquitto), the cloud broker in the cloud
# namespace with a CA made here (tests/cloud/make_certs.sh) and client certificates.
#
# - 20,000 QoS 1 messages on 4 topics from 3 OT hosts while the WAN goes down and up
#   twice and sekishod is killed (-9) once with a non-empty outbox: a persistent cloud
#   subscriber started first gets every one, in order per topic; duplicates are counted;
#   the counters add up after the restart.
# - Topics outside the filters do not cross, either way; a downlink message is audited.
# - A cloud broker with a certificate from another CA, or for another address, is refused
#   (audited); the right one is accepted again.
# - A full outbox follows on_full (reject-new, then drop-oldest) and the counters add up.
# - An OT host cannot reach the cloud broker itself.
set -u
bindir=$1
src=$2
. "$src/tests/lab/lab_test.sh"
lab_require_tools mosquitto mosquitto_pub mosquitto_sub openssl
tmp=$(mktemp -d)
chmod 755 "$tmp"
run=$LAB_RUN_DIR
# CLOUD_TEST_KEEP_LOG=FILE keeps the daemon's log for a look afterwards.
cleanup() {
  local pid
  if [ -n "${CLOUD_TEST_KEEP_LOG:-}" ]; then
    cp "$run/daemon.log" "$CLOUD_TEST_KEEP_LOG"
    cp "$tmp/local-broker.log" "$CLOUD_TEST_KEEP_LOG.local-broker"
  fi
  for pid in "$tmp"/*.pid; do
    [ -f "$pid" ] && kill "$(cat "$pid")" 2>/dev/null
  done
  "$lab" down
  rm -rf "$tmp"
}
trap cleanup EXIT
ctl_gw() { in_gw "$ctl" --control "$run/control.sock" "$@"; }
stream() { python3 "$src/tests/lab/mqtt_stream.py" "$@"; }
status() { ctl_gw cloud status --json; }
# field PATH: one value of `cloud status --json` ("uplink.received").
field() {
  status | python3 -c "import json,sys
v=json.load(sys.stdin)
for k in '$1'.split('.'): v=v[k]
print(v)"
}
field_is() { [ "$(field "$1")" = "$2" ]; }
field_at_least() { [ "$(field "$1")" -ge "$2" ]; }
# The ledger: received = forwarded + queued + in flight + dropped, from one status.
adds_up() {
  status | python3 -c "import json,sys
u=json.load(sys.stdin)['uplink']
d=u['dropped']
total=u['forwarded']+u['queued']+u['in_flight']+d['full']+d['too_large']
print(f\"received {u['received']} = forwarded {u['forwarded']} + queued {u['queued']} + in flight {u['in_flight']} + dropped {d['full']}+{d['too_large']}\")
sys.exit(0 if u['received']==total else 1)"
}
audit_count() { ctl_gw audit show --json | python3 -c "import json,sys; print(sum(1 for r in json.load(sys.stdin) if r['kind']=='$1'))"; }
audit_more_than() { [ "$(audit_count "$1")" -gt "$2" ]; }
audit_last() {
  ctl_gw audit show --json | python3 -c "import json,sys
rs=[r for r in json.load(sys.stdin) if r['kind']=='$1']
print(json.dumps(rs[-1]['details']) if rs else '{}')"
}
# spawn NAME NODE COMMAND...: in the background in NODE's namespace, killed at exit.
spawn() {
  local name=$1 node=$2
  shift 2
  ip netns exec "$LAB_ID-$node" "$@" >"$tmp/$name.log" 2>&1 &
  echo $! >"$tmp/$name.pid"
}
reload_with() { # reload_with PORT MAX_BYTES ON_FULL
  write_policy "$run/policy.yaml" "$@"
  "$lab" daemon reload >/dev/null
  sleep 1
}

# Certificates: the cloud's CA, its server certificate for 203.0.113.10, the gateway's
# client certificate; another CA's server certificate and one for another address.
cloud_ip=203.0.113.10
if ! bash "$src/tests/cloud/make_certs.sh" "$tmp/certs" "$cloud_ip" 203.0.113.99; then
  lab_fail "make_certs.sh failed"
  lab_finish
  exit 1
fi

# The policy: the lab factory with cloud.mqtt. The cloud broker listens on 8884 (the lab's
# responder holds 8883); 8885 presents another CA's certificate, 8886 one for another
# address.
write_policy() { # write_policy FILE PORT MAX_BYTES ON_FULL
  cp "$src/configs/lab-factory.yaml" "$1"
  cat >>"$1" <<EOF

cloud:
  mqtt:
    broker: cloud-broker
    port: $2
    tls:
      ca_file: $tmp/certs/ca.pem
      cert_file: $tmp/certs/client.pem
      key_file: $tmp/certs/client.key
    local_broker: 192.0.2.1:1883
    uplink: ["factory/+/telemetry"]
    downlink: ["commands/factory/#"]
    queue:
      max_bytes: $3
      on_full: $4
EOF
}
write_policy "$tmp/policy.yaml" 8884 1GiB drop-oldest
if ! "$ctl" check "$tmp/policy.yaml" >"$tmp/check.txt" 2>&1; then
  cat "$tmp/check.txt"
  lab_fail "the test policy does not check"
  lab_finish
  exit 1
fi
lab_up "$tmp/policy.yaml"

# The cloud broker: TLS with client certificates on the cloud address, and a plain
# listener on the cloud namespace's loopback for the application that reads there.
{
  echo "user root" # the test's keys are root's alone (0600)
  echo "per_listener_settings true"
  echo "persistence false"
  echo "max_queued_messages 0"
  echo "listener 1883 127.0.0.1"
  echo "allow_anonymous true"
  for listener in "8884 server" "8885 rogue-server" "8886 wrong-ip-server"; do
    echo "listener ${listener% *} $cloud_ip"
    echo "cafile $tmp/certs/ca.pem"
    echo "certfile $tmp/certs/${listener#* }.pem"
    echo "keyfile $tmp/certs/${listener#* }.key"
    echo "require_certificate true"
    echo "use_identity_as_username true"
  done
} >"$tmp/cloud.conf"
spawn cloud-broker cloud mosquitto -c "$tmp/cloud.conf"
# The local broker: the shipped example, its paths moved into the test's folder.
mkdir -p "$tmp/local-db"
chown mosquitto "$tmp/local-db" # mosquitto drops root for its user
# (Debian's main mosquitto.conf, which includes it, names the persistence location.)
sed -e "s|/etc/mosquitto/|$tmp/|" "$src/configs/mosquitto/sekisho-local.conf" >"$tmp/local.conf"
echo "persistence_location $tmp/local-db/" >>"$tmp/local.conf"
cp "$src/configs/mosquitto/sekisho-local.acl" "$tmp/sekisho.acl"
cp "$src/configs/mosquitto/sekisho-gateway.acl" "$tmp/sekisho-gateway.acl"
chmod 644 "$tmp"/*.acl
spawn local-broker gw mosquitto -c "$tmp/local.conf"
sleep 0.5
# The cloud application: a persistent subscriber, there before anything is published.
spawn cloud-sub cloud mosquitto_sub -h 127.0.0.1 -p 1883 -i cloud-app -c -q 1 -t 'factory/#' -F '%t %p'
# A factory device listening to downlink topics.
spawn ot-sub plc2 mosquitto_sub -h 192.0.2.1 -p 1883 -i line-controller -q 1 -t '#' -F '%t %p'

if ms=$(wait_ms 20000 field_is cloud.state connected); then
  lab_pass "sekishod connects to the cloud broker over TLS at $cloud_ip:8884 ($ms ms)"
else
  lab_fail "not connected to the cloud: $(status)"
fi
wait_ms 10000 field_is local.state connected >/dev/null ||
  lab_fail "not subscribed at the local broker: $(status) $(cat "$tmp/local-broker.log")"

# --- One message, and what does not cross.
"$lab" exec plc1 mosquitto_pub -h 192.0.2.1 -q 1 -t factory/first/telemetry -m "factory/first/telemetry 0000000 hello"
if wait_ms 10000 grep -q "^factory/first/telemetry " "$tmp/cloud-sub.log" >/dev/null; then
  lab_pass "an uplink message from plc1 reaches the cloud application"
else
  lab_fail "the first uplink message did not arrive: $(status)"
fi
# Not an uplink topic: the device may not publish it (the broker's ACL), and sekishod does
# not subscribe to it.
"$lab" exec plc1 mosquitto_pub -h 192.0.2.1 -q 1 -t factory/line1/secrets -m "factory/line1/secrets 0 no"
# Downlink: the cloud publishes a command and two topics outside the downlink filter.
"$lab" exec cloud mosquitto_pub -h 127.0.0.1 -q 1 -t commands/factory/line1 -m 'recipe 42'
"$lab" exec cloud mosquitto_pub -h 127.0.0.1 -q 1 -t factory/line1/telemetry -m 'factory/line1/telemetry 9999999 forged'
"$lab" exec cloud mosquitto_pub -h 127.0.0.1 -q 1 -t other/commands -m 'not for the factory'
if wait_ms 10000 grep -q "^commands/factory/line1 recipe 42$" "$tmp/ot-sub.log" >/dev/null; then
  lab_pass "a downlink command from the cloud reaches the OT subscriber"
else
  lab_fail "the downlink command did not arrive: $(cat "$tmp/ot-sub.log") $(status)"
fi
sleep 1
if grep -q "secrets\|forged\|not for the factory" "$tmp/ot-sub.log" ||
  grep -q "secrets" "$tmp/cloud-sub.log"; then
  lab_fail "a topic outside the filters crossed: $(grep -h 'secrets\|forged\|not for' "$tmp"/*-sub.log)"
else
  # The brokers' ACLs and subscriptions stop these before sekishod's own filter check
  # (daemon/cloud/bridge.cpp, policy/topic_filter: unit-tested) would.
  lab_pass "topics outside the filters cross neither way (uplink and downlink)"
fi
downlink=$(audit_last cloud.downlink)
expected_hash=$(printf 'recipe 42' | sha256sum | cut -d' ' -f1)
if echo "$downlink" | grep -q '"topic": "commands/factory/line1"' &&
  echo "$downlink" | grep -q "$expected_hash"; then
  lab_pass "the downlink message is audited with its topic, size and SHA-256: $downlink"
else
  lab_fail "no audit record of the downlink message: $downlink"
fi

# --- An OT host cannot reach the cloud broker itself (no rule says so).
expect plc1 tcp "$cloud_ip" 8884 blocked "OT to the cloud broker directly"

# --- 20,000 messages through two WAN outages and a kill -9.
per_topic=${CLOUD_TEST_PER_TOPIC:-5000}
rate=$((per_topic / 20)) # per topic and second: the burst lasts about 20 s
topics=(factory/l1/telemetry factory/l2/telemetry factory/l3/telemetry factory/l4/telemetry)
publishers=(plc1 plc2 hmi1 plc1)
started=$(date +%s)
for i in 0 1 2 3; do
  spawn "pub$i" "${publishers[$i]}" sh -c "python3 '$src/tests/lab/mqtt_stream.py' lines ${topics[$i]} $per_topic $rate 200 |
    mosquitto_pub -h 192.0.2.1 -q 1 -i pub$i -l -t ${topics[$i]}"
done
at() { # at SECONDS: sleeps until SECONDS after the burst started
  local left=$(($1 - ($(date +%s) - started)))
  [ "$left" -gt 0 ] && sleep "$left"
  return 0
}
at 3
ctl_gw link down --reason "cloud test: outage 1" >/dev/null || lab_fail "link down refused"
at 6
queued1=$(field backlog.messages)
ctl_gw link auto --reason "cloud test: back 1" >/dev/null || lab_fail "link auto refused"
if [ "$queued1" -gt 0 ]; then
  lab_pass "while the WAN is down messages queue ($queued1 in the outbox)"
else
  lab_fail "nothing queued while the WAN was down: $(status)"
fi
at 9
ctl_gw link down --reason "cloud test: outage 2" >/dev/null || lab_fail "link down refused"
at 12
backlog=$(field backlog.messages)
"$lab" daemon kill >/dev/null 2>&1
sleep 1
"$lab" daemon start >/dev/null || lab_fail "sekishod did not start again"
wait_ms 10000 field_is local.state connected >/dev/null || lab_fail "not subscribed again after the kill"
if [ "$backlog" -gt 0 ] && adds_up >"$tmp/ledger"; then
  lab_pass "killed (-9) with $backlog messages in the outbox; after the restart $(cat "$tmp/ledger")"
else
  lab_fail "killed with $backlog in the outbox; after the restart: $(cat "$tmp/ledger")"
fi
at 15
ctl_gw link auto --reason "cloud test: back 2" >/dev/null || lab_fail "link auto refused"
for i in 0 1 2 3; do
  while kill -0 "$(cat "$tmp/pub$i.pid")" 2>/dev/null; do sleep 0.5; done
done
published=$(($(date +%s) - started))
delivered() { [ "$(grep -c '^factory/l[1-4]/telemetry ' "$tmp/cloud-sub.log")" -ge $((4 * per_topic)) ]; }
if ms=$(wait_ms 120000 delivered); then
  lab_pass "the cloud application has $((4 * per_topic)) messages ${ms} ms after the last was published (burst ${published} s)"
else
  lab_fail "not every message arrived: $(grep -c '^factory/l' "$tmp/cloud-sub.log") lines; $(status)"
fi
sleep 2 # late duplicates, if any, would show now
expected=()
for topic in "${topics[@]}"; do expected+=("$topic:$per_topic"); done
if report=$(stream check "$tmp/cloud-sub.log" "${expected[@]}"); then
  lab_pass "every message arrived, in order per topic: $report"
else
  lab_fail "lost or out of order: $report"
fi
duplicates=$(echo "$report" | python3 -c 'import json,sys; print(json.load(sys.stdin)["duplicates"])')
# Duplicates only where an acknowledgement was lost, at the kill: at most the messages in
# flight to the cloud (100) and those committed but not yet acknowledged to the local
# broker (its in-flight window, 1000).
if [ "$duplicates" -le 1100 ]; then
  lab_pass "$duplicates duplicates (at most 1,100: around the kill)"
else
  lab_fail "$duplicates duplicates"
fi
wait_ms 10000 field_is uplink.queued 0 >/dev/null
if adds_up >"$tmp/ledger" && field_is uplink.queued 0 && field_is uplink.dropped.full 0; then
  lab_pass "the outbox is empty and nothing was dropped: $(cat "$tmp/ledger")"
else
  lab_fail "after the drain: $(cat "$tmp/ledger")"
fi
# Connected at start and after the restart at least (whether the first opening's connect
# finished before the second closing depends on the machine's load).
if [ "$(audit_count wan.down)" -ge 2 ] && [ "$(audit_count cloud.connected)" -ge 2 ]; then
  lab_pass "audited: $(audit_count wan.down) WAN closings, $(audit_count cloud.connected) cloud connections"
else
  lab_fail "audit: $(audit_count wan.down) wan.down, $(audit_count cloud.connected) cloud.connected"
fi

# --- Brokers that must be refused: another CA, another address. Each reload makes the
# bridge subscribe at the local broker again: it must have nothing left to offer (every
# message was acknowledged, also those it sent again right after the restart).
received_before=$(field uplink.received)
for case in "8885 another CA" "8886 another address"; do
  port=${case%% *}
  what=${case#* }
  refused_before=$(audit_count cloud.refused)
  reload_with "$port" 1GiB drop-oldest
  if wait_ms 15000 audit_more_than cloud.refused "$refused_before" >/dev/null; then
    lab_pass "a cloud broker with a certificate from $what is refused: $(audit_last cloud.refused)"
  else
    lab_fail "the broker with a certificate from $what: $(status)"
  fi
  if field_is cloud.state connected; then
    lab_fail "connected to the broker with a certificate from $what"
  fi
done
reload_with 8884 1GiB drop-oldest
if wait_ms 20000 field_is cloud.state connected >/dev/null; then
  lab_pass "the right broker is accepted again"
else
  lab_fail "not connected again: $(status)"
fi
received_after=$(field uplink.received)
if [ "$received_after" = "$received_before" ]; then
  lab_pass "three new subscriptions at the local broker later nothing came again ($received_after received)"
else
  lab_fail "the local broker offered $((received_after - received_before)) messages again: acknowledgements were lost"
fi

# --- A full outbox: 1 MiB holds about 4,700 of these messages.
fill() { # fill COUNT NAME: COUNT messages on factory/full/telemetry, as fast as they go
  "$lab" exec plc1 sh -c "python3 '$src/tests/lab/mqtt_stream.py' lines factory/full/telemetry $1 0 200 |
    mosquitto_pub -h 192.0.2.1 -q 1 -i $2 -l -t factory/full/telemetry"
}
ctl_gw link down --reason "cloud test: full outbox" >/dev/null
reload_with 8884 1MiB reject-new
received0=$(field uplink.received)
fill 6000 fill-reject
wait_ms 20000 field_at_least uplink.received $((received0 + 6000)) >/dev/null
dropped=$(field uplink.dropped.full)
stored=$(field backlog.bytes)
if [ "$dropped" -gt 0 ] && [ "$stored" -le 1048576 ] && adds_up >"$tmp/ledger"; then
  lab_pass "reject-new: $dropped of 6000 rejected, the outbox holds $stored bytes; $(cat "$tmp/ledger")"
else
  lab_fail "reject-new: dropped $dropped, stored $stored bytes; $(cat "$tmp/ledger")"
fi
if wait_ms 10000 audit_more_than cloud.drop 0 >/dev/null; then
  lab_pass "the drops are audited: $(audit_last cloud.drop)"
else
  lab_fail "no cloud.drop record"
fi
reload_with 8884 1MiB drop-oldest
received1=$(field uplink.received)
dropped1=$(field uplink.dropped.full)
fill 3000 fill-oldest
wait_ms 20000 field_at_least uplink.received $((received1 + 3000)) >/dev/null
dropped2=$(field uplink.dropped.full)
if [ "$((dropped2 - dropped1))" -ge 2900 ] && adds_up >"$tmp/ledger"; then
  lab_pass "drop-oldest: 3000 new messages evict $((dropped2 - dropped1)) older ones; $(cat "$tmp/ledger")"
else
  lab_fail "drop-oldest: evicted $((dropped2 - dropped1)); $(cat "$tmp/ledger")"
fi
: >"$tmp/cloud-sub.log"
ctl_gw link auto --reason "cloud test: full outbox done" >/dev/null
wait_ms 30000 field_is uplink.queued 0 >/dev/null || lab_fail "the full outbox did not drain: $(status)"
sleep 1
# The newest message of the drop-oldest run reached the cloud.
if grep -q "^factory/full/telemetry factory/full/telemetry 0002999 " "$tmp/cloud-sub.log" &&
  adds_up >"$tmp/ledger"; then
  lab_pass "after the drain the newest messages arrived and $(cat "$tmp/ledger")"
else
  lab_fail "after the drain: $(grep -c full "$tmp/cloud-sub.log") full-outbox messages; $(cat "$tmp/ledger")"
fi

if [ "$failed" -gt 0 ]; then
  echo "--- daemon log (tail)"
  tail -n 40 "$run/daemon.log"
fi
lab_finish
