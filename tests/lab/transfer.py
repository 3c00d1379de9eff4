#!/usr/bin/env python3
"""Traffic with a clock, for the jump-session lab test.

serve PORT LOG      echo server (v4 and v6, a thread per connection); appends
                    "rx UNIX_TIME BYTES" to LOG for every read, so a test can tell the
                    last moment a payload byte arrived.
send HOST PORT N    sends N bytes and reads the N echoed back; prints
                    "sent N received M seconds S".
stream HOST PORT S  for at most S seconds sends 100 bytes every 50 ms and reads the echo;
                    prints "ok LAST_ECHO_TIME" if it kept working, else
                    "failed ERROR AT_TIME LAST_ECHO_TIME" as soon as the connection fails.
"""
import socket
import sys
import threading
import time


def serve(port, log_path):
    log = open(log_path, "a", buffering=1)
    lock = threading.Lock()
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::", port))
    s.listen(16)

    def echo(conn):
        with conn:
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                with lock:
                    log.write("rx %.6f %d\n" % (time.time(), len(data)))
                try:
                    conn.sendall(data)
                except OSError:
                    return

    while True:
        conn, _ = s.accept()
        threading.Thread(target=echo, args=(conn,), daemon=True).start()


def connect(host, port, timeout):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect((host, port))
    return s


def send(host, port, total):
    s = connect(host, port, 10)
    start = time.monotonic()
    chunk = b"x" * 65536

    def writer():
        left = total
        while left > 0:
            n = min(left, len(chunk))
            s.sendall(chunk[:n])
            left -= n

    t = threading.Thread(target=writer)
    t.start()
    received = 0
    while received < total:
        data = s.recv(65536)
        if not data:
            break
        received += len(data)
    t.join()
    s.close()
    print("sent %d received %d seconds %.3f" % (total, received, time.monotonic() - start))


def stream(host, port, seconds):
    s = connect(host, port, 3)
    s.settimeout(2)
    last_echo = time.time()
    end = time.monotonic() + seconds
    print("connected", flush=True)
    try:
        while time.monotonic() < end:
            s.sendall(b"y" * 100)
            got = 0
            while got < 100:
                data = s.recv(100 - got)
                if not data:
                    raise ConnectionResetError("closed by the peer")
                got += len(data)
            last_echo = time.time()
            time.sleep(0.05)
    except (OSError, socket.timeout) as error:
        name = type(error).__name__
        print("failed %s %.6f %.6f" % (name, time.time(), last_echo), flush=True)
        return
    print("ok %.6f" % last_echo, flush=True)


def main():
    mode = sys.argv[1]
    if mode == "serve":
        serve(int(sys.argv[2]), sys.argv[3])
    elif mode == "send":
        send(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif mode == "stream":
        stream(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))


if __name__ == "__main__":
    main()
