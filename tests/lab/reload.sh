#!/usr/bin/env bash
# SIGHUP: a new policy changes the verdicts as it says, an established connection that
# both policies allow survives, and an invalid file changes nothing.
set -u
bindir=$1
src=$2
. "$src/tests/lab/lab_test.sh"
lab_up

expect historian tcp 192.0.2.31 9005 reached "before the reload"
expect historian tcp 192.0.2.31 22 blocked "before the reload"

# A connection both policies allow, held open across the reload.
"$lab" exec historian python3 "$src/tests/lab/hold.py" 192.0.2.21 4840 "$tmp/go" >"$tmp/hold" 2>&1 &
hold=$!
wait_ms 5000 grep -q connected "$tmp/hold" >/dev/null || lab_fail "the held connection did not open"

# The new policy: the historian gets ssh on the HMI instead of the trend ports.
sed 's/    services: \[trends\]/    services: [ssh]/' "$src/configs/lab-factory.yaml" >"$tmp/new.yaml"
grep -q 'services: \[ssh\]' "$tmp/new.yaml" || lab_fail "could not derive the new policy"
"$lab" policy "$tmp/new.yaml"
if took=$(wait_ms 10000 verify_quiet); then
  lab_pass "reload in force after $took ms (sekishoctl verify matches the new file)"
else
  lab_fail "the new policy was not in force within 10 s"
  "$lab" daemon log | tail -5
fi
expect historian tcp 192.0.2.31 9005 blocked "after the reload"
expect historian tcp 192.0.2.31 22 reached "after the reload"
expect historian tcp 192.0.2.21 4840 reached "after the reload, unchanged rule"
touch "$tmp/go"
wait "$hold"
if grep -q alive "$tmp/hold"; then
  lab_pass "an established connection allowed by both policies survives the reload"
else
  lab_fail "the held connection: $(cat "$tmp/hold")"
fi

# An invalid file: reported with its line, nothing changes.
restores_before=$("$lab" daemon log | grep -c "restore #")
printf 'version: 1\nzones:\n  ot: {interfaces: [lan0]\n' >"$tmp/broken.yaml"
cp "$tmp/new.yaml" "$tmp/good.yaml"
"$lab" policy "$tmp/broken.yaml"
if wait_ms 5000 sh -c "'$lab' daemon log | grep -q 'invalid policy; the running ruleset stays'" >/dev/null; then
  lab_pass "an invalid reload is refused: $("$lab" daemon log | grep -m1 'policy.yaml:[0-9]*:[0-9]*: error')"
else
  lab_fail "no refusal in the log"
  "$lab" daemon log | tail -5
fi
if in_gw "$ctl" verify --policy "$tmp/good.yaml" >/dev/null 2>&1; then
  lab_pass "after the invalid reload the kernel still holds the previous policy"
else
  lab_fail "the invalid reload changed the kernel"
fi
expect historian tcp 192.0.2.31 22 reached "after the invalid reload"
expect historian tcp 192.0.2.31 9005 blocked "after the invalid reload"
if kill -0 "$("$lab" daemon pid)" 2>/dev/null; then
  lab_pass "the daemon is still running"
else
  lab_fail "the daemon exited on an invalid reload"
fi
[ "$("$lab" daemon log | grep -c "restore #")" = "$restores_before" ] ||
  lab_fail "the reloads triggered drift restores"
lab_finish
