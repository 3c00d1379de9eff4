#!/usr/bin/env bash
# Benchmark (issue 10): sekishod's cloud bridge next to mosquitto's own bridge, in the lab
# factory, in the same run. Both forward factory/+/telemetry from the gateway's local
# mosquitto to a cloud mosquitto at 203.0.113.10:8884 (TLS, client certificate), QoS 1,
# 200-byte payloads; a persistent subscriber in the cloud namespace receives everything.
#   sustained  N messages from 4 publishers on OT nodes (4 topics) as fast as they go; from
#              the first publish to the last message at the subscriber -> messages/s
#   drain      WAN closed (sekishoctl link down), a backlog of B messages published and
#              queued, WAN opened (link auto); until the subscriber has all -> messages/s,
#              from the first message through the opened WAN and from the opening itself
# Each figure comes with loss (must be 0: exit 1 otherwise), duplicates, order inversions per
# topic and the CPU time of the gateway's processes that carried the messages (the local
# mosquitto, and sekishod); R interleaved rounds (default 3), a fresh lab for each side and
# round; then the medians, the ratios sekisho/mosquitto and whether the issue's goal is met
# (not a failure: machines are shared and noisy, only ratios of one run compare).
#   cloud_bench.sh BINDIR [--messages N] [--backlog B] [--rounds R]
#                  [--only sekisho|mosquitto] [--mosquitto-inflight N]
# (--mosquitto-inflight replaces max_inflight_messages on the mosquitto side, which
# sekishod's generated configuration sets to 1000 and which holds for its bridge too.)
# The sekisho side runs the local broker with the configuration sekishod generates from
# the policy (daemon/cloud/broker_config.cpp), the publishers logging in with passwords
# made by sekishoctl cloud password. The mosquitto side runs the lab with the policy minus
# its cloud section (plus explicit rules for what the cloud section allows implicitly) and
# a local broker with the same queue, persistence and in-flight settings, anonymous, plus
# a bridge; the outage is the same sekishoctl link down / link auto on both sides.
set -Eeuo pipefail
bindir=$(cd "$1" && pwd)
shift
messages=20000
backlog=100000
rounds=3
sides="mosquitto sekisho"
mosquitto_inflight= # as sekishod's generated configuration sets it (1000)
while [ $# -gt 0 ]; do
  case $1 in
    --messages) messages=$2; shift 2 ;;
    --backlog) backlog=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --only) sides=$2; shift 2 ;;
    --mosquitto-inflight) mosquitto_inflight=$2; shift 2 ;;
    *)
      echo "usage: cloud_bench.sh BINDIR [--messages N] [--backlog B] [--rounds R]" \
        "[--only SIDE] [--mosquitto-inflight N]" >&2
      exit 2
      ;;
  esac
done
publishers=4
pub_nodes=(plc1 plc2 hmi1 plc1) # the OT nodes publisher 1..4 run on
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export LAB_ID=${LAB_ID:-skb}
. "$src/tests/lab/lab_test.sh"
lab_require_tools mosquitto mosquitto_pub mosquitto_sub openssl
load=$src/tests/bench/mqtt_load.py
results=$tmp/results.jsonl
cloud_ip=$("$lab" address cloud 4)
ot_broker=192.0.2.1 # the gateway's OT address: the local broker's device listener

