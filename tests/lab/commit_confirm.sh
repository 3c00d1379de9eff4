#!/usr/bin/env bash
# Commit-confirm, with real traffic and readback: a policy applied with --confirm-within
# rolls back at its deadline unless confirmed; confirm keeps it (and writes the --policy
# file); a restart of the daemon keeps the deadline; a deadline that passed while the
# daemon was down, or a reboot, rolls back at start. Invalid input changes nothing.
set -u
bindir=$1
src=$2
. "$src/tests/lab/lab_test.sh"
lab_up
sock=$LAB_RUN_DIR/control.sock
state=$LAB_RUN_DIR/state
c() { "$ctl" --control "$sock" "$@"; }

# A: the lab policy. B: the historian gets ssh on the HMI instead of the trend ports,
# so B both takes access away (tcp/9005) and grants some (tcp/22).
cp "$src/configs/lab-factory.yaml" "$tmp/a.yaml"
sed 's/    services: \[trends\]/    services: [ssh]/' "$tmp/a.yaml" >"$tmp/b.yaml"
grep -q 'services: \[ssh\]' "$tmp/b.yaml" || lab_fail "could not derive policy B"

# in_force a|b: real traffic and a readback both say which policy the kernel holds.
in_force() {
  local trends ssh readback
  trends=$(probe historian tcp 192.0.2.31 9005)
  ssh=$(probe historian tcp 192.0.2.31 22)
  readback=mismatch
  in_gw "$ctl" verify --policy "$tmp/$1.yaml" >/dev/null 2>&1 && readback=match
  case $1 in
    a) [ "$trends/$ssh/$readback" = reached/blocked/match ] ;;
    b) [ "$trends/$ssh/$readback" = blocked/reached/match ] ;;
  esac || {
    echo "  (in force? expected $1: tcp/9005 $trends, tcp/22 $ssh, readback of $1: $readback)"
    return 1
  }
}
check_in_force() {
  if in_force "$1"; then lab_pass "$2: policy ${1^^} in force (traffic and readback)"; else
    lab_fail "$2: policy ${1^^} is not in force"
  fi
}
pending_field() { c status --json | python3 -c "import json,sys
p=json.load(sys.stdin)['pending_confirmation']; print('none' if p is None else p['$1'])"; }
audit_has() { c audit show --kind "$1" --json | grep -q "\"how\": \"$2\""; }
same_file() { cmp -s "$1" "$2"; }

check_in_force a "at start"

# Invalid input changes nothing: 78 with FILE:LINE:COL, nothing applied, audited.
printf 'zones:\n  ot: {interfaces: [lan0]}\n  bogus_key: 1\n' >"$tmp/bad.yaml"
c apply "$tmp/bad.yaml" --confirm-within 30s >/dev/null 2>"$tmp/err"
code=$?
if [ $code = 78 ] && grep -q "^$tmp/bad.yaml:[0-9]*:[0-9]*: error\[" "$tmp/err" && in_force a &&
  [ "$(pending_field source)" = none ] && c audit show --kind policy.refused | grep -q bad.yaml; then
  lab_pass "an invalid policy: exit 78 with FILE:LINE:COL, nothing changed, refusal audited"
else
  lab_fail "invalid policy: exit $code, $(head -3 "$tmp/err")"
fi

# 1. Not confirmed: rolled back at the deadline (long enough for the checks before it).
if c apply "$tmp/b.yaml" --confirm-within 12s >"$tmp/out" && grep -q "NOT CONFIRMED" "$tmp/out"; then
  lab_pass "apply --confirm-within 12s accepted: $(grep -o 'rolls back at [^ ]*' "$tmp/out")"
else
  lab_fail "apply --confirm-within: $(cat "$tmp/out")"
fi
applied_ms=$(now_ms)
check_in_force b "before the deadline"
if same_file "$LAB_RUN_DIR/policy.yaml" "$tmp/a.yaml" && same_file "$state/last-good.yaml" "$tmp/a.yaml"; then
  lab_pass "while pending, the --policy file and last-good keep policy A"
else
  lab_fail "while pending, the policy file or last-good changed"
fi
c apply "$tmp/a.yaml" >/dev/null 2>"$tmp/err"
code=$?
[ $code = 65 ] && grep -q "waits for confirmation" "$tmp/err" &&
  lab_pass "a second apply while one is pending: 65, conflict" ||
  lab_fail "second apply while pending: exit $code $(cat "$tmp/err")"
no_pending() { [ "$(pending_field source)" = none ]; }
if [ $(($(now_ms) - applied_ms)) -gt 11000 ]; then
  lab_fail "the checks took longer than the deadline: the rollback time cannot be measured"
fi
if wait_ms 25000 no_pending >/dev/null && late=$(($(now_ms) - applied_ms - 12000)) && in_force a; then
  echo "== measured commit-confirm rollback: $late ms after the deadline (goal: within 1 s; the deadline has whole seconds)"
  if [ $late -lt 10000 ]; then
    lab_pass "not confirmed: rolled back to A $late ms after the deadline"
  else
    lab_fail "the rollback came $late ms after the deadline"
  fi
else
  lab_fail "not rolled back within 13 s of the 12 s deadline"
fi
if audit_has policy.rollback timeout && [ "$(pending_field source)" = none ]; then
  lab_pass "the timeout rollback is audited and nothing is pending"
else
  lab_fail "rollback not audited or still pending"
fi

# 2. Confirmed: kept past the deadline, written to the --policy file, A kept as previous.
c apply "$tmp/b.yaml" --confirm-within 5s >/dev/null || lab_fail "apply B for confirm"
if c confirm >"$tmp/out" && same_file "$LAB_RUN_DIR/policy.yaml" "$tmp/b.yaml" &&
  same_file "$state/last-good.yaml" "$tmp/b.yaml" && same_file "$state/previous-policy.yaml" "$tmp/a.yaml"; then
  lab_pass "confirm writes B to the --policy file and last-good, keeps A as previous"
else
  lab_fail "confirm: $(cat "$tmp/out")"
fi
sleep 6
check_in_force b "confirmed, past the deadline"
c confirm >/dev/null 2>&1
[ $? = 65 ] && lab_pass "confirm with nothing pending: 65" || lab_fail "confirm with nothing pending"

# rollback without a pending confirmation: back to the previous file (A).
if c rollback >/dev/null && same_file "$LAB_RUN_DIR/policy.yaml" "$tmp/a.yaml"; then
  check_in_force a "rollback to the previous file"
else
  lab_fail "rollback to the previous policy file"
fi

# 3. A restart in between: the pending policy comes back with its deadline, then rolls back.
c apply "$tmp/b.yaml" --confirm-within 8s >/dev/null || lab_fail "apply B before a restart"
applied_ms=$(now_ms)
"$lab" daemon stop
"$lab" daemon start || lab_fail "the daemon did not start again"
if in_force b && [ "$(pending_field source)" = "$tmp/b.yaml" ]; then
  lab_pass "after a restart the pending policy B is in force and still pending"
else
  lab_fail "after a restart: B not in force or not pending"
fi
if wait_ms 20000 no_pending >/dev/null && in_force a; then
  since_apply=$(($(now_ms) - applied_ms))
  lab_pass "the deadline set before the restart rolled back ${since_apply} ms after the apply (deadline 8 s)"
else
  lab_fail "no rollback after the restart"
fi

# 4. The deadline passes while the daemon is down: rolled back at start.
c apply "$tmp/b.yaml" --confirm-within 2s >/dev/null || lab_fail "apply B before a stop"
"$lab" daemon stop
sleep 3
in_force b || lab_fail "B should still be in the kernel while sekishod is down"
"$lab" daemon start || lab_fail "the daemon did not start again"
if in_force a && audit_has policy.rollback restart && [ "$(pending_field source)" = none ] &&
  [ ! -e "$state/pending.json" ]; then
  lab_pass "a deadline passed while down: rolled back to A at start, audited"
else
  lab_fail "deadline passed while down: not rolled back at start"
fi

# 5. A reboot (another boot id): --restore loaded last-good at boot; the daemon agrees.
c apply "$tmp/b.yaml" --confirm-within 10m >/dev/null || lab_fail "apply B before a reboot"
"$lab" daemon stop
sed -i 's/"boot_id":"[^"]*"/"boot_id":"00000000-0000-0000-0000-000000000000"/' "$state/pending.json"
in_gw "$bindir/sekishod" --restore --state-dir "$state" >/dev/null 2>&1
# (--restore leaves scheduled sets closed, so only the traffic tells here.)
[ "$(probe historian tcp 192.0.2.31 9005)/$(probe historian tcp 192.0.2.31 22)" = reached/blocked ] ||
  lab_fail "--restore did not load last-good (A)"
"$lab" daemon start || lab_fail "the daemon did not start after the 'reboot'"
if in_force a && audit_has policy.rollback reboot && [ "$(pending_field source)" = none ]; then
  lab_pass "after a reboot the unconfirmed policy is gone: A in force, audited"
else
  lab_fail "after a reboot: not rolled back"
fi

if c audit verify >/dev/null; then lab_pass "audit log intact"; else lab_fail "audit verify"; fi
lab_finish
