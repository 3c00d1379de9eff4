#!/usr/bin/env python3
"""Watches whether HOST PORT can be reached from this namespace, as often as it can, until
the file STOP exists: a TCP connection attempt every 50 ms with a 200 ms time-out. Prints
"reached TIME" for every attempt the destination answered (connected, or refused it),
then "attempts N reached M"."""
import os
import socket
import sys
import time

host, port, stop = sys.argv[1], int(sys.argv[2]), sys.argv[3]
attempts = reached = 0
while not os.path.exists(stop):
    attempts += 1
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.settimeout(0.2)
        try:
            s.connect((host, port))
            reached += 1
            print("reached %.3f" % time.time(), flush=True)
        except ConnectionRefusedError:
            reached += 1
            print("reached %.3f (refused)" % time.time(), flush=True)
        except OSError:
            pass
    time.sleep(0.05)
print("attempts %d reached %d" % (attempts, reached), flush=True)
