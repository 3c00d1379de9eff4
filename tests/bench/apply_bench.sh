#!/usr/bin/env bash
# Benchmark: applying the large generated policy (10k OT hosts, 50k allowed pairs) with
# sekishod (a SIGHUP reload) vs loading the same ruleset (sekishoctl compile's output)
# with nft -f, both replacing an existing table, interleaved, in private network
# namespaces. Prints each
# time, the medians and their ratio (goal: sekishod at most 0.5 of nft -f), and the
# daemon's resident memory with the policy loaded (goal: under 50 MB).
#   apply_bench.sh BINDIR [--rounds N] [--ot-hosts N --pairs N]
set -euo pipefail
bindir=$1
shift
rounds=5
shape=()
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --seconds) shift 2 ;; # (the forwarding benchmark's; accepted so both take one option set)
    *) shape+=("$1" "$2"); shift 2 ;;
  esac
done
if ! unshare --net true 2>/dev/null || ! command -v nft >/dev/null; then
  echo "SKIP: needs root (a private network namespace) and nft"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$bindir/sekisho_policy_gen" "${shape[@]}" >"$tmp/policy.yaml"
"$bindir/sekishoctl" compile "$tmp/policy.yaml" >"$tmp/ruleset.nft" 2>/dev/null

cat >"$tmp/run.sh" <<INNER
set -eu
"$bindir/sekishod" --policy "$tmp/policy.yaml" --state-dir "$tmp/state" 2>"$tmp/daemon.log" &
daemon=\$!
for i in \$(seq 1 300); do grep -q enforcing "$tmp/daemon.log" && break; sleep 0.1; done
grep -q enforcing "$tmp/daemon.log" || { cat "$tmp/daemon.log"; exit 1; }
rss=\$(awk '/VmRSS/ {print \$2}' /proc/\$daemon/status)
peak=\$(awk '/VmHWM/ {print \$2}' /proc/\$daemon/status)
for round in \$(seq 1 $rounds); do
  # nft -f in a namespace of its own, where no one listens to nftables events (the
  # daemon does here, and the kernel would build them for nft's commit too).
  unshare --net sh -c 'nft -f "$tmp/ruleset.nft" && start=\$(date +%s%N) &&
    nft -f "$tmp/ruleset.nft" && echo "nft \$(( (\$(date +%s%N) - start) / 1000000 ))"'
  lines=\$(grep -c "reloaded:" "$tmp/daemon.log" || true)
  kill -HUP \$daemon
  while [ "\$(grep -c "reloaded:" "$tmp/daemon.log" || true)" = "\$lines" ]; do sleep 0.05; done
  grep "reloaded:" "$tmp/daemon.log" | tail -1 | sed 's/.*committed in \([0-9.]*\) ms.*/sekishod \1/'
done
echo "rss \$rss \$peak"
grep "reloaded:" "$tmp/daemon.log" | tail -1 >&2
kill \$daemon
INNER
unshare --net bash "$tmp/run.sh" >"$tmp/figures" 2>"$tmp/detail"

python3 - "$tmp/figures" "$tmp/policy.yaml" <<'PY'
import statistics, sys
nft, ours, rss = [], [], None
for line in open(sys.argv[1]):
    kind, *values = line.split()
    if kind == "nft": nft.append(float(values[0]))
    elif kind == "sekishod": ours.append(float(values[0]))
    elif kind == "rss": rss = [int(v) / 1024 for v in values]
print(f"apply benchmark: {len(nft)} interleaved rounds, times in ms")
print("  nft -f   :", " ".join(f"{v:.0f}" for v in nft), f"(median {statistics.median(nft):.0f})")
print("  sekishod :", " ".join(f"{v:.0f}" for v in ours), f"(median {statistics.median(ours):.0f};"
      " batch, kernel dry run and commit)")
ratio = statistics.median(ours) / statistics.median(nft)
print(f"  ratio sekishod / nft -f = {ratio:.2f} (goal: at most 0.50)")
print(f"  sekishod resident memory with the policy loaded: {rss[0]:.1f} MiB"
      f" (peak {rss[1]:.1f} MiB; goal: under 50 MB)")
PY
sed 's/^/  last reload: /' "$tmp/detail" | grep "last reload: sekishod"
