#!/usr/bin/env bash
# The maintenance VPN (W-1): sekishod brings WireGuard up from the policy (wireguard-go: the
# CI kernel has no module), a vendor on the Internet side connects with the file
# `sekishoctl vpn peer-config` prints, and the tunnel grants nothing by itself.
set -u
bindir=$1
src=$2
. "$src/tests/lab/lab_test.sh"
. "$src/tests/lab/vendor_lab.sh"
lab_require_tools wg wireguard-go nmap
tmp=$(mktemp -d)
run=$LAB_RUN_DIR
# wireguard-go's sockets (/var/run/wireguard/IF.sock) are shared by all namespaces: one
# name per namespace and lab.
gw_if=${LAB_ID}gw0
vendor_if=${LAB_ID}vnd0
stranger_if=${LAB_ID}str0
keys=/run/sekisho-lab/$LAB_ID-keys
trap '"$lab" down; rm -rf "$tmp" "$keys"; rm -f /var/run/wireguard/{$gw_if,$vendor_if,$stranger_if}.sock' EXIT

# The gateway's key, made by sekishoctl; the vendors' own, by wg on "their" machines.
rm -rf "$keys"
mkdir -m 700 -p "$keys"
gw_public=$("$ctl" vpn genkey --out "$keys/gw.key")
if [ "$(wg pubkey <"$keys/gw.key")" = "$gw_public" ]; then
  lab_pass "wg pubkey < FILE equals what vpn genkey printed ($gw_public)"
else
  lab_fail "vpn genkey printed $gw_public, wg pubkey says $(wg pubkey <"$keys/gw.key")"
fi
(umask 077 && wg genkey >"$tmp/vendor-a.key" && wg genkey >"$tmp/vendor-b.key" &&
  wg genkey >"$tmp/stranger.key")
vendor_a_public=$(wg pubkey <"$tmp/vendor-a.key")
vendor_b_public=$(wg pubkey <"$tmp/vendor-b.key")

# policy FILE [gateway-rule] [peers]: the lab factory with a VPN zone; the vendor's tunnel
# address is 198.19.77.2. "rule" adds one `to: gateway` rule for the VPN zone; PEERS is
# "a b" (default), "a" or "".
policy() {
  local file=$1 rule=${2:-} peers=${3-a b}
  local gateway_rule=""
  if [ "$rule" = rule ]; then
    gateway_rule="  - name: the vendor may ssh to the gateway's tunnel address\n    from: maint\n    to: gateway\n    services: [ssh]\n"
  fi
  sed -e 's/^  wan:$/  maint:\n    vpn: maint\n  wan:/' -e "s/^wan:\$/${gateway_rule}wan:/" \
    "$src/configs/lab-factory.yaml" >"$file"
  cat >>"$file" <<EOF
vpn:
  maint:
    interface: $gw_if
    listen_port: 51820
    address: [198.19.77.1/24, "2001:db8:77::1/64"]
    private_key_file: $keys/gw.key
EOF
  [ -z "$peers" ] || echo "    peers:" >>"$file"
  if [[ " $peers " == *" a "* ]]; then
    cat >>"$file" <<EOF
      vendor-a: { public_key: "$vendor_a_public", addresses: [198.19.77.2, "2001:db8:77::2"] }
EOF
  fi
  if [[ " $peers " == *" b "* ]]; then
    cat >>"$file" <<EOF
      vendor-b: { public_key: "$vendor_b_public", address: 198.19.77.3, keepalive: 25s }
EOF
  fi
  if [[ " $peers " == *" a "* ]]; then
    cat >>"$file" <<EOF
remote_maintenance:
  max_duration: 4h
  targets:
    hmi-1-opcua: { host: hmi-1, services: [opcua] }
  peers:
    vendor-a: [hmi-1-opcua]
EOF
  fi
}
policy "$tmp/v1.yaml"
lab_up "$tmp/v1.yaml"
vendor_up

