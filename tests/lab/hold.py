#!/usr/bin/env python3
"""Holds one TCP connection open across a change: connects to HOST PORT, says
"connected", waits until the file TRIGGER exists, then sends a line and expects the lab
responder's echo. Prints "alive" or "dead: REASON"."""
import os
import socket
import sys
import time

host, port, trigger = sys.argv[1], int(sys.argv[2]), sys.argv[3]
family = socket.AF_INET6 if ":" in host else socket.AF_INET
s = socket.create_connection((host, port), timeout=3)
print("connected", flush=True)
deadline = time.monotonic() + 120
while not os.path.exists(trigger) and time.monotonic() < deadline:
    time.sleep(0.05)
try:
    s.settimeout(3)
    s.sendall(b"still there?\n")
    print("alive" if s.recv(100) == b"still there?\n" else "dead: garbled echo", flush=True)
except OSError as e:
    print("dead:", e, flush=True)
