#!/usr/bin/env bash
# The traffic matrix: every row of lab-factory.matrix is sent as real traffic through the
# gateway (all probes at once, short time-outs) and asked of `sekishoctl explain`; both
# must give the verdict the table expects. The gateway listens on nothing it was not told
# to (L-3).
set -u
bindir=$1
src=$2
. "$src/tests/lab/lab_test.sh"
matrix=$src/tests/lab/lab-factory.matrix
policy=$src/configs/lab-factory.yaml
lab_up "$policy"

# Rows: index, from node, destination, proto, port, expected verdict, description.
rows=$tmp/rows
grep -v '^\s*#' "$matrix" | grep -v '^\s*$' | awk '{
  what = $6; for (i = 7; i <= NF; i++) what = what " " $i
  printf "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", NR, $1, $2, $3, $4, $5, substr(what, length($6) + 2)
}' >"$rows"

# Probes, one file per source node, run in parallel.
while IFS=$'\t' read -r i from to proto port expect what; do
  echo "$i $proto ${to#gateway@} $port" >>"$tmp/probes.$from"
done <"$rows"
for file in "$tmp"/probes.*; do
  node=${file##*.}
  "$lab" exec "$node" python3 "$src/tests/lab/probe.py" <"$file" >"$file.out" 2>&1 &
done
wait
cat "$tmp"/probes.*.out | sort -n >"$tmp/traffic"

n=0
accepts=0
drops=0
traffic_agree=0
explain_agree=0
while IFS=$'\t' read -r i from to proto port expect what; do
  n=$((n + 1))
  [ "$expect" = accept ] && accepts=$((accepts + 1)) || drops=$((drops + 1))
  seen=$(awk -v i="$i" '$1 == i {print $2}' "$tmp/traffic")
  if { [ "$expect" = accept ] && [ "$seen" = reached ]; } ||
    { [ "$expect" = drop ] && [ "$seen" = blocked ]; }; then
    traffic_agree=$((traffic_agree + 1))
  else
    lab_fail "row $i ($from -> $to $proto $port, $what): expected $expect, traffic $seen"
  fi
  family=4
  case $to in *:*) family=6 ;; esac
  source=$("$lab" address "$from" $family)
  target=$to
  case $to in gateway@*) target=gateway ;; esac
  if [ "$proto" = icmp ] || [ "$proto" = icmpv6 ]; then
    detail=(--type "$port")
  else
    detail=(--port "$port")
  fi
  verdict=$("$ctl" explain "$policy" --from "$source" --to "$target" --proto "$proto" \
    "${detail[@]}" --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["verdict"])')
  if [ "$verdict" = "$expect" ]; then
    explain_agree=$((explain_agree + 1))
  else
    lab_fail "row $i ($from -> $to $proto $port, $what): expected $expect, explain says $verdict"
  fi
done <"$rows"

echo "traffic matrix: N=$n ($accepts accepts, $drops drops); real traffic agrees on" \
  "$traffic_agree/$n, explain agrees on $explain_agree/$n"
if [ "$accepts" -ge 40 ] && [ "$drops" -ge 40 ] && [ "$traffic_agree" = "$n" ] &&
  [ "$explain_agree" = "$n" ]; then
  lab_pass "traffic and explain agree with the table on all $n rows"
else
  lab_fail "the table needs at least 40 accepts and 40 drops, all agreeing"
fi

# The gateway listens on nothing the policy did not declare: sekishod opens no socket.
listeners=$(in_gw ss -Hlntu | wc -l)
if [ "$listeners" = 0 ]; then
  lab_pass "the gateway has no listening TCP or UDP socket (ss -lntu is empty)"
else
  lab_fail "the gateway listens on:"
  in_gw ss -lntup
fi
if in_gw "$ctl" verify --policy "$policy" >"$tmp/verify" 2>&1; then
  lab_pass "$(cat "$tmp/verify")"
else
  lab_fail "verify after the traffic:"
  cat "$tmp/verify"
fi
lab_finish
