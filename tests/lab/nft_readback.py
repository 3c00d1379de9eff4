#!/usr/bin/env python3
"""Load a compiled ruleset into the kernel of a private network namespace and read it back.

Usage: nft_readback.py FILE.nft OUTER_NETNS, run inside a fresh namespace
(load_configs.sh uses `unshare --net`); refuses to run in the namespace it was started
from or in PID 1's. Loads FILE.nft with `nft -f` twice (the second load must
replace the first), reads `nft -j list ruleset` and compares it with what the text
declares: the same sets and maps with the same number of elements, the same chains with
the same number of rules, and no table flags (no `owner`: docs/architecture.md, Kernel layout).
"""
import json
import os
import re
import subprocess
import sys


def expected_from_text(text):
    sets, chains = {}, {}
    current_set = current_chain = None
    in_elements = False
    for line in text.splitlines():
        line = re.sub(r"\s+#.*$", "", line) if not line.lstrip().startswith("#") else ""
        if not line.strip():
            continue
        m = re.match(r"^\t(set|map) (\S+) \{$", line)
        if m:
            current_set, current_chain = m.group(2), None
            sets[current_set] = 0
            continue
        m = re.match(r"^\tchain (\S+) \{$", line)
        if m:
            current_chain, current_set = m.group(1), None
            chains[current_chain] = 0
            continue
        if line == "\t}":
            current_set = current_chain = None
            in_elements = False
            continue
        if current_set is not None:
            if line.startswith("\t\telements = {"):
                in_elements = True
            if in_elements:
                sets[current_set] += 1
                if line.endswith(" }"):
                    in_elements = False
        elif current_chain is not None and not line.startswith("\t\ttype "):
            chains[current_chain] += 1
    return sets, chains


def main():
    # argv[2]: the namespace of the shell that started us (before `unshare --net`);
    # /proc/1 too where it is readable. Ours must differ from both.
    own = os.readlink("/proc/self/ns/net")
    outer = [sys.argv[2]]
    try:
        outer.append(os.readlink("/proc/1/ns/net"))
    except OSError:
        pass
    if own in outer:
        print("refusing to load a ruleset into the machine's own network namespace")
        return 2
    path = sys.argv[1]
    with open(path, encoding="utf-8") as f:
        text = f.read()
    for attempt in (1, 2):
        result = subprocess.run(["nft", "-f", path], capture_output=True, text=True)
        if result.returncode != 0:
            print(f"nft -f {path} (load {attempt}) failed:\n{result.stderr}")
            return 1
    listing = json.loads(subprocess.run(["nft", "-j", "list", "ruleset"], check=True,
                                        capture_output=True, text=True).stdout)
    sets, chains, rules, tables = {}, {}, {}, []
    for item in listing["nftables"]:
        for kind in ("set", "map"):
            if kind in item:
                sets[item[kind]["name"]] = len(item[kind].get("elem", []))
        if "chain" in item:
            chains[item["chain"]["name"]] = 0
        if "rule" in item:
            rules[item["rule"]["chain"]] = rules.get(item["rule"]["chain"], 0) + 1
        if "table" in item:
            tables.append(item["table"])
    for chain in chains:
        chains[chain] = rules.get(chain, 0)
    want_sets, want_chains = expected_from_text(text)
    problems = []
    if [(t["family"], t["name"]) for t in tables] != [("inet", "sekisho")]:
        problems.append(f"tables: {tables}")
    if any(t.get("flags") for t in tables):
        problems.append(f"table flags must be empty: {tables}")
    if sets != want_sets:
        problems.append(f"sets differ:\n  kernel {sets}\n  text   {want_sets}")
    if chains != want_chains:
        problems.append(f"chains differ:\n  kernel {chains}\n  text   {want_chains}")
    for problem in problems:
        print(f"{path}: {problem}")
    elements = sum(sets.values())
    print(f"{'FAIL' if problems else 'ok'}: {os.path.basename(path)}: {len(sets)} sets, "
          f"{elements} elements, {len(chains)} chains, {sum(chains.values())} rules")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
