#!/usr/bin/env python3
"""A plugin's inspector as the steering lab test needs it: a transparent TCP listener
(IP_TRANSPARENT, so tproxy may hand it connections to addresses that are not the
gateway's). For each connection it opens its own to the original destination with the
client's address as source (transparent again: the server sees the client), sends
"hello", reads the echo, and answers the client with one line:
  "inspected CLIENT_IP DESTINATION_IP:PORT upstream ECHO_OR_ERROR"
Its upstream connections stay open until it is killed (the test looks at them from the
server). Prints "listening PID" once ready. Usage: inspector.py PORT

As the probe plugin's child (inspector.py without PORT, run by sekishod with a channel on
descriptor SEKISHO_CHANNEL_FD): it says {"ready": PID} there, listens on the port of the
plugin's answer {"listen": PORT}, and reports each connection as {"inspected": {"client",
"destination", "upstream"}}. It needs CAP_NET_ADMIN (IP_TRANSPARENT) and nothing else."""
import json
import os
import socket
import sys

IP_TRANSPARENT = getattr(socket, "IP_TRANSPARENT", 19)


def upstream(client, destination):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_IP, IP_TRANSPARENT, 1)
    s.settimeout(3.0)
    try:
        s.bind((client[0], 0))
        s.connect(destination)
        s.sendall(b"hello")
        return s, s.recv(64).decode(errors="replace") or "closed"
    except OSError as e:
        s.close()
        return None, "error:" + type(e).__name__


def plugin_channel():
    """The channel to the probe and the port it says, or (None, PORT of the command line)."""
    if len(sys.argv) > 1:
        return None, int(sys.argv[1])
    channel = socket.socket(fileno=int(os.environ["SEKISHO_CHANNEL_FD"]))
    channel.send(json.dumps({"ready": os.getpid()}).encode())
    channel.settimeout(5.0)
    answer = json.loads(channel.recv(65536))
    channel.settimeout(None)
    return channel, int(answer["listen"])


def main():
    channel, port = plugin_channel()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_IP, IP_TRANSPARENT, 1)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("0.0.0.0", port))
    listener.listen(16)
    print("listening", os.getpid(), flush=True)
    held = []
    while True:
        connection, client = listener.accept()
        destination = connection.getsockname()  # the original destination: tproxy keeps it
        server, echo = upstream(client, destination)
        if server:
            held.append(server)
        line = "inspected %s %s:%d upstream %s\n" % (client[0], destination[0], destination[1], echo)
        print(line, end="", flush=True)
        if channel:
            report = {"client": client[0], "destination": "%s:%d" % destination, "upstream": echo}
            channel.send(json.dumps({"inspected": report}).encode())
        connection.sendall(line.encode())
        connection.close()


if __name__ == "__main__":
    main()
