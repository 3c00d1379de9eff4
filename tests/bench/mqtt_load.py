#!/usr/bin/env python3
"""Load and counting for tests/bench/cloud_bench.sh (Python 3 standard library only).

The messages go out through mosquitto_pub -l (one line, one message) and come back through
mosquitto_sub -F '%U %t %p' (arrival time, topic, payload). Every payload names its phase,
its topic and its sequence number, so the counting needs nothing but the subscriber's file.

  mqtt_load.py lines DIR PHASE COUNT PUBLISHERS
      writes DIR/PHASE-K.txt for K = 1..PUBLISHERS: COUNT messages split across them,
      publisher K on topic factory/lineK/telemetry, payloads of exactly 200 bytes
  mqtt_load.py wait FILE PHASE COUNT --stall S --limit S
      follows FILE until COUNT distinct messages of PHASE have arrived (exit 0), or nothing
      new came for S seconds, or the limit passed (exit 1); prints how many arrived
  mqtt_load.py measure FILE PHASE COUNT PUBLISHERS --side NAME --kind sustained|drain
                 --start T [--cpu SECONDS] [--out RESULTS]
      what arrived: loss, duplicates, order per topic, the time the last missing message
      arrived; prints the figure and appends it as one JSON line to RESULTS; exit 1 on loss
  mqtt_load.py summary RESULTS
      medians over the rounds, the ratios sekisho/mosquitto and the issue's goal; exit 1 if
      any side lost messages in any round
"""

import argparse
import json
import statistics
import sys
import time

PAYLOAD_BYTES = 200


def topic_of(publisher):
    return f"factory/line{publisher}/telemetry"


def payload(phase, topic, seq):
    head = f"{phase} {topic} {seq:09d} "
    return head + "." * (PAYLOAD_BYTES - len(head))


def cmd_lines(args):
    for k in range(1, args.publishers + 1):
        # Publisher K sends messages K-1, K-1+P, ...: the counts differ by at most one.
        count = len(range(k - 1, args.count, args.publishers))
        topic = topic_of(k)
        with open(f"{args.dir}/{args.phase}-{k}.txt", "w") as out:
            for seq in range(count):
                out.write(payload(args.phase, topic, seq) + "\n")


def parse(line, phase):
    """(arrival, topic, seq) of one subscriber line of PHASE, or None."""
    parts = line.split(" ", 5)
    if len(parts) < 5 or parts[2] != phase:
        return None
    arrival, topic, _, inner_topic, seq = parts[:5]
    if inner_topic != topic:
        raise ValueError(f"message of {inner_topic} arrived on {topic}")
    return float(arrival), topic, int(seq)


def cmd_wait(args):
    seen = set()
    offset = 0
    last_new = started = time.monotonic()
    pending = ""
    while True:
        with open(args.file) as f:
            f.seek(offset)
            chunk = f.read()
            offset = f.tell()
        chunk = pending + chunk
        lines = chunk.split("\n")
        pending = lines.pop()  # a line the subscriber is still writing
        before = len(seen)
        for line in lines:
            got = parse(line, args.phase)
            if got:
                seen.add(got[1:])
        now = time.monotonic()
        if len(seen) > before:
            last_new = now
        if len(seen) >= args.count:
            print(len(seen))
            return 0
        if now - last_new > args.stall or now - started > args.limit:
            print(len(seen))
            return 1
        time.sleep(0.05)


def cmd_measure(args):
    first_arrival = {}  # (topic, seq) -> time it first arrived
    arrivals = 0
    inversions = 0
    highest = {}
    with open(args.file) as f:
        for line in f:
            got = parse(line.rstrip("\n"), args.phase)
            if not got:
                continue
            arrival, topic, seq = got
            arrivals += 1
            key = (topic, seq)
            if key in first_arrival:
                continue
            first_arrival[key] = arrival
            # Order per topic among first deliveries: a redelivered duplicate is no inversion.
            if seq < highest.get(topic, -1):
                inversions += 1
            highest[topic] = max(highest.get(topic, -1), seq)
    expected = set()
    for k in range(1, args.publishers + 1):
        count = len(range(k - 1, args.count, args.publishers))
        expected.update((topic_of(k), seq) for seq in range(count))
    lost = len(expected - first_arrival.keys())
    unexpected = len(first_arrival.keys() - expected)
    result = {
        "side": args.side,
        "kind": args.kind,
        "messages": args.count,
        "arrivals": arrivals,
        "lost": lost,
        "unexpected": unexpected,
        "duplicates": arrivals - len(first_arrival),
        "inversions": inversions,
        "start": args.start,
    }
    if args.cpu is not None:
        result["cpu_us_per_message"] = args.cpu / args.count * 1e6
    # A rate over what arrived would hide the loss: only complete phases have one.
    if first_arrival and not lost:
        first = min(first_arrival.values())
        done = max(first_arrival.values())
        result["first_after_start"] = first - args.start
        result["seconds"] = done - args.start
        result["rate"] = args.count / (done - args.start) if done > args.start else 0.0
        if args.kind == "drain":
            # From the first message through the reopened WAN to the last one: the drain
            # itself, without the time the bridge took to come back.
            result["drain_seconds"] = done - first
            result["drain_rate"] = args.count / (done - first) if done > first else 0.0
            result["before_start"] = sum(1 for t in first_arrival.values() if t < args.start)
    line = f"{args.side:9s} {args.kind:9s} {args.count} messages: "
    if "rate" in result:
        if args.kind == "sustained":
            line += f"{result['rate']:8.0f} msg/s ({result['seconds']:.2f} s)"
        else:
            line += (f"{result['drain_rate']:8.0f} msg/s drain ({result['drain_seconds']:.2f} s from "
                     f"the first message), {result['rate']:.0f} msg/s from the WAN opening "
                     f"(first message after {result['first_after_start']:.2f} s)")
    elif lost:
        line += "no rate: messages were lost"
    else:
        line += "nothing arrived"
    line += (f"; lost {lost}, duplicates {result['duplicates']}, order inversions {inversions}")
    if unexpected:
        line += f", {unexpected} unexpected"
    if result.get("before_start"):
        line += f", {result['before_start']} arrived while the WAN was closed"
    if args.cpu is not None:
        line += f"; CPU {args.cpu:.2f} s ({result['cpu_us_per_message']:.0f} us/message)"
    print(line)
    if args.out:
        with open(args.out, "a") as out:
            out.write(json.dumps(result) + "\n")
    return 1 if lost or unexpected else 0


