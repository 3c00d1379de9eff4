#!/usr/bin/env bash
# sekisho's own netlink backend against nft: every example policy and golden ruleset is
# applied both ways, each in a private network namespace (never the machine's own), and
# `nft list ruleset` must read the same. A dry run must succeed and leave nothing behind.
set -u
apply=$1   # the sekisho_nft_apply test tool
ctl=$2
src=$3
if ! command -v nft >/dev/null || ! unshare --net true 2>/dev/null; then
  echo "SKIP: needs nft and the right to create network namespaces (root)"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0
for policy in "$src"/configs/*.yaml "$src"/tests/golden/compile/*.yaml; do
  name=$(basename "$policy" .yaml)
  "$ctl" compile "$policy" >"$tmp/$name.nft" 2>/dev/null
  unshare --net sh -c "nft -f '$tmp/$name.nft' && nft list ruleset" >"$tmp/$name.by-nft" 2>&1
  unshare --net sh -c "'$apply' '$policy' >/dev/null && nft list ruleset" >"$tmp/$name.by-sekisho" 2>&1
  unshare --net sh -c "'$apply' '$policy' --dry-run >/dev/null && nft list tables" \
    >"$tmp/$name.dry-run" 2>&1
  dry_rc=$?
  if ! diff -u "$tmp/$name.by-nft" "$tmp/$name.by-sekisho" >"$tmp/$name.diff"; then
    echo "FAIL: $name: the kernel holds something else after sekisho's apply than after nft -f"
    head -40 "$tmp/$name.diff"
    failed=$((failed + 1))
  elif [ "$dry_rc" -ne 0 ] || [ -s "$tmp/$name.dry-run" ]; then
    echo "FAIL: $name: the dry run failed or left something behind:"
    cat "$tmp/$name.dry-run"
    failed=$((failed + 1))
  else
    echo "ok: $name ($(grep -c . "$tmp/$name.by-sekisho") lines of ruleset, identical)"
    passed=$((passed + 1))
  fi
done
# A batch the kernel refuses: nothing changes, and the error names the policy line.
policy=$src/configs/factory-line.yaml
for mode in "" --dry-run; do
  out=$(unshare --net sh -c "'$apply' '$policy' --break-a-jump $mode; echo rc=\$?; nft list tables" 2>&1)
  if echo "$out" | grep -q "rc=1" && echo "$out" | grep -qE "factory-line.yaml:[0-9]+:[0-9]+: the kernel refused elements of set" &&
    ! echo "$out" | grep -q "^table"; then
    echo "ok: a refused batch${mode:+ ($mode)} changes nothing and names the policy line"
    passed=$((passed + 1))
  else
    echo "FAIL: a refused batch${mode:+ ($mode)}:"
    echo "$out"
    failed=$((failed + 1))
  fi
done

# Without CAP_NET_ADMIN the kernel refuses the batch as a whole (on its BEGIN message):
# reported at once as a failure, not as success nor as a time-out.
if command -v setpriv >/dev/null; then
  nobody=$(mktemp -d)
  chmod 755 "$nobody"
  cp "$apply" "$policy" "$nobody/"
  out=$(timeout 20 unshare --net setpriv --reuid=65534 --regid=65534 --clear-groups \
    --inh-caps=-all "$nobody/$(basename "$apply")" "$nobody/$(basename "$policy")" 2>&1)
  rc=$?
  rm -rf "$nobody"
  if [ "$rc" -eq 1 ] && echo "$out" | grep -q "refused the whole ruleset: Operation not permitted"; then
    echo "ok: without CAP_NET_ADMIN the batch is refused as a whole"
    passed=$((passed + 1))
  else
    echo "FAIL: without CAP_NET_ADMIN (exit $rc):"
    echo "$out"
    failed=$((failed + 1))
  fi
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