vpn_state() { in_gw "$ctl" vpn status --json --control "$run/control.sock" 2>/dev/null; }
vpn_field() { vpn_state | python3 -c "import json,sys; v=json.load(sys.stdin)['vpns'][0]; print($1)"; }
vpn_up() { [ "$(vpn_field "v['state']" 2>/dev/null)" = up ]; }
# gw_peers: the public keys on the gateway's interface, read with wg (not through sekishod).
gw_peers() { in_gw wg show "$gw_if" peers 2>/dev/null; }
gw_has_peer() { gw_peers | grep -qxF "$1"; }
gw_lacks_peer() { ! gw_has_peer "$1"; }
daemon_said() { "$lab" daemon log | grep -q "$1"; }
# vpn_records: the audit log's vpn.peer_* records as "kind peer why" lines.
vpn_records() {
  in_gw "$ctl" audit show --json --control "$run/control.sock" | python3 -c 'import json,sys
for r in json.load(sys.stdin):
    if r["kind"].startswith("vpn.peer_"):
        d = r["details"]; print(r["kind"], d.get("peer") or d["public_key"], d.get("why", ""))'
}
if wait_ms 10000 vpn_up >/dev/null; then
  lab_pass "sekishod brought $gw_if up on $(vpn_field "v['backend']") with public key $(vpn_field "v['public_key']")"
else
  lab_fail "the VPN did not come up: $(vpn_state)"
  "$lab" daemon log | tail -5
fi
gw_addresses=$(in_gw ip -br addr show dev "$gw_if" | awk '{$1=$2=""; print}' | xargs -n1 | grep -v '^fe80:' | xargs)
[ "$gw_addresses" = "198.19.77.1/24 2001:db8:77::1/64" ] &&
  lab_pass "the tunnel interface holds exactly the declared addresses ($gw_addresses)" ||
  lab_fail "tunnel addresses: '$gw_addresses'"
in_gw wg show "$gw_if" allowed-ips >"$tmp/allowed" 2>&1
if grep -qF "$vendor_a_public	198.19.77.2/32 2001:db8:77::2/128" "$tmp/allowed" &&
  grep -qF "$vendor_b_public	198.19.77.3/32" "$tmp/allowed"; then
  lab_pass "wg show (read independently): each peer's allowed IPs are exactly its addresses"
else
  lab_fail "wg show allowed-ips: $(cat "$tmp/allowed")"
fi

# The vendor: wireguard-go and wg with the file peer-config printed, their own key put in.
in_gw "$ctl" vpn peer-config vendor-a --endpoint 198.51.100.2:51820 --policy "$run/policy.yaml" \
  >"$tmp/vendor-a.conf" 2>"$tmp/peer-config.err" ||
  lab_fail "peer-config: $(cat "$tmp/peer-config.err")"
sed -i "s|<VENDOR PRIVATE KEY>|$(cat "$tmp/vendor-a.key")|" "$tmp/vendor-a.conf"
grep -q "^AllowedIPs = 192.0.2.31/32, 2001:db8:10::31/128$" "$tmp/vendor-a.conf" &&
  lab_pass "peer-config: AllowedIPs are the paired target's addresses" ||
  lab_fail "peer-config AllowedIPs: $(grep AllowedIPs "$tmp/vendor-a.conf")"
cp "$tmp/vendor-a.conf" "$tmp/$vendor_if.conf"
connect "$vendor_if" "$tmp/$vendor_if.conf"
handshake_done() { [ "$(handshake "$vendor_if")" -gt 0 ]; }
in_vendor ping -c 1 -W 1 198.19.77.1 >/dev/null 2>&1 # any packet starts the handshake
if took=$(wait_ms 10000 handshake_done); then
  lab_pass "the vendor's handshake completed ($took ms after the first packet)"
  echo "== measured: vendor handshake through wireguard-go $took ms after the first packet"
else
  lab_fail "no handshake: $(in_vendor wg show "$vendor_if")"
fi
if [ "$(vpn_field "[p['latest_handshake'] is not None for p in v['peers'] if p['peer']=='vendor-a'][0]")" = True ]; then
  lab_pass "sekishoctl vpn status shows vendor-a's handshake and endpoint $(vpn_field "[p['endpoint'] for p in v['peers'] if p['peer']=='vendor-a'][0]")"
else
  lab_fail "vpn status: $(vpn_state)"
fi

