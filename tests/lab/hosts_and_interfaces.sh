#!/usr/bin/env bash
# L-3 in the lab: a MAC-bound host sending from another MAC is dropped, and an interface
# that no zone owns (a veth added to the gateway behind the daemon's back) passes nothing,
# in either direction, to the gateway or through it.
set -u
bindir=$1
src=$2
. "$src/tests/lab/lab_test.sh"
lab_up

expect plc1 udp 198.18.20.10 123 reached "plc-1 from its bound MAC"
"$lab" exec plc1 ip link set eth0 address 02:00:00:00:02:99
expect plc1 udp 198.18.20.10 123 blocked "plc-1's address from another MAC"
expect historian tcp 192.0.2.21 4840 blocked "replies from plc-1's address with another MAC"
expect plc2 udp 198.18.20.10 123 reached "plc-2 (not MAC-bound) meanwhile"
"$lab" exec plc1 ip link set eth0 address 02:00:00:00:02:21
expect plc1 udp 198.18.20.10 123 reached "plc-1 back on its bound MAC"

# An undeclared interface: lan9 on the gateway, a rogue machine behind it.
rogue=$LAB_ID-rogue
ip netns add "$rogue"
ip -n "$LAB_ID-gw" link add lan9 type veth peer name eth0 netns "$rogue"
in_gw ip link set lan9 up
in_gw ip addr add 198.18.30.1/24 dev lan9
ip -n "$rogue" link set lo up
ip -n "$rogue" link set eth0 up
ip -n "$rogue" addr add 198.18.30.5/24 dev eth0
ip -n "$rogue" route add default via 198.18.30.1
ip netns exec "$rogue" python3 "$src/tests/lab/responder.py" --tcp 22 502 --udp 123 \
  >/dev/null 2>&1 &
disown
in_gw ip route add 198.18.30.0/24 dev lan9 2>/dev/null || true
sleep 0.3
expect rogue tcp 192.0.2.21 502 blocked "undeclared interface into ot"
expect rogue tcp 198.18.20.5 4840 blocked "undeclared interface into it"
expect rogue udp 198.18.20.10 123 blocked "undeclared interface, udp"
expect rogue tcp 198.18.30.1 22 blocked "undeclared interface to the gateway"
expect rogue icmp 198.18.30.1 echo-request blocked "undeclared interface, ping the gateway"
expect historian tcp 198.18.30.5 22 blocked "from it out of the undeclared interface"
expect historian icmp 198.18.30.5 echo-request blocked "ping out of the undeclared interface"
if verify_quiet; then
  lab_pass "the ruleset is unchanged (a new interface needs no rule to be shut)"
else
  lab_fail "verify differs after adding an interface"
fi
lab_finish
