#!/usr/bin/env python3
"""A lab host's services: accepts TCP on the given ports and echoes what it receives,
echoes UDP datagrams. Listens on IPv4 and IPv6 (one dual-stack socket per port)."""
import argparse
import selectors
import socket


def listener(kind, port):
    s = socket.socket(socket.AF_INET6, kind)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::", port))
    if kind == socket.SOCK_STREAM:
        s.listen(64)
    s.setblocking(False)
    return s


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tcp", type=int, nargs="*", default=[])
    parser.add_argument("--udp", type=int, nargs="*", default=[])
    args = parser.parse_args()
    sel = selectors.DefaultSelector()
    for port in args.tcp:
        sel.register(listener(socket.SOCK_STREAM, port), selectors.EVENT_READ, "accept")
    for port in args.udp:
        sel.register(listener(socket.SOCK_DGRAM, port), selectors.EVENT_READ, "udp")
    while True:
        for key, _ in sel.select():
            sock = key.fileobj
            try:
                if key.data == "accept":
                    conn, _ = sock.accept()
                    conn.setblocking(False)
                    sel.register(conn, selectors.EVENT_READ, "echo")
                elif key.data == "udp":
                    data, peer = sock.recvfrom(2048)
                    sock.sendto(data, peer)
                else:
                    data = sock.recv(2048)
                    if data:
                        sock.sendall(data)
                    else:
                        sel.unregister(sock)
                        sock.close()
            except OSError:
                if key.data == "echo":
                    sel.unregister(sock)
                    sock.close()


if __name__ == "__main__":
    main()
