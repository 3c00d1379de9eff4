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
Prints what the daemon did: the replies it sent, or when it closed the connection."""
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


if __name__ == "__main__":
    main()
