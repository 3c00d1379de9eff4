#!/usr/bin/env python3
"""Clients that misbehave on sekishod's control socket, each on its own connection.
  hostile_client.py SOCKET garbage     a line that is not JSON, then a good request
  hostile_client.py SOCKET huge MB     a request of MB megabytes without a newline
  hostile_client.py SOCKET hold N S    N idle connections held open for S seconds
  hostile_client.py SOCKET flood N [REQUEST]
                                       N requests (default status) sent, no reply read
  hostile_client.py SOCKET idle S      one connection that sends nothing: seconds until
                                       the daemon closes it (or "still open" after S)
  hostile_client.py SOCKET many N [REQUEST]
                                       N requests (default status) on one connection,
                                       replies read: how many were ok, forbidden, invalid
  hostile_client.py SOCKET deep N       a status request whose params nest N levels deep
                                       (N arrays), then a plain status request
  hostile_client.py SOCKET steps FILE N
                                       N status requests on one connection, request i
                                       sent once FILE.(i-1) exists; prints "i REPLY"
  hostile_client.py SOCKET flood-hold N SECONDS
                                       N connections held open, each sending a status
                                       request every 10 s and reading its replies; one the
                                       daemon refuses or closes is opened again at once
                                       (counts printed every second)
Prints what the daemon did: the replies it sent, or when it closed the connection."""
import os
import socket
import sys
import time


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s


def read_lines(s, count, timeout=10):
    s.settimeout(timeout)
    data = b""
    try:
        while data.count(b"\n") < count:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    return data.decode(errors="replace").splitlines()


def closed_by_peer(s, timeout=20):
    """True when the daemon closed the connection (EOF or reset) within the time-out."""
    s.settimeout(timeout)
    try:
        while True:
            if not s.recv(1 << 20):
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def main():
    path, mode = sys.argv[1], sys.argv[2]
    if mode == "garbage":
        s = connect(path)
        s.sendall(b"\x00\xffnot json at all\n" + b'{"id":7,"method":"status"}\n')
        for line in read_lines(s, 2):
            print(line)
    elif mode == "huge":
        s = connect(path)
        chunk = b"x" * (1 << 20)
        try:
            for _ in range(int(sys.argv[3])):
                s.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        lines = read_lines(s, 1)
        print(lines[0] if lines else "no reply")
        print("closed" if closed_by_peer(s) else "still open")
    elif mode == "hold":
        held = [connect(path) for _ in range(int(sys.argv[3]))]
        print(f"holding {len(held)} connections", flush=True)
        time.sleep(float(sys.argv[4]))
    elif mode == "flood":
        s = connect(path)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        request = (sys.argv[4] if len(sys.argv) > 4 else '{"id":1,"method":"status"}')
        request = request.encode() + b"\n"
        sent = 0
        s.settimeout(20)
        try:
            for _ in range(int(sys.argv[3])):
                s.sendall(request)
                sent += 1
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            pass
        print(f"sent {sent} requests without reading;",
              "closed by the daemon" if closed_by_peer(s) else "still open")
    elif mode == "idle":
        s = connect(path)
        start = time.monotonic()
        closed = closed_by_peer(s, float(sys.argv[3]))
        took = time.monotonic() - start
        print(f"closed after {took:.1f} s" if closed else f"still open after {took:.1f} s")
    elif mode == "many":
        s = connect(path)
        count = int(sys.argv[3])
        request = (sys.argv[4] if len(sys.argv) > 4 else '{"id":1,"method":"status"}')
        s.sendall((request + "\n").encode() * count)
        lines = read_lines(s, count, timeout=120)
        ok = sum('"ok":true' in line for line in lines)
        forbidden = sum('"forbidden"' in line for line in lines)
        invalid = sum('"invalid"' in line for line in lines)
        print(f"{ok} ok, {forbidden} forbidden, {invalid} invalid of {count}")
    elif mode == "deep":
        s = connect(path)
        depth = int(sys.argv[3])
        nested = "[" * depth + "]" * depth
        s.sendall(('{"id":1,"method":"status","params":{"a":' + nested + '}}\n').encode())
        s.sendall(b'{"id":2,"method":"status"}\n')
        lines = read_lines(s, 2, timeout=30)
        print("\n".join(lines) if lines else "no reply")
    elif mode == "steps":
        s = connect(path)
        step_file, count = sys.argv[3], int(sys.argv[4])
        for i in range(1, count + 1):
            if i > 1:
                deadline = time.monotonic() + 30
                while not os.path.exists(f"{step_file}.{i - 1}") and time.monotonic() < deadline:
                    time.sleep(0.02)
            s.sendall(f'{{"id":{i},"method":"status"}}\n'.encode())
            lines = read_lines(s, 1)
            print(i, lines[0] if lines else "no reply", flush=True)
    elif mode == "flood-hold":
        flood_hold(path, int(sys.argv[3]), float(sys.argv[4]))


def flood_hold(path, count, seconds):
    """Keeps `count` connections to the daemon for `seconds`: each sends a status request
    every 10 s (a complete request, so the idle limit does not close it) and reads what
    comes; one refused or closed is opened again at once."""
    import selectors
    sel = selectors.DefaultSelector()
    stats = {"refused": 0, "reconnects": 0, "answered": 0, "closed": 0, "queue_full": 0}
    next_ping = {}
    to_open = [count]  # connections to (re)open

    def open_one():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect(path)
        except OSError:
            # EAGAIN: the daemon's listen queue is full; tried again in the next round.
            stats["queue_full"] += 1
            s.close()
            return False
        sel.register(s, selectors.EVENT_READ)
        next_ping[s] = time.monotonic()  # a request at once
        return True

    start = last_report = time.monotonic()
    while time.monotonic() - start < seconds:
        while to_open[0] > 0 and open_one():
            to_open[0] -= 1
        now = time.monotonic()
        for s, due in list(next_ping.items()):
            if due <= now:
                try:
                    s.send(b'{"id":1,"method":"status"}\n')
                except OSError:
                    pass
                next_ping[s] = now + 10
        for key, _ in sel.select(timeout=0.05) if next_ping else []:
            s = key.fileobj
            try:
                data = s.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if data:
                if b"too_many_connections" in data:
                    stats["refused"] += 1
                else:
                    stats["answered"] += data.count(b"\n")
                continue
            stats["closed"] += 1
            sel.unregister(s)
            del next_ping[s]
            s.close()
            stats["reconnects"] += 1
            to_open[0] += 1
        if now - last_report >= 1:
            last_report = now
            print(f"{now - start:.0f}s open={len(next_ping)} " +
                  " ".join(f"{k}={v}" for k, v in stats.items()), flush=True)


if __name__ == "__main__":
    main()
