#!/usr/bin/env bash
# `sekishoctl verify` reads table inet sekisho back and compares it with the policy: it
# must find no difference right after an apply (every example policy), and it must find
# each kind of change someone else can make (each in a private network namespace).
set -u
apply=$1 # the sekisho_nft_apply test tool
ctl=$2
src=$3
. "$src/tests/lab/common.sh"
lab_require

for policy in $(lab_policies "$src"); do
  name=$(basename "$policy" .yaml)
  out=$(unshare --net sh -c "'$apply' '$policy' >/dev/null && '$ctl' verify --policy '$policy'; \
    echo rc=\$?" 2>/dev/null)
  if echo "$out" | grep -q "^rc=0" && echo "$out" | grep -q "matches"; then
    lab_pass "$name: $(echo "$out" | head -1)"
  else
    lab_fail "$name: verify after apply:"
    echo "$out" | head -20
  fi
done

# change WHAT NFT-COMMANDS PATTERN: after the change verify must exit 1 and say PATTERN.
policy=$src/configs/factory-line.yaml
change() {
  out=$(unshare --net sh -c "'$apply' '$policy' >/dev/null && nft '$2' && \
    '$ctl' verify --policy '$policy'; echo rc=\$?" 2>/dev/null)
  if echo "$out" | grep -q "^rc=1" && echo "$out" | grep -qE "$3"; then
    lab_pass "verify finds: $1"
  else
    lab_fail "verify misses: $1"
    echo "$out" | head -20
  fi
}
change "an added element" \
  "add element inet sekisho it_to_ot_v4_icmp_ranges { 198.18.0.1 . 192.0.2.1 . echo-request }" \
  "unexpected: element it_to_ot_v4_icmp_ranges"

change "a deleted element" \
  "delete element inet sekisho gateway_to_wan_v4_ranges { 0.0.0.0/0 . 203.0.113.10 . tcp . 8883 }" \
  "missing: element gateway_to_wan_v4_ranges"
change "an inserted rule" "insert rule inet sekisho forward accept" "unexpected: rule forward 1: immediate reg 0 accept"
change "a flushed chain" "flush chain inet sekisho it_to_ot" "missing: rule it_to_ot"
change "a chain policy" "add chain inet sekisho output { type filter hook output priority 0; policy accept; }" \
  "chain output hook 3 priority 0 type filter policy 1"
change "a deleted table" "delete table inet sekisho" "does not exist"
change "a flushed ruleset" "flush ruleset" "does not exist"
change "a dormant table" "add table inet sekisho { flags dormant; }" "table sekisho flags 1"

# The exact-flow hash sets are sized to their elements: the kernel refuses additions.
out=$(unshare --net sh -c "'$apply' '$policy' >/dev/null; \
  nft add element inet sekisho it_to_ot_v4 '{ 198.18.0.1 . 192.0.2.1 . tcp . 22 }'; \
  echo nft=\$?; '$ctl' verify --policy '$policy'; echo rc=\$?" 2>&1)
if echo "$out" | grep -q "^nft=1" && echo "$out" | grep -q "^rc=0"; then
  lab_pass "a sized hash set refuses an added element; verify still matches"
else
  lab_fail "adding to a sized hash set:"
  echo "$out" | tail -5
fi

lab_finish