def cmd_summary(args):
    runs = {}  # (side, kind) -> the results of each round
    with open(args.results) as f:
        for line in f:
            r = json.loads(line)
            runs.setdefault((r["side"], r["kind"]), []).append(r)
    status = 0
    for (side, kind), rounds in runs.items():
        for r in rounds:
            if r["lost"] or r["unexpected"]:
                print(f"LOSS: {side} {kind}: {r['lost']} of {r['messages']} lost")
                status = 1
    print(f"cloud bridge benchmark: QoS 1, 200-byte payloads, 4 publishers, one cloud "
          f"subscriber; medians of {max((len(v) for v in runs.values()), default=0)} rounds")
    figures = (("sustained", "rate", "sustained forwarding, link up, msg/s", True),
               ("drain", "drain_rate", "drain of the backlog from its first message, msg/s", True),
               ("drain", "rate", "drain of the backlog from the WAN opening, msg/s", False),
               ("sustained", "cpu_us_per_message", "gateway CPU per message, sustained, us", False),
               ("drain", "cpu_us_per_message", "gateway CPU per message, drain, us", False))
    goal_met = True
    for kind, key, what, in_goal in figures:
        print(f"  {what}:")
        median = {}
        for side in ("sekisho", "mosquitto"):
            values = [r[key] for r in runs.get((side, kind), []) if key in r]
            if values:
                median[side] = statistics.median(values)
                print(f"    {side:9s} median {median[side]:8.0f}  min {min(values):8.0f}  "
                      f"max {max(values):8.0f}")
        if len(median) == 2 and median["mosquitto"] > 0:
            ratio = median["sekisho"] / median["mosquitto"]
            print(f"    sekisho / mosquitto = {ratio:.2f}" + (" (goal: at least 1)" if in_goal else ""))
            if in_goal:
                goal_met = goal_met and ratio >= 1.0
        else:
            print("    no ratio: one side was not measured")
            goal_met = goal_met and not in_goal
    messages = {kind: next((rs[0]["messages"] for (_, k), rs in runs.items() if k == kind), 0)
                for kind in ("sustained", "drain")}
    lossless = status == 0 and all(("sekisho", kind) in runs for kind in ("sustained", "drain"))
    print(f"  issue 10's goal (sustained {messages['sustained']} and drain of {messages['drain']}: "
          f"at least the mosquitto bridge's rates, zero loss): "
          f"{'met' if goal_met and lossless else 'NOT met'}")
    return status


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("lines")
    p.add_argument("dir")
    p.add_argument("phase")
    p.add_argument("count", type=int)
    p.add_argument("publishers", type=int)
    p.set_defaults(run=cmd_lines)
    p = sub.add_parser("wait")
    p.add_argument("file")
    p.add_argument("phase")
    p.add_argument("count", type=int)
    p.add_argument("--stall", type=float, default=60)
    p.add_argument("--limit", type=float, default=600)
    p.set_defaults(run=cmd_wait)
    p = sub.add_parser("measure")
    p.add_argument("file")
    p.add_argument("phase")
    p.add_argument("count", type=int)
    p.add_argument("publishers", type=int)
    p.add_argument("--side", required=True)
    p.add_argument("--kind", required=True, choices=("sustained", "drain"))
    p.add_argument("--start", type=float, required=True)
    p.add_argument("--cpu", type=float, help="CPU seconds the gateway spent meanwhile")
    p.add_argument("--out")
    p.set_defaults(run=cmd_measure)
    p = sub.add_parser("summary")
    p.add_argument("results")
    p.set_defaults(run=cmd_summary)
    args = parser.parse_args()
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
