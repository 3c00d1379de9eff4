# Sourced by the lab tests of the maintenance VPN (vpn.sh, sessions.sh): a vendor on the
# Internet side and its WireGuard interface. Expects lab_test.sh sourced, $tmp, and
# $gw_public (the gateway's WireGuard public key).

in_vendor() { "$lab" exec vendor "$@"; }

# vendor_up: IPv6 on the WAN link, and the vendor's namespace behind the ISP
# (203.0.113.50, 2001:db8:52::50).
vendor_up() {
  in_gw ip addr add 2001:db8:51::2/64 dev wan0 nodad
  in_gw ip -6 route add default via 2001:db8:51::1
  "$lab" exec isp ip addr add 2001:db8:51::1/64 dev eth0 nodad
  "$lab" exec isp sysctl -qw net.ipv6.conf.all.forwarding=1
  ip netns add "$LAB_ID-vendor"
  in_vendor ip link set lo up
  ip -n "$LAB_ID-isp" link add eth2 type veth peer name eth0 netns "$LAB_ID-vendor"
  "$lab" exec isp ip link set eth2 up
  in_vendor ip link set eth0 up
  "$lab" exec isp ip addr add 203.0.113.49/29 dev eth2
  "$lab" exec isp ip addr add 2001:db8:52::1/64 dev eth2 nodad
  in_vendor ip addr add 203.0.113.50/29 dev eth0
  in_vendor ip addr add 2001:db8:52::50/64 dev eth0 nodad
  in_vendor ip route add default via 203.0.113.49
  in_vendor ip -6 route add default via 2001:db8:52::1
}

# connect IF CONFIG: a vendor interface, configured from a wg-quick file as wg-quick
# would. The vendor then tries everything: every address in the tunnel, not only the
# targets the file names.
connect() {
  local interface=$1 config=$2
  in_vendor wireguard-go "$interface" >/dev/null 2>&1 ||
    { lab_fail "wireguard-go $interface did not start"; return 1; }
  wg-quick strip "$config" >"$tmp/$interface.wg"
  in_vendor wg setconf "$interface" "$tmp/$interface.wg"
  local address
  for address in $(sed -n 's/^Address = //p' "$config" | tr ',' ' '); do
    in_vendor ip addr add "$address" dev "$interface"
  done
  in_vendor ip link set "$interface" up
  in_vendor wg set "$interface" peer "$gw_public" allowed-ips 0.0.0.0/0,::/0
  in_vendor ip route add 192.0.2.0/24 dev "$interface"
  in_vendor ip route add 198.18.20.0/24 dev "$interface"
  in_vendor ip route add 198.19.77.0/24 dev "$interface" 2>/dev/null || true
  in_vendor ip -6 route add 2001:db8:10::/64 dev "$interface"
  in_vendor ip -6 route add 2001:db8:77::/64 dev "$interface" 2>/dev/null || true
}

# handshake IF: the vendor interface's latest handshake (unix seconds, 0: none).
handshake() { in_vendor wg show "$1" latest-handshakes | awk '{print $2}'; }
