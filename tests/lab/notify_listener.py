#!/usr/bin/env python3
"""Plays systemd's side of sd_notify: binds the datagram socket PATH and records each
message with its time, until STOPPING=1 or the time-out. On READY=1 it runs CHECK (a
shell command) at once and records whether it succeeded: the ruleset must already be in
force when the daemon says it is ready."""
import socket
import subprocess
import sys
import time

path, check, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
start = time.monotonic()
print("listening", flush=True)
while time.monotonic() - start < timeout:
    s.settimeout(max(0.01, timeout - (time.monotonic() - start)))
    try:
        data = s.recv(4096).decode()
    except socket.timeout:
        break
    at = time.monotonic() - start
    for line in data.splitlines():
        print(f"{at:.3f} {line}", flush=True)
        if line == "READY=1":
            ok = subprocess.run(check, shell=True, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL).returncode == 0
            print(f"{at:.3f} ruleset-in-force-at-ready={'yes' if ok else 'no'}", flush=True)
    if "STOPPING=1" in data:
        break