# Connected, and still nothing: OT, IT, the gateway's tunnel address, both families.
vendor_probes() {
  cat <<EOF | in_vendor python3 "$src/tests/lab/probe.py"
hmi-opcua tcp-echo 192.0.2.31 4840
hmi-opcua6 tcp-echo 2001:db8:10::31 4840
plc1-modbus tcp-echo 192.0.2.21 502
historian-ssh tcp-echo 198.18.20.5 22
gw-ssh tcp-echo 198.19.77.1 22
gw-ssh6 tcp-echo 2001:db8:77::1 22
gw-ping icmp 198.19.77.1 echo-request
hmi-ping icmp 192.0.2.31 echo-request
ntp udp 198.18.20.10 123
EOF
}
vendor_probes >"$tmp/probes"
if ! grep -q ' reached$' "$tmp/probes" && [ "$(wc -l <"$tmp/probes")" = 9 ]; then
  lab_pass "the connected vendor reaches nothing: $(awk '{printf "%s %s; ", $1, $2}' "$tmp/probes")"
else
  lab_fail "the VPN alone granted something: $(tr '\n' ';' <"$tmp/probes")"
fi

# A key the policy does not know: its handshake gets no reply.
sed -e "s|^PrivateKey = .*|PrivateKey = $(cat "$tmp/stranger.key")|" -e '/^Address/d' \
  "$tmp/vendor-a.conf" >"$tmp/$stranger_if.conf"
in_vendor wireguard-go "$stranger_if" >/dev/null 2>&1
wg-quick strip "$tmp/$stranger_if.conf" >"$tmp/stranger.wg"
in_vendor wg setconf "$stranger_if" "$tmp/stranger.wg"
in_vendor ip addr add 198.19.78.9/32 dev "$stranger_if"
in_vendor ip link set "$stranger_if" up
in_vendor ip route add 192.0.2.31/32 dev "$stranger_if" src 198.19.78.9 table 100
in_vendor ip rule add from 198.19.78.9 table 100
for attempt in 1 2 3; do
  in_vendor ping -c 1 -W 2 -I 198.19.78.9 192.0.2.31 >/dev/null 2>&1 || true
done
stranger_rx=$(in_vendor wg show "$stranger_if" transfer | awk '{print $2}')
stranger_tx=$(in_vendor wg show "$stranger_if" transfer | awk '{print $3}')
if [ "$(handshake "$stranger_if")" = 0 ] && [ "$stranger_rx" = 0 ] && [ "${stranger_tx:-0}" -gt 0 ]; then
  lab_pass "an unknown key's handshake gets no reply ($stranger_tx bytes sent, 0 received)"
else
  lab_fail "unknown key: handshake $(handshake "$stranger_if"), rx $stranger_rx, tx $stranger_tx"
fi

# Scans. From the WAN (the ISP's side of the link), v4 and v6, all TCP ports: nothing open
# or closed; UDP: nothing open (WireGuard answers no probe). From OT, IT and the VPN: only
# the gateway ports the policy declares (the gateway answers on tcp/22 and tcp/8999).
# --min-rate keeps a scan of 65535 dropped ports to about a minute on two cores; the IT
# scan, which must find tcp/22 open, shows that probes at this rate are not lost.
"$lab" exec gw python3 "$src/tests/lab/responder.py" --tcp 22 8999 >/dev/null 2>&1 &
gw_listening() { in_gw ss -Hltn 'sport = :8999' | grep -q LISTEN; }
wait_ms 5000 gw_listening >/dev/null ||
  lab_fail "the gateway's responder did not start"
scans=()
scan() { # scan NODE-COMMAND... -> "open/closed ports" (nmap's greppable lines)
  "$@" 2>&1 | grep -o '[0-9]*/\(open\|closed\)/[a-z]*' | sort | xargs
}
start=$(now_ms)
scan "$lab" exec isp timeout 300 nmap -Pn -n -sS -p- -T4 --max-retries 1 --min-rate 5000 -oG - 198.51.100.2 >"$tmp/wan4" &
scans+=($!)
scan "$lab" exec isp timeout 300 nmap -6 -Pn -n -sS -p- -T4 --max-retries 1 --min-rate 5000 -oG - 2001:db8:51::2 >"$tmp/wan6" &
scans+=($!)
scan "$lab" exec isp timeout 300 nmap -Pn -n -sU -p 51820,1-200 -T4 --max-retries 1 -oG - 198.51.100.2 >"$tmp/wanu" &
scans+=($!)
scan "$lab" exec historian timeout 300 nmap -Pn -n -sS -p- -T4 --max-retries 1 --min-rate 5000 -oG - 198.18.20.1 >"$tmp/it" &
scans+=($!)
scan "$lab" exec plc1 timeout 300 nmap -Pn -n -sS -p- -T4 --max-retries 1 --min-rate 5000 -oG - 192.0.2.1 >"$tmp/ot" &
scans+=($!)
scan in_vendor timeout 300 nmap -Pn -n -sS -p- -T4 --max-retries 1 --min-rate 5000 -oG - 198.19.77.1 >"$tmp/vpn" &
scans+=($!)
wait "${scans[@]}"
echo "== measured: six nmap scans of the gateway in parallel took $(($(now_ms) - start)) ms"
[ -z "$(cat "$tmp/wan4")" ] && lab_pass "WAN IPv4 TCP scan of all ports: none open or closed" ||
  lab_fail "WAN IPv4 TCP scan: $(cat "$tmp/wan4")"
