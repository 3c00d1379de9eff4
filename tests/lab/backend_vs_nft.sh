#!/usr/bin/env bash
# sekisho's own netlink backend against nft: every example policy and golden ruleset is
# applied both ways, each in a private network namespace (never the machine's own), and
# `nft list ruleset` must read the same, and so must every rule's bytecode (the listing
# hides the checks nft adds, such as an ICMP type's family). A dry run must succeed and
# leave nothing behind; a refused batch must change nothing and say why.
set -u
apply=$1 # the sekisho_nft_apply test tool
ctl=$2
src=$3
. "$src/tests/lab/common.sh"
lab_require

# The rules' bytecode from `nft --debug=netlink list ruleset`, without what differs by
# construction: handles, anonymous set numbers, and the byteorder expression nft puts after
# a one-byte `meta l4proto` in an interval set's key (hton of 2-byte units over 1 byte: the
# kernel swaps nothing).
rule_bytecode() {
  awk '/^inet [a-z]+ [a-z_0-9-]+ [0-9]/ { print $1, $2, $3; in_rule = 1; next }
       /^inet / { in_rule = 0 }
       /^  \[/ && in_rule' "$1" |
    sed -E 's/__(map|set)[0-9]+/__anonymous/g' |
    grep -vE '^  \[ byteorder reg ([0-9]+) = hton\(reg \1, 2, 1\) \]$'
}

for policy in $(lab_policies "$src"); do
  name=$(basename "$policy" .yaml)
  "$ctl" compile "$policy" >"$tmp/$name.nft" 2>/dev/null
  unshare --net sh -c "nft -f '$tmp/$name.nft' && nft list ruleset && \
    nft --debug=netlink list ruleset >'$tmp/$name.code-by-nft'" >"$tmp/$name.by-nft" 2>&1
  unshare --net sh -c "'$apply' '$policy' --as-compiled >/dev/null && nft list ruleset && \
    nft --debug=netlink list ruleset >'$tmp/$name.code-by-sekisho'" >"$tmp/$name.by-sekisho" 2>&1
  unshare --net sh -c "'$apply' '$policy' --dry-run >/dev/null && nft list tables" \
    >"$tmp/$name.dry-run" 2>&1
  dry_rc=$?
  if ! diff -u "$tmp/$name.by-nft" "$tmp/$name.by-sekisho" >"$tmp/$name.diff"; then
    lab_fail "$name: the kernel holds something else after sekisho's apply than after nft -f"
    head -40 "$tmp/$name.diff"
  elif ! grep -q '^  \[ cmp eq' "$tmp/$name.code-by-nft"; then
    lab_fail "$name: nft --debug=netlink printed no bytecode"
  elif ! diff -u <(rule_bytecode "$tmp/$name.code-by-nft") \
    <(rule_bytecode "$tmp/$name.code-by-sekisho") >"$tmp/$name.code-diff"; then
    lab_fail "$name: the rules' bytecode differs after sekisho's apply from after nft -f"
    head -40 "$tmp/$name.code-diff"
  elif [ "$dry_rc" -ne 0 ] || [ -s "$tmp/$name.dry-run" ]; then
    lab_fail "$name: the dry run failed or left something behind:"
    cat "$tmp/$name.dry-run"
  else
    lab_pass "$name ($(grep -c . "$tmp/$name.by-sekisho") lines of ruleset, identical)"
  fi
done

# expect_refusal WHAT PATTERN OUTPUT: the output must say PATTERN, and no table may exist.
expect_refusal() {
  if echo "$3" | grep -q "rc=1" && echo "$3" | grep -qE "$2" && ! echo "$3" | grep -q "^table"; then
    lab_pass "$1"
  else
    lab_fail "$1:"
    echo "$3"
  fi
}

# A batch the kernel refuses: nothing changes, and the error names the policy line.
policy=$src/configs/factory-line.yaml
for mode in "" --dry-run; do
  out=$(unshare --net sh -c "'$apply' '$policy' --break-a-jump $mode; echo rc=\$?; nft list tables" 2>&1)
  expect_refusal "a refused batch${mode:+ ($mode)} changes nothing and names the policy line" \
    "factory-line.yaml:[0-9]+:[0-9]+: the kernel refused elements of set" "$out"
done

# Without CAP_NET_ADMIN the kernel refuses the batch as a whole (on its BEGIN message):
# reported at once as a failure, not as success nor as a time-out.
if command -v setpriv >/dev/null; then
  chmod 755 "$tmp"
  cp "$apply" "$policy" "$tmp/"
  out=$(timeout 20 unshare --net sh -c "setpriv --reuid=65534 --regid=65534 --clear-groups \
    --inh-caps=-all '$tmp/$(basename "$apply")' '$tmp/$(basename "$policy")'; echo rc=\$?; \
    nft list tables" 2>&1)
  expect_refusal "without CAP_NET_ADMIN the batch is refused as a whole" \
    "refused the whole ruleset: Operation not permitted" "$out"
fi

lab_finish
