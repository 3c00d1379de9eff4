#!/usr/bin/env bash
# Every example policy under configs/ and every golden ruleset compiled with sekishoctl,
# loaded with `nft -f` into the kernel of a private network namespace (never the
# machine's own), and read back with `nft -j list ruleset`.
set -u
ctl=$1
src=$2
if ! command -v nft >/dev/null || ! command -v unshare >/dev/null; then
  echo "SKIP: nft or unshare is not installed (apt-get install nftables util-linux)"
  exit 77
fi
if ! unshare --net true 2>/dev/null; then
  echo "SKIP: cannot create a network namespace here (needs root / CAP_SYS_ADMIN + CAP_NET_ADMIN)"
  exit 77
fi
outer_netns=$(readlink /proc/self/ns/net)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0
for policy in "$src"/configs/*.yaml "$src"/tests/golden/compile/*.yaml; do
  name=$(basename "$policy" .yaml)
  if ! "$ctl" compile "$policy" >"$tmp/$name.nft" 2>"$tmp/$name.err"; then
    echo "FAIL: sekishoctl compile $policy"
    cat "$tmp/$name.err"
    failed=$((failed + 1))
    continue
  fi
  if unshare --net python3 "$src/tests/lab/nft_readback.py" "$tmp/$name.nft" "$outer_netns"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