[ -z "$(cat "$tmp/wan6")" ] && lab_pass "WAN IPv6 TCP scan of all ports: none open or closed" ||
  lab_fail "WAN IPv6 TCP scan: $(cat "$tmp/wan6")"
grep -q '/open/' "$tmp/wanu" && lab_fail "WAN UDP scan found: $(cat "$tmp/wanu")" ||
  lab_pass "WAN UDP scan of 51820 and 1-200: no open port"
[ "$(cat "$tmp/it")" = "22/open/tcp" ] && lab_pass "IT scan of the gateway: only tcp/22, as declared" ||
  lab_fail "IT scan of the gateway: '$(cat "$tmp/it")' (declared: 22)"
[ -z "$(cat "$tmp/ot")" ] && lab_pass "OT scan of the gateway: nothing, as declared" ||
  lab_fail "OT scan of the gateway: $(cat "$tmp/ot")"
[ -z "$(cat "$tmp/vpn")" ] && lab_pass "VPN scan of the gateway's tunnel address: nothing, as declared" ||
  lab_fail "VPN scan of the gateway: $(cat "$tmp/vpn")"

# A `to: gateway` rule for the VPN zone opens exactly that.
policy "$tmp/v2.yaml" rule
"$lab" policy "$tmp/v2.yaml"
vendor_ssh() { probe vendor tcp-echo 198.19.77.1 22; }
vendor_reaches_ssh() { [ "$(vendor_ssh)" = reached ]; }
if wait_ms 10000 vendor_reaches_ssh >/dev/null; then
  lab_pass "with a to: gateway rule the vendor reaches the gateway's tcp/22, and only that:"
else
  lab_fail "the to: gateway rule did not open tcp/22 for the vendor"
fi
vendor_probes >"$tmp/probes2"
[ "$(grep -c ' reached$' "$tmp/probes2")" = 2 ] && grep -q '^gw-ssh reached' "$tmp/probes2" &&
  grep -q '^gw-ssh6 reached' "$tmp/probes2" &&
  lab_pass "  $(awk '{printf "%s %s; ", $1, $2}' "$tmp/probes2")" ||
  lab_fail "with the rule: $(tr '\n' ';' <"$tmp/probes2")"

# Reload without vendor-b: vendor-a is not disturbed (same handshake, traffic flows on,
# and the plan named vendor-b alone: the audit log has vendor-a only as added at start).
before=$(handshake "$vendor_if")
policy "$tmp/v3.yaml" rule a
"$lab" policy "$tmp/v3.yaml"
if wait_ms 10000 gw_lacks_peer "$vendor_b_public" >/dev/null; then
  lab_pass "reload removed vendor-b from $gw_if"
else
  lab_fail "vendor-b is still a peer after the reload"
fi
vpn_records >"$tmp/records"
[ "$(vendor_ssh)" = reached ] && [ "$(handshake "$vendor_if")" = "$before" ] &&
  [ "$(grep -c ' vendor-a ' "$tmp/records")" = 1 ] &&
  grep -q '^vpn.peer_removed vendor-b policy$' "$tmp/records" &&
  lab_pass "vendor-a undisturbed by removing vendor-b (same handshake, still reaches tcp/22, not touched)" ||
  lab_fail "vendor-a was disturbed: handshake $before -> $(handshake "$vendor_if"); $(tr '\n' ';' <"$tmp/records")"

# Removing vendor-a by reload cuts it.
policy "$tmp/v4.yaml" rule ""
"$lab" policy "$tmp/v4.yaml"
if wait_ms 10000 gw_lacks_peer "$vendor_a_public" >/dev/null; then
  cut=$(vendor_ssh)
  [ "$cut" = blocked ] && lab_pass "removing vendor-a by reload cuts it (tcp/22 now: $cut)" ||
    lab_fail "vendor-a after its removal: $cut"
