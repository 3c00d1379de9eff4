#!/usr/bin/env python3
"""Lines for `mosquitto_pub -l`, and the check of what a subscriber received.

  mqtt_stream.py lines TOPIC COUNT RATE [SIZE]   COUNT payloads "TOPIC SEQ xxx..." of SIZE
                                                 bytes, RATE per second (0: as fast as
                                                 the pipe takes them)
  mqtt_stream.py check FILE TOPIC:COUNT...       FILE holds "TOPIC PAYLOAD" lines
                                                 (mosquitto_sub -F '%t %p'); prints one
                                                 JSON object: per topic missing, duplicates
                                                 and order; exit 0 when nothing is missing
                                                 and every topic's first arrivals are in order
"""
import json
import sys
import time


def lines(topic, count, rate, size):
    start = time.monotonic()
    for seq in range(count):
        head = f"{topic} {seq:07d} "
        print(head + "x" * max(0, size - len(head)), flush=rate > 0)
        if rate > 0:
            due = start + (seq + 1) / rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    sys.stdout.flush()


def check(path, expected):
    seen = {topic: [] for topic in expected}
    foreign = 0
    with open(path, errors="replace") as f:
        for line in f:
            parts = line.split(" ", 3)
            # "TOPIC TOPIC SEQ xxx": the subscriber's topic, then the payload's own.
            if len(parts) < 3 or parts[0] not in seen or parts[1] != parts[0]:
                foreign += 1
                continue
            seen[parts[0]].append(int(parts[2]))
    report = {"foreign": foreign, "topics": {}}
    ok = True
    for topic, count in expected.items():
        got = seen[topic]
        first = []
        known = set()
        for seq in got:
            if seq not in known:
                known.add(seq)
                first.append(seq)
        missing = count - len([s for s in known if 0 <= s < count])
        in_order = all(a < b for a, b in zip(first, first[1:]))
        report["topics"][topic] = {
            "received": len(got),
            "missing": missing,
            "duplicates": len(got) - len(known),
            "in_order": in_order,
        }
        ok = ok and missing == 0 and in_order
    report["missing"] = sum(t["missing"] for t in report["topics"].values())
    report["duplicates"] = sum(t["duplicates"] for t in report["topics"].values())
    report["in_order"] = all(t["in_order"] for t in report["topics"].values())
    print(json.dumps(report))
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) >= 5 and sys.argv[1] == "lines":
        lines(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]),
              int(sys.argv[5]) if len(sys.argv) > 5 else 200)
    elif len(sys.argv) >= 4 and sys.argv[1] == "check":
        wanted = {}
        for arg in sys.argv[3:]:
            topic, count = arg.rsplit(":", 1)
            wanted[topic] = int(count)
        sys.exit(check(sys.argv[2], wanted))
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
