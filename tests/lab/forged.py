#!/usr/bin/env python3
"""Forged packets for the lab, with raw sockets only (no scapy):

  forged.py listen PROTOCOL MARKER SECONDS
      waits up to SECONDS for an IPv4 packet of PROTOCOL carrying MARKER delivered to
      this namespace (a raw socket sees it once the input hook let it through); prints
      "seen" or "unseen". Prints "ready" first, once it listens.
  forged.py send-raw PROTOCOL DESTINATION TYPE MARKER
      one IPv4 packet of PROTOCOL to DESTINATION whose payload starts with the byte TYPE
      (what an ICMP or ICMPv6 header has first), then MARKER.
  forged.py tun-udp IFNAME SOURCE DESTINATION PORT MARKER
      attaches to the tun device IFNAME and writes one IPv4 UDP datagram from SOURCE (any
      address: nothing checks it) to DESTINATION:PORT carrying MARKER, so the kernel
      receives it on IFNAME, which has no link-layer header."""
import fcntl
import os
import select
import socket
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def listen(protocol, marker, seconds):
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, protocol)
    print("ready", flush=True)
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([s], [], [], left)[0]:
            print("unseen", flush=True)
            return
        if marker in s.recv(65535):
            print("seen", flush=True)
            return


def send_raw(protocol, destination, first, marker):
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, protocol)
    body = bytes([first, 0, 0, 0]) + marker
    body = body[:2] + struct.pack("!H", checksum(body)) + body[4:]
    s.sendto(body, (destination, 0))


def tun_udp(ifname, source, destination, port, marker):
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", ifname.encode(), IFF_TUN | IFF_NO_PI))
    udp = struct.pack("!HHHH", 40000, port, 8 + len(marker), 0) + marker  # no UDP checksum
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0x5ec1, 0x4000, 64, 17, 0,
                         socket.inet_aton(source), socket.inet_aton(destination))
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    os.write(fd, header + udp)
    time.sleep(0.2)  # the device keeps its carrier while the packet is taken in
    os.close(fd)


def main():
    command, args = sys.argv[1], sys.argv[2:]
    if command == "listen":
        listen(int(args[0]), args[1].encode(), float(args[2]))
    elif command == "send-raw":
        send_raw(int(args[0]), args[1], int(args[2]), args[3].encode())
    elif command == "tun-udp":
        tun_udp(args[0], args[1], args[2], int(args[3]), args[4].encode())
    else:
        sys.exit("usage: see the docstring")


if __name__ == "__main__":
    main()
