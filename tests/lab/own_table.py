#!/usr/bin/env python3
"""Takes table inet TABLE away from whoever runs it: in one nftables transaction it
deletes the table and makes an empty one of the same name that this process owns
(NFT_TABLE_F_OWNER, kernel 5.12 and later). While this process keeps its netlink socket,
the kernel refuses every change of that table from anyone else (EPERM); when it exits,
the kernel deletes the table. Prints "owned" once the kernel took the transaction, then
waits until stdin closes. Run it inside a lab namespace only."""
import os
import socket
import struct
import sys

NETLINK_NETFILTER = 12
NFNL_SUBSYS_NFTABLES = 10
NFNL_MSG_BATCH_BEGIN, NFNL_MSG_BATCH_END = 0x10, 0x11
NFT_MSG_NEWTABLE, NFT_MSG_DELTABLE = 0, 2
NFTA_TABLE_NAME, NFTA_TABLE_FLAGS = 1, 2
NFT_TABLE_F_OWNER = 2
NFPROTO_INET, AF_UNSPEC = 1, 0
NLM_F_REQUEST, NLM_F_ACK, NLM_F_CREATE = 0x1, 0x4, 0x400
NLMSG_ERROR = 2


def attribute(kind, payload):
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * ((4 - length % 4) % 4)


def message(kind, flags, seq, family, res_id, attributes=b""):
    body = struct.pack("=BBH", family, 0, socket.htons(res_id)) + attributes
    return struct.pack("=IHHII", 16 + len(body), kind, flags, seq, 0) + body


table = sys.argv[1].encode() + b"\0"
nft = NFNL_SUBSYS_NFTABLES << 8
batch = (
    message(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, 1, AF_UNSPEC, NFNL_SUBSYS_NFTABLES)
    + message(nft | NFT_MSG_DELTABLE, NLM_F_REQUEST | NLM_F_ACK, 2, NFPROTO_INET, 0,
              attribute(NFTA_TABLE_NAME, table))
    + message(nft | NFT_MSG_NEWTABLE, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE, 3, NFPROTO_INET, 0,
              attribute(NFTA_TABLE_NAME, table)
              + attribute(NFTA_TABLE_FLAGS, struct.pack("!I", NFT_TABLE_F_OWNER)))
    + message(NFNL_MSG_BATCH_END, NLM_F_REQUEST, 4, AF_UNSPEC, NFNL_SUBSYS_NFTABLES)
)
sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
sock.bind((0, 0))
sock.send(batch)
acked = set()
while acked != {2, 3}:
    data = sock.recv(65536)
    offset = 0
    while offset + 16 <= len(data):
        length, kind, _, seq, _ = struct.unpack_from("=IHHII", data, offset)
        if kind == NLMSG_ERROR:
            (error,) = struct.unpack_from("=i", data, offset + 16)
            if error != 0:
                sys.exit(f"own_table: the kernel refused message {seq}: {os.strerror(-error)}")
            acked.add(seq)
        offset += (length + 3) & ~3
print("owned", flush=True)
sys.stdin.read()
