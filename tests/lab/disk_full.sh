#!/usr/bin/env bash
# The audit-failure rule (docs/architecture.md, Invariants) on a full disk: the state directory is a small tmpfs,
# filled up. An apply (it could grant access) is refused with 75 and changes nothing: not
# the kernel's ruleset, not the policy file, not the audit log. A rollback (it removes
# access) still happens at its deadline, and is recorded with its own time once the disk
# has room again.
set -u
bindir=$1
src=$2
. "$src/tests/lab/lab_test.sh"
command -v sqlite3 >/dev/null || {
  echo "SKIP: sqlite3 is not installed (scripts/install-deps.sh test installs it)"
  exit 77
}
lab_up
sock=$LAB_RUN_DIR/control.sock
state=$LAB_RUN_DIR/state
c() { "$ctl" --control "$sock" "$@"; }
trap 'umount -l "$state" 2>/dev/null; "$lab" down; rm -rf "$tmp"' EXIT

# The state directory (audit log, key, last-good) moved onto a 16 MiB tmpfs.
"$lab" daemon stop
cp -a "$state" "$tmp/state"
mount -t tmpfs -o size=16m,mode=0700 sekisho-lab-state "$state" || {
  echo "SKIP: cannot mount a tmpfs here"
  exit 77
}
cp -a "$tmp/state/." "$state/"
"$lab" daemon start || lab_fail "the daemon did not start on the small state directory"
chmod 755 "$LAB_RUN_DIR"

cp "$src/configs/lab-factory.yaml" "$tmp/a.yaml"
sed 's/    services: \[trends\]/    services: [ssh]/' "$tmp/a.yaml" >"$tmp/b.yaml"
sed 's/    services: \[trends\]/    services: [ssh, trends]/' "$tmp/a.yaml" >"$tmp/c.yaml"
readback() { in_gw "$ctl" verify --policy "$tmp/$1.yaml" >/dev/null 2>&1; }

c apply "$tmp/b.yaml" --confirm-within 25s >/dev/null || lab_fail "apply B with a deadline"
readback b && lab_pass "B applied, to be confirmed within 25 s" || lab_fail "B not in force"

# Fill the disk, then make records (each export request is one, and a checkpoint) until
# the log says it cannot write them.
dd if=/dev/zero of="$state/fill" bs=4k 2>/dev/null
for round in 1 2 3 4 5 6; do
  python3 "$src/tests/lab/hostile_client.py" "$sock" many 500 \
    '{"id":1,"method":"audit.export","params":{"since":"2000-01-01"}}' >/dev/null
  "$lab" daemon log | grep -q "cannot be written" && break
done
if "$lab" daemon log | grep -q "cannot be written"; then
  lab_pass "disk full: the daemon says the audit log cannot be written (after $((round * 500)) export requests)"
else
  lab_fail "the audit log never reported a full disk"
fi
records_before=$(sqlite3 "file:$state/audit.db?mode=ro" 'SELECT COUNT(*), MAX(hash) FROM records')
policy_before=$(sha256sum <"$LAB_RUN_DIR/policy.yaml")

# Widening requests: refused with 75, nothing changed.
c apply "$tmp/c.yaml" >/dev/null 2>"$tmp/err"
code=$?
records_after=$(sqlite3 "file:$state/audit.db?mode=ro" 'SELECT COUNT(*), MAX(hash) FROM records')
if [ $code = 75 ] && readback b && [ "$records_after" = "$records_before" ] &&
  [ "$(sha256sum <"$LAB_RUN_DIR/policy.yaml")" = "$policy_before" ]; then
  lab_pass "apply refused with 75: ruleset, policy file and audit log unchanged"
else
  lab_fail "apply on a full disk: exit $code $(cat "$tmp/err"); records $records_before -> $records_after"
fi
c confirm >/dev/null 2>"$tmp/err"
code=$?
[ $code = 75 ] && [ "$(c status --json | grep -c '"deadline"')" = 1 ] &&
  lab_pass "confirm refused with 75: the policy stays pending" ||
  lab_fail "confirm on a full disk: exit $code $(cat "$tmp/err")"

# Narrowing: the rollback at the deadline goes ahead.
no_pending() { c status --json | grep -q '"pending_confirmation": null'; }
if wait_ms 40000 no_pending >/dev/null; then
  rolled_ms=$(now_ms)
  if readback a && [ "$(probe historian tcp 192.0.2.31 9005)" = reached ]; then
    lab_pass "the rollback happened on a full disk: A in force (readback and traffic)"
  else
    lab_fail "rolled back, but A is not in force"
  fi
else
  lab_fail "no rollback within 15 s of the deadline on a full disk"
fi
"$lab" daemon log | grep -q "kept to record later: policy.rollback" &&
  lab_pass "the rollback is kept to be recorded later" ||
  lab_fail "the daemon did not keep the rollback record"

# Room again: the waiting records go in, with their own times, chain intact.
rm -f "$state/fill"
# (a viewer's refusal: a record of its own, written at once)
setpriv --reuid=4103 --regid=4100 --clear-groups "$ctl" --control "$sock" rollback 2>/dev/null
rollback_time=$(c audit show --kind policy.rollback --json | python3 -c 'import json,sys
r=[x for x in json.load(sys.stdin) if x["details"]["how"]=="timeout"]; print(r[-1]["time"] if r else "")')
if [ -n "$rollback_time" ] && [ "$(date -u -d "$rollback_time" +%s)" -le $((rolled_ms / 1000 + 1)) ] &&
  c audit verify >/dev/null; then
  lab_pass "with room again the rollback is recorded at its own time ($rollback_time); chain intact"
else
  lab_fail "the rollback record: '$rollback_time'; $(c audit verify 2>&1)"
fi
lab_finish