# Everything this script starts in the lab's namespaces is also ended by lab down.
started=()
cleanup() {
  local pid
  for pid in "${started[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  "$lab" down
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
trap 'echo "FAIL: line $LINENO: $BASH_COMMAND"' ERR
# start_bg OUT NODE COMMAND...: in NODE's namespace in the background, remembered for the
# clean-up. ip itself, not a function: $! is the command (ip netns exec execs it).
start_bg() {
  local out=$1 node=$2
  shift 2
  ip netns exec "$LAB_ID-$node" "$@" >"$out" 2>&1 &
  started+=($!)
}
stop_started() {
  local pid
  for pid in "${started[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${started[@]}"; do wait "$pid" 2>/dev/null || true; done
  started=()
}
ctl_gw() { in_gw "$ctl" --control "$LAB_RUN_DIR/control.sock" "$@"; }
# A key of `cloud status --json`, e.g. cloud_field uplink.received.
cloud_field() {
  ctl_gw cloud status --json | python3 -c 'import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1].split("."): v = v.get(k, {}) if isinstance(v, dict) else {}
print(v if v != {} else "")' "$1"
}
# cpu_seconds PID...: user + system time the processes have used so far.
cpu_seconds() {
  python3 -c 'import os, sys
tick = os.sysconf("SC_CLK_TCK")
total = 0
for pid in sys.argv[1:]:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    total += int(fields[11]) + int(fields[12])
print(f"{total / tick:.2f}")' "$@"
}
fail_setup() {
  echo "FAIL: $*"
  exit 1
}

# Certificates: the cloud broker's for its literal address, the gateway's client one.
certs=$tmp/certs
bash "$src/tests/cloud/make_certs.sh" "$certs" "$cloud_ip" >/dev/null

# Policies: the lab's with the cloud section (sekisho), and without it but with explicit
# rules for the two flows the section opens implicitly (mosquitto): OT devices to the
# local broker, the gateway to the cloud broker. The downlink filter has four levels:
# factory/commands/# would also match factory/commands/telemetry, an uplink topic, and
# sekishoctl check refuses the overlap.
# Four publishers need four users (the broker makes the client id the user name): the
# lab's three OT devices and plc-3, which logs in from plc1's node.
sed 's/^hosts:$/hosts:\n  plc-3: { address: 192.0.2.23 }/' "$src/configs/lab-factory.yaml" >"$tmp/sekisho.yaml"
cat >>"$tmp/sekisho.yaml" <<EOF

cloud:
  mqtt:
    broker: cloud-broker
    port: 8884
    tls: { ca_file: $certs/ca.pem, cert_file: $certs/client.pem, key_file: $certs/client.key }
    local_broker: $ot_broker:1883
    publishers: [line1-controllers, plc-3]
    uplink: ["factory/+/telemetry"]
    downlink: ["factory/commands/+/set"]
    queue: { max_bytes: 1GiB, on_full: reject-new }
EOF
sed 's/^rules:$/rules:\n  - name: devices publish to the local broker\n    from: ot\n    to: gateway\n    services: [tcp\/1883]\n  - name: the mosquitto bridge reaches the cloud broker\n    from: gateway\n    to: cloud-broker\n    services: [tcp\/8884]/' \
  "$src/configs/lab-factory.yaml" >"$tmp/mosquitto.yaml"
for policy in sekisho mosquitto; do
  "$ctl" check "$tmp/$policy.yaml" >"$tmp/check-$policy.txt" 2>&1 || {
    cat "$tmp/check-$policy.txt"
    fail_setup "the $policy side's policy does not check"
  }
done

# The local broker. sekisho: the configuration sekishod generates in the run directory
# (local_conf makes its directories as the package does, with this machine's mosquitto
# user in the place of sekisho-broker). mosquitto: the same settings (the generated
# configuration's), anonymous, with mosquitto's bridge to the cloud broker.
users=(plc-1 plc-2 hmi-1 plc-3) # publisher 1..4's user names (sekisho side)
declare -A pw
local_conf() { # local_conf SIDE -> $tmp/local-SIDE/mosquitto.conf (mosquitto side)
  local dir=$tmp/local-$1
  mkdir -p "$dir/db"
  [ "$1" = sekisho ] && return
  cat >"$dir/mosquitto.conf" <<EOF
user root
log_dest file $dir/mosquitto.log
per_listener_settings false
allow_anonymous true
persistence true
persistence_location $dir/db/
autosave_interval 10
max_queued_messages 0
max_queued_bytes 0
max_inflight_messages ${mosquitto_inflight:-1000}
max_packet_size 262144
listener 1883 $ot_broker
EOF
  # mosquitto's bridge: max_inflight_messages (1000 above, default 20) and
  # max_queued_messages (0: no limit, default 1000) are global and hold for it too.
  cat >>"$dir/mosquitto.conf" <<EOF
connection cloud
address $cloud_ip:8884
bridge_protocol_version mqttv311
bridge_cafile $certs/ca.pem
bridge_certfile $certs/client.pem
bridge_keyfile $certs/client.key
bridge_insecure false
cleansession false
topic factory/+/telemetry out 1
topic factory/commands/+/set in 1
EOF
}
# login K: mosquitto_pub's options for publisher K on the side being run.
login() {
  [ -n "${pw[${users[$1 - 1]}]:-}" ] && echo "-u ${users[$1 - 1]} -P ${pw[${users[$1 - 1]}]}"
  return 0
}

# The cloud broker: TLS with client certificates for the bridges, plain loopback for the
# subscriber. No limit on queued messages and a wide in-flight window towards the
# subscriber, so that the cloud side is never the bottleneck or the cause of a loss.
cloud_conf() {
  mkdir -p "$tmp/cloud-$1"
  cat >"$tmp/cloud-$1/mosquitto.conf" <<EOF
user root
persistence false
max_queued_messages 0
max_inflight_messages 1000
allow_anonymous true
log_dest file $tmp/cloud-$1/mosquitto.log
listener 8884 $cloud_ip
cafile $certs/ca.pem
certfile $certs/server.pem
keyfile $certs/server.key
require_certificate true
use_identity_as_username true
listener 1883 127.0.0.1
EOF
}

# publish PHASE: the 4 publishers of PHASE's lines, in parallel, until each has its PUBACKs.
publish() {
  local k pids=() rc=0
  for k in $(seq 1 $publishers); do
    "$lab" exec "${pub_nodes[$((k - 1))]}" mosquitto_pub -h $ot_broker -p 1883 -q 1 -l \
      -i "bench-pub-$k" $(login "$k") -t "factory/line$k/telemetry" <"$tmp/$1-$k.txt" \
      2>"$tmp/pub-$1-$k.err" &
    pids+=($!)
  done
  for k in "${pids[@]}"; do wait "$k" || rc=1; done
  [ $rc = 0 ] || {
    cat "$tmp"/pub-"$1"-*.err
    echo "FAIL: a publisher failed"
  }
  return $rc
}

# One side: lab, cloud broker, subscriber, local broker (with mosquitto's bridge or with
# sekishod's), warm-up, then the two measurements.
run_side() {
  local side=$1 sub_out=$tmp/sub-$1-$2.txt start got
  echo "== $side, round $2"
  local_conf "$side"
  cloud_conf "$side"
  local local_conf=$tmp/local-$side/mosquitto.conf local_log=$tmp/local-$side/mosquitto.log user
  pw=()
  if [ "$side" = sekisho ]; then
    lab_up "$tmp/$side.yaml" --no-daemon
    install -d -m 2750 -o root -g mosquitto "$LAB_RUN_DIR/broker"
    install -d -m 0750 -o mosquitto -g mosquitto "$LAB_RUN_DIR/broker-run"
    install -d -m 0700 -o mosquitto -g mosquitto "$LAB_RUN_DIR/broker-store"
    "$lab" daemon start >/dev/null || fail_setup "sekishod did not start"
    for user in "${users[@]}"; do
      pw[$user]=$(ctl_gw cloud password "$user" --json | python3 -c 'import json, sys
print(json.load(sys.stdin)["password"])') || fail_setup "no password for $user"
    done
    local_conf=$LAB_RUN_DIR/broker/mosquitto.conf
    local_log=$tmp/local-$side/broker.out # the generated configuration logs to stderr
  else
    lab_up "$tmp/$side.yaml"
  fi
  start_bg "$tmp/cloud-$side/broker.out" cloud mosquitto -c "$tmp/cloud-$side/mosquitto.conf"
  wait_ms 10000 "$lab" exec cloud mosquitto_pub -h 127.0.0.1 -t factory/probe -n -q 0 >/dev/null 2>&1 ||
    fail_setup "the cloud broker did not start: $(cat "$tmp/cloud-$side/mosquitto.log")"
  # The subscriber first, so its session holds everything from the start.
  : >"$sub_out"
  ip netns exec "$LAB_ID-cloud" mosquitto_sub -h 127.0.0.1 -p 1883 -c -i cloud-sub -q 1 \
    -t 'factory/#' -F '%U %t %p' >"$sub_out" 2>"$tmp/sub-$side.err" &
  started+=($!)
  probe_seen() {
    "$lab" exec cloud mosquitto_pub -h 127.0.0.1 -t factory/probe -m probe -q 1 >/dev/null 2>&1
    grep -q ' factory/probe probe$' "$sub_out"
  }
  wait_ms 10000 probe_seen >/dev/null || fail_setup "the cloud subscriber receives nothing"

  start_bg "$tmp/local-$side/broker.out" gw mosquitto -c "$local_conf"
  local local_pid=${started[-1]}
  wait_ms 10000 "$lab" exec plc1 mosquitto_pub -h $ot_broker $(login 1) -t factory/probe/telemetry \
    -m probe >/dev/null 2>&1 || fail_setup "the local broker did not start: $(cat "$local_log")"
  # Warm-up through the bridge: a message from the OT side reaches the cloud subscriber.
  warm_seen() {
    "$lab" exec plc1 mosquitto_pub -h $ot_broker $(login 1) -t factory/warmup/telemetry -m warm -q 1 \
      >/dev/null 2>&1
    sleep 0.3
    grep -q ' factory/warmup/telemetry warm$' "$sub_out"
  }
  if ! wait_ms 60000 warm_seen >/dev/null; then
    if [ "$side" = sekisho ]; then
      ctl_gw cloud status || true
      "$lab" daemon log | tail -n 30
    fi
    tail -n 20 "$local_log" "$tmp/cloud-$side/mosquitto.log"
    fail_setup "$side: no message crosses the bridge"
  fi
  if [ "$side" = sekisho ]; then
    echo "   sekishod's bridge: $(cloud_field cloud.state), max_in_flight" \
      "$(cloud_field limits.max_in_flight), drain_rate $(cloud_field limits.drain_rate)"
  else
    conf() { awk -v k="$1" '$1 == k { v = $2 } END { print v }' "$local_conf"; }
    echo "   mosquitto's bridge: max_inflight_messages $(conf max_inflight_messages) (mosquitto's" \
      "default 20), max_queued_messages $(conf max_queued_messages) (0: no limit; default 1000)," \
      "persistence $(conf persistence), autosave_interval $(conf autosave_interval) s; bridge" \
      "defaults: keepalive_interval 60 s, restart_timeout 5..30 s backoff, try_private true"
  fi

  # The processes that carry the messages on the gateway, for their CPU time per phase.
  local carriers=("$local_pid") cpu
  [ "$side" = sekisho ] && carriers+=("$("$lab" daemon pid)")
  cpu_since() { python3 -c "print(f'{$(cpu_seconds "${carriers[@]}") - $1:.2f}')"; }

  # (1) Sustained, link up.
  local base_received=0 lossless=1
  [ "$side" = sekisho ] && base_received=$(cloud_field uplink.received)
  cpu=$(cpu_seconds "${carriers[@]}")
  start=$(date +%s.%N)
  publish S || return 1
  got=$(python3 "$load" wait "$sub_out" S "$messages" --stall 60 --limit 600) ||
    echo "   sustained: only $got of $messages arrived (stalled)"
  python3 "$load" measure "$sub_out" S "$messages" $publishers --side "$side" --kind sustained \
    --start "$start" --cpu "$(cpu_since "$cpu")" --out "$results" || lossless=0

  # (2) Drain: the same outage on both sides, the WAN link closed by sekishod.
  ctl_gw link down --reason "cloud bench: backlog" >/dev/null
  wait_ms 10000 sh -c "! '$lab' exec gw ip route show default | grep -q ." >/dev/null ||
    echo "   (the WAN's default route is still there after link down)"
  [ "$side" = sekisho ] && base_received=$(cloud_field uplink.received)
  local outage_start
  outage_start=$(date +%s.%N)
  publish B || return 1
  if [ "$side" = sekisho ]; then
    # Queued when sekishod has received (committed) them all.
    local target=$((base_received + backlog))
    received_reaches() { [ "$(cloud_field uplink.received)" -ge "$1" ]; }
    wait_ms 120000 received_reaches $target >/dev/null ||
      echo "   sekishod received $(cloud_field uplink.received) of $target"
    echo "   queued: backlog $(cloud_field backlog.messages) messages, uplink forwarded $(cloud_field uplink.forwarded)"
  fi
  sleep 1
  local opened
  opened=$(date +%s.%N)
  echo "   WAN closed $(python3 -c "print(f'{$opened - $outage_start:.1f}')") s; opening"
  cpu=$(cpu_seconds "${carriers[@]}")
  ctl_gw link auto --reason "cloud bench: drain" >/dev/null
  got=$(python3 "$load" wait "$sub_out" B "$backlog" --stall 120 --limit 800) ||
    echo "   drain: only $got of $backlog arrived (stalled)"
  python3 "$load" measure "$sub_out" B "$backlog" $publishers --side "$side" --kind drain \
    --start "$opened" --cpu "$(cpu_since "$cpu")" --out "$results" || lossless=0
  if [ "$side" = sekisho ]; then
    ctl_gw cloud status --json >"$tmp/cloud-status.json" 2>&1 || true
    echo "   cloud status: $(python3 -c 'import json, sys
s = json.load(open(sys.argv[1]))
print(json.dumps({k: s.get(k) for k in ("cloud", "uplink", "backlog")}, separators=(",", ":")))' \
      "$tmp/cloud-status.json" 2>&1)"
  fi
  if [ $lossless = 0 ]; then
    echo "   evidence: local broker log"
    tail -n 20 "$local_log"
    if [ "$side" = sekisho ]; then "$lab" daemon log | tail -n 40; fi
  fi
  stop_started
  "$lab" down
}

python3 "$load" lines "$tmp" S "$messages" $publishers
python3 "$load" lines "$tmp" B "$backlog" $publishers
: >"$results"
for round in $(seq 1 "$rounds"); do
  for side in $sides; do
    run_side "$side" "$round"
  done
done
python3 "$load" summary "$results" || exit 1
