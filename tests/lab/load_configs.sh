#!/usr/bin/env bash
# Every example policy under configs/ and every golden ruleset compiled with sekishoctl,
# loaded with `nft -f` into the kernel of a private network namespace (never the
# machine's own), and read back with `nft -j list ruleset`.
set -u
ctl=$1
src=$2
. "$src/tests/lab/common.sh"
lab_require
outer_netns=$(readlink /proc/self/ns/net)
for policy in $(lab_policies "$src"); do
  name=$(basename "$policy" .yaml)
  if ! "$ctl" compile "$policy" >"$tmp/$name.nft" 2>"$tmp/$name.err"; then
    lab_fail "sekishoctl compile $policy"
    cat "$tmp/$name.err"
    continue
  fi
  # The reader prints its own ok/FAIL line.
  if unshare --net python3 "$src/tests/lab/nft_readback.py" "$tmp/$name.nft" "$outer_netns"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
  fi
done
lab_finish