else
  lab_fail "vendor-a is still a peer after the reload"
fi

# Drift: a peer added by hand, and vendor-a's allowed IPs widened by hand, are put back.
"$lab" policy "$tmp/v1.yaml"
wait_ms 10000 gw_has_peer "$vendor_a_public" >/dev/null ||
  lab_fail "vendor-a did not come back with the first policy"
intruder=$(wg genkey | wg pubkey)
in_gw wg set "$gw_if" peer "$intruder" allowed-ips 198.19.77.99/32
in_gw wg set "$gw_if" peer "$vendor_a_public" allowed-ips 198.19.77.2/32,2001:db8:77::2/128,192.0.2.0/24
narrowed() { in_gw wg show "$gw_if" allowed-ips | grep -qxF "$vendor_a_public	198.19.77.2/32 2001:db8:77::2/128"; }
if took=$(wait_ms 15000 gw_lacks_peer "$intruder") && wait_ms 1000 narrowed >/dev/null; then
  vpn_records >"$tmp/records"
  grep -q "^vpn.peer_removed $intruder drift$" "$tmp/records" &&
    grep -q '^vpn.peer_changed vendor-a drift$' "$tmp/records" &&
    lab_pass "a peer added by hand is removed and a widened one narrowed within $took ms (audited as drift)" ||
    lab_fail "drift undone but not audited: $(tr '\n' ';' <"$tmp/records")"
else
  lab_fail "drift not undone: $(in_gw wg show "$gw_if" allowed-ips | tr '\n' ';')"
fi

# A key file that others may read is refused, clearly, and the tunnel taken down.
chmod 0644 "$keys/gw.key"
"$lab" daemon reload
if wait_ms 10000 daemon_said "private_key_file $keys/gw.key: .*0644" >/dev/null; then
  lab_pass "a 0644 key file is refused: $("$lab" daemon log | grep -m1 "private_key_file $keys/gw.key" | sed 's/^.*vpn maint: //')"
else
  lab_fail "no clear refusal of the 0644 key file: $("$lab" daemon log | tail -3)"
fi
[ "$(vpn_field "v['state']")" = refused ] && ! in_gw ip link show "$gw_if" >/dev/null 2>&1 &&
  lab_pass "the refused tunnel is down and vpn status says: $(vpn_field "v['problem']")" ||
  lab_fail "after the refusal: $(vpn_state)"
chmod 0600 "$keys/gw.key"
"$lab" daemon reload
wait_ms 10000 vpn_up >/dev/null &&
  lab_pass "with mode 0600 again the tunnel comes back" || lab_fail "the tunnel did not come back: $(vpn_state)"

# wireguard-go killed: restarted, peers back, audited.
pkill -KILL -f "^wireguard-go -f $gw_if\$" || lab_fail "no wireguard-go for $gw_if"
if took=$(wait_ms 15000 gw_has_peer "$vendor_a_public"); then
  lab_pass "a killed wireguard-go is restarted with its peers in $took ms"
  echo "== measured: wireguard-go killed -> restarted with its peers in $took ms (backoff 1 s)"
else
  lab_fail "wireguard-go was not restarted: $("$lab" daemon log | tail -3)"
fi

# The audit trail: peers added and removed, the refusal, the restart; no key material.
in_gw "$ctl" audit show --json --control "$run/control.sock" >"$tmp/audit.json" 2>&1
for kind in vpn.peer_added vpn.peer_removed vpn.key_refused vpn.down vpn.wireguard_go_exited vpn.wireguard_go_restarted; do
  grep -q "\"$kind\"" "$tmp/audit.json" && lab_pass "audited: $kind" || lab_fail "not audited: $kind"
done
grep -q "peer_added" "$tmp/audit.json" && ! grep -qF "$(cat "$keys/gw.key")" "$tmp/audit.json" &&
  ! "$lab" daemon log | grep -qF "$(cat "$keys/gw.key")" &&
  lab_pass "the private key is in neither the audit log nor the daemon's log" ||
  lab_fail "the private key leaked"
in_gw "$ctl" audit verify --control "$run/control.sock" >/dev/null 2>&1 &&
  lab_pass "the audit log verifies" || lab_fail "the audit log does not verify"

lab_finish
