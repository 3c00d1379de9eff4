#!/usr/bin/env python3
"""Sends probes from this namespace, all at once, each with a short time-out.
Reads lines "ID PROTO DESTINATION PORT|TYPE" (proto tcp, tcp-echo, udp, icmp or icmpv6)
on stdin and prints "ID reached|blocked|refused|error:WHAT" for each.

reached: the destination host answered (TCP connected or refused, UDP echoed or port
unreachable, ICMP echo reply). blocked: nothing came back in time. tcp-echo is stricter:
reached only when the payload came back, refused on a reset (a closed jump-session gate
answers with one)."""
import concurrent.futures
import errno
import socket
import subprocess
import sys

TIMEOUT = 2.0


def family(address):
    return socket.AF_INET6 if ":" in address else socket.AF_INET


def exchange(kind, address, port, talk):
    """reached when `talk` succeeds or the host refuses (it is there), blocked on time-out."""
    with socket.socket(family(address), kind) as s:
        s.settimeout(TIMEOUT)
        try:
            s.connect((address, int(port)))
            return talk(s)
        except ConnectionRefusedError:
            return "refused" if talk is tcp_echo_talk else "reached"
        except socket.timeout:
            return "blocked"
        except OSError as e:
            return "error:" + errno.errorcode.get(e.errno, str(e.errno))


def tcp(address, port):
    return exchange(socket.SOCK_STREAM, address, port, lambda s: "reached")


def tcp_echo_talk(s):
    s.sendall(b"sekisho-lab-probe")
    return "reached" if s.recv(2048) == b"sekisho-lab-probe" else "error:garbled"


def tcp_echo(address, port):
    """Payload there and back: a reset from the gateway is "refused", not "reached"."""
    return exchange(socket.SOCK_STREAM, address, port, tcp_echo_talk)


def udp_talk(s):
    s.send(b"sekisho-lab-probe")
    return "reached" if s.recv(2048) == b"sekisho-lab-probe" else "error:garbled"


def udp(address, port):
    return exchange(socket.SOCK_DGRAM, address, port, udp_talk)


def icmp(address, _type):
    command = ["ping", "-n", "-c", "1", "-W", str(int(TIMEOUT)), address]
    if family(address) == socket.AF_INET6:
        command.insert(1, "-6")
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return "reached" if done.returncode == 0 else "blocked"


PROBES = {"tcp": tcp, "tcp-echo": tcp_echo, "udp": udp, "icmp": icmp, "icmpv6": icmp}


def main():
    jobs = [line.split() for line in sys.stdin if line.strip()]
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(jobs))) as pool:
        results = [pool.submit(PROBES[proto], dst, port) for _id, proto, dst, port in jobs]
        for (probe_id, *_), result in zip(jobs, results):
            print(probe_id, result.result(), flush=True)


if __name__ == "__main__":
    main()
