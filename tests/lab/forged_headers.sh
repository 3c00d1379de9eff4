#!/usr/bin/env bash
# Forged headers against the real daemon's ruleset: what a header field means depends on
# the family and on the link, and the ruleset must not take one for the other.
# - An IPv4 packet of protocol 58 whose first byte is a neighbour discovery type is not
#   neighbour discovery. conntrack would call it invalid; it is exempted from conntrack
#   here (a raw-table notrack rule in the gateway) so that the ruleset alone must drop it.
# - A MAC-bound host's address arriving on a link without MAC addresses (a tun device in
#   its zone) is dropped; another host's address on the same link passes.
set -u
bindir=$1
src=$2
. "$src/tests/lab/lab_test.sh"
forged=$src/tests/lab/forged.py

# The lab factory with a tun device in the OT zone, next to the bound plc-1's switch.
sed 's/interfaces: \[lan0\]/interfaces: [lan0, tun0]/' "$src/configs/lab-factory.yaml" \
  >"$tmp/policy.yaml"
grep -q 'interfaces: \[lan0, tun0\]' "$tmp/policy.yaml" || {
  echo "FAIL: cannot add tun0 to the OT zone of configs/lab-factory.yaml"
  exit 1
}
lab_up "$tmp/policy.yaml"

# delivered NODE PROTOCOL MARKER COMMAND...: runs COMMAND while NODE listens for an IPv4
# packet of PROTOCOL carrying MARKER; prints seen or unseen.
delivered() {
  local node=$1 protocol=$2 marker=$3 out=$tmp/listener.$3 pid
  shift 3
  "$lab" exec "$node" python3 "$forged" listen "$protocol" "$marker" 1.5 >"$out" 2>&1 &
  pid=$!
  wait_ms 3000 grep -q ready "$out" >/dev/null
  "$@"
  wait "$pid"
  tail -n 1 "$out"
}

# expect_delivery WHAT seen|unseen NODE PROTOCOL MARKER COMMAND...
expect_delivery() {
  local what=$1 expected=$2 seen
  shift 2
  seen=$(delivered "$@")
  if [ "$seen" = "$expected" ]; then lab_pass "$what: $seen"; else
    lab_fail "$what: expected $expected, saw $seen"
  fi
}

in_gw nft -f - <<'EOF'
table inet lab_notrack {
	chain raw {
		type filter hook prerouting priority raw; policy accept;
		meta l4proto ipv6-icmp notrack
	}
	chain raw_out {
		type filter hook output priority raw; policy accept;
		meta l4proto ipv6-icmp notrack
	}
}
EOF
for type in 133 134 135 136; do
  expect_delivery "an IPv4 packet of protocol 58, type $type, from plc-2 to the gateway" unseen \
    gw 58 "forged-nd-$type" "$lab" exec plc2 python3 "$forged" send-raw 58 192.0.2.1 "$type" \
    "forged-nd-$type"
done
# The listener does see such a packet where the ruleset lets everything in (loopback).
expect_delivery "the same packet over the gateway's loopback" seen gw 58 forged-nd-lo \
  in_gw python3 "$forged" send-raw 58 127.0.0.1 135 forged-nd-lo

# tun0: no link-layer header, so no source MAC. Reverse-path filtering is off, or the
# kernel itself would drop the OT addresses arriving there (they route through lan0).
in_gw ip tuntap add dev tun0 mode tun
in_gw ip link set tun0 up
in_gw sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.tun0.rp_filter=0
ntp=$("$lab" address ntp 4)
expect_delivery "plc-2's address (not bound) on tun0 to ntp, udp/123" seen ntp 17 forged-tun-plc2 \
  in_gw python3 "$forged" tun-udp tun0 192.0.2.22 "$ntp" 123 forged-tun-plc2
expect_delivery "plc-1's address (bound to a MAC) on tun0 to ntp, udp/123" unseen ntp 17 \
  forged-tun-plc1 in_gw python3 "$forged" tun-udp tun0 192.0.2.21 "$ntp" 123 forged-tun-plc1
expect plc1 udp "$ntp" 123 reached "plc-1 itself, from its bound MAC, meanwhile"

lab_finish
