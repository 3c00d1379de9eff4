#!/usr/bin/env bash
# The audit log as evidence, on the real daemon's log: an export, written and verified by
# sekishod in its state directory and downloaded by the admin, verifies offline with
# sekishoctl and with an auditor's own tools (tar, sha256sum, openssl), and a flipped byte or
# an edited line does not; a client's claim to have written one counts for nothing; every
# kind of tampering done to audit.db with the sqlite3 CLI is found by `audit verify`, which
# names the first record that breaks, also checkpoints deleted and the chain recomputed;
# the records a kill -9 left unsigned pass once the next start signs them.
set -u
bindir=$1
src=$2
. "$src/tests/lab/lab_test.sh"
lab_require_tools sqlite3 openssl sha256sum tar
lab_up
sock=$LAB_RUN_DIR/control.sock
db=$LAB_RUN_DIR/state/audit.db
c() { "$ctl" --control "$sock" "$@"; }
by_hand=$src/tests/audit/verify_bundle_by_hand.sh

# Some 250 records: refusals of a viewer (lab-viewer, tests/lab/lab) trying an admin's
# rollback (the first three of them, then a count), and refused policies whose names and
# texts carry quotes, backslashes and non-ASCII (the canonical JSON must survive them).
chmod 755 "$LAB_RUN_DIR"
# as_user UID COMMAND...: sekishoctl as a lab user (its role from the daemon's group file).
as_user() {
  local uid=$1
  shift
  setpriv --reuid="$uid" --regid=4100 --clear-groups "$ctl" --control "$sock" "$@" 2>/dev/null
}
for i in $(seq 1 20); do
  as_user 4103 rollback
done
printf 'zones: {ot: 1}\n' >"$tmp/bad \"工場\" \\ 1.yaml"
for i in $(seq 1 240); do
  c apply "$tmp/bad \"工場\" \\ 1.yaml" >/dev/null 2>&1
done
records=$(sqlite3 "$db" 'SELECT COUNT(*) FROM records')
checkpoints=$(sqlite3 "$db" 'SELECT COUNT(*) FROM checkpoints')
if [ "$records" -ge 240 ] && [ "$checkpoints" -ge 2 ]; then
  lab_pass "$records records, $checkpoints signed checkpoints (every 100 records)"
else
  lab_fail "expected 240+ records and 2+ checkpoints, saw $records and $checkpoints"
fi

# Export, and the auditor's checks.
c audit pubkey >"$tmp/device.pem"
start=$(now_ms)
if c audit export --since 2000-01-01 --out "$tmp/bundle.tar.gz" >"$tmp/out" 2>&1; then
  lab_pass "audit export: $(head -1 "$tmp/out") in $(($(now_ms) - start)) ms"
else
  lab_fail "audit export: $(cat "$tmp/out")"
fi
if "$ctl" audit verify --bundle "$tmp/bundle.tar.gz" --pubkey "$tmp/device.pem" >"$tmp/out" 2>&1; then
  lab_pass "sekishoctl audit verify --bundle (offline): $(head -1 "$tmp/out")"
else
  lab_fail "offline verify of a fresh export: $(cat "$tmp/out")"
fi
if bash "$by_hand" "$tmp/bundle.tar.gz" "$tmp/device.pem" >"$tmp/out" 2>&1; then
  lab_pass "an auditor's check with tar, sha256sum and openssl alone: intact"
else
  lab_fail "by-hand check of a fresh export: $(tail -3 "$tmp/out")"
fi
c audit show --kind audit.exported --json | grep -q "$(sha256sum "$tmp/bundle.tar.gz" | cut -c1-64)" &&
  lab_pass "the written bundle's SHA-256 is in the audit log" ||
  lab_fail "audit.exported record with the bundle's hash missing"
exports=$LAB_RUN_DIR/state/exports
if [ "$(stat -c %a "$exports")" = 700 ] &&
  sha256sum "$exports"/audit-*.tar.gz | grep -q "$(sha256sum <"$tmp/bundle.tar.gz" | cut -c1-64)"; then
  lab_pass "sekishod keeps the bundle it wrote in $exports (0700): $(ls "$exports")"
else
  lab_fail "the daemon's copy: $(ls -la "$exports" 2>&1)"
fi
# Downloaded to its end: marked, so that tidy may remove it even once it is the only copy of
# records retention removed (exporter.hpp).
marks=$(find "$exports" -name 'audit-*.tar.gz.copied' -size 0 | wc -l)
[ "$marks" -ge 1 ] && lab_pass "the downloaded bundle is marked as copied off the box ($marks)" ||
  lab_fail "no .copied mark beside the downloaded bundle: $(ls -la "$exports" 2>&1)"

exported=$(c status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["audit"]["exported_through"])')
c audit export --since "$(date -u -d tomorrow +%F)" --out "$tmp/empty.tar.gz" >"$tmp/out" 2>&1
later=$(c status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["audit"]["exported_through"])')
if [ "$exported" -ge 240 ] && [ "$later" = "$exported" ] && grep -q "exported 0 records" "$tmp/out"; then
  lab_pass "the export covers records 1..$exported; an empty export (since tomorrow) covers nothing more"
else
  lab_fail "export coverage: $exported then $later; $(cat "$tmp/out")"
fi
# A client's word that it wrote a bundle counts for nothing: the two steps of the earlier
# protocol, an export asked for and then {"written": ...} claimed for its range without any
# bundle, must record nothing and count nothing.
python3 - "$sock" <<'EOF2' >"$tmp/out"
import json, socket, sys
def call(request):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    s.sendall((json.dumps(request) + "\n").encode())
    data = b""
    while not data.endswith(b"\n"):
        data += s.recv(65536)
    return json.loads(data)
started = call({"id": 1, "method": "audit.export", "params": {"since": "2000-01-01"}})
through = started.get("result", {}).get("last_seq", 1)
claim = {"through": through, "sha256": "c1a1" * 16, "file": "made-up.tar.gz"}
print(json.dumps(call({"id": 2, "method": "audit.export", "params": {"written": claim}})))
EOF2
if grep -q '"invalid"' "$tmp/out" && ! c audit show --kind audit.exported --json | grep -q made-up; then
  lab_pass "a client's claim to have written a bundle is refused and recorded nowhere"
else
  lab_fail "a 'written' claim: $(cat "$tmp/out"); $(c audit show --kind audit.exported --json | grep made-up)"
fi
# A refusal, recorded and not signed yet: young, so said and not failed. (The operator's
# first: recorded on its own at once.)
as_user 4102 rollback
c audit verify >"$tmp/out" && grep -q "wait for their checkpoint" "$tmp/out" &&
  lab_pass "young unsigned records are reported, not failed: $(tail -1 "$tmp/out")" ||
  lab_fail "audit verify with a young unsigned tail: $(cat "$tmp/out")"

# A flipped byte, and a record line edited then packed again.
size=$(stat -c %s "$tmp/bundle.tar.gz")
cp "$tmp/bundle.tar.gz" "$tmp/flipped.tar.gz"
python3 - "$tmp/flipped.tar.gz" "$((size / 2))" <<'EOF'
import sys
path, at = sys.argv[1], int(sys.argv[2])
data = bytearray(open(path, "rb").read())
data[at] ^= 0x01
open(path, "wb").write(data)
EOF
mkdir "$tmp/x"
tar -xzf "$tmp/bundle.tar.gz" -C "$tmp/x"
sed -i '5s/"kind":"control.refused"/"kind":"control.allowed"/' "$tmp/x/records.jsonl"
grep -q control.allowed "$tmp/x/records.jsonl" || lab_fail "could not edit line 5 of records.jsonl"
tar -czf "$tmp/edited.tar.gz" -C "$tmp/x" anchor.json records.jsonl checkpoint.json checkpoint.sig
for bad in flipped edited; do
  "$ctl" audit verify --bundle "$tmp/$bad.tar.gz" --pubkey "$tmp/device.pem" >"$tmp/out" 2>&1
  tool=$?
  bash "$by_hand" "$tmp/$bad.tar.gz" "$tmp/device.pem" >/dev/null 2>&1
  hand=$?
  if [ $tool = 1 ] && [ $hand = 1 ]; then
    lab_pass "$bad bundle: sekishoctl exit 1 ($(head -1 "$tmp/out")), by hand exit 1"
  else
    lab_fail "$bad bundle: sekishoctl exit $tool, by hand exit $hand"
  fi
done
openssl genpkey -algorithm ed25519 2>/dev/null | openssl pkey -pubout >"$tmp/other.pem" 2>/dev/null
"$ctl" audit verify --bundle "$tmp/bundle.tar.gz" --pubkey "$tmp/other.pem" >/dev/null 2>&1
[ $? = 1 ] && lab_pass "another device's key: exit 1" || lab_fail "another key was accepted"

# Tampering with the log itself: each on a copy of the stopped daemon's log, then the
# daemon started on it and asked. It appends its own records at start; the break stays.
"$lab" daemon stop
sqlite3 "$db" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
cp "$db" "$tmp/pristine.db"
last=$(sqlite3 "$db" 'SELECT MAX(seq) FROM records')
# tamper NAME EXPECTED_FIRST_BAD SQL: apply SQL to a fresh copy, start, verify.
tamper() {
  local name=$1 expected=$2 sql=$3 json first_bad
  cp "$tmp/pristine.db" "$db"
  rm -f "$db-wal" "$db-shm"
  if [ "$sql" = REWRITE ]; then
    rewrite_chain
  else
    sqlite3 "$db" "$sql" || lab_fail "$name: the SQL failed"
  fi
  "$lab" daemon start || lab_fail "$name: the daemon did not start"
  json=$(c audit verify --json)
  first_bad=$(echo "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["first_bad"])')
  c audit verify >/dev/null
  local code=$?
  if [ $code = 1 ] && [ "$first_bad" = "$expected" ]; then
    lab_pass "$name: found, first bad record $first_bad ($(echo "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["reason"])'))"
  else
    lab_fail "$name: exit $code, first bad $first_bad (expected $expected): $json"
  fi
  "$lab" daemon stop
}
# Record 50 edited and every later hash computed again: consistent, but no longer what
# the checkpoints signed. (The sqlite3 CLI has no SHA-256; Python's sqlite3 does the same.)
rewrite_chain() {
  python3 - "$db" <<'EOF'
import hashlib, json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("UPDATE records SET details = '{\"edited\":true}' WHERE seq = 50")
previous = db.execute("SELECT hash FROM records WHERE seq = 49").fetchone()[0]
for seq, time, actor, kind, details in db.execute(
        "SELECT seq, time, actor, kind, details FROM records WHERE seq >= 50 ORDER BY seq").fetchall():
    record = {"seq": seq, "time": time, "actor": json.loads(actor), "kind": kind,
              "details": json.loads(details)}
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256((previous + canonical).encode()).hexdigest()
    db.execute("UPDATE records SET previous = ?, hash = ? WHERE seq = ?", (previous, digest, seq))
    previous = digest
db.commit()
EOF
}
tamper "an edited record" 50 "UPDATE records SET details='{\"reason\":\"nothing\"}' WHERE seq=50"
tamper "a deleted record" 60 "DELETE FROM records WHERE seq=60"
tamper "an inserted record" 70 "UPDATE records SET seq=-seq WHERE seq>=70;
  UPDATE records SET seq=-seq+1 WHERE seq<0;
  INSERT INTO records SELECT 70, time, actor, kind, details, previous, hash FROM records WHERE seq=69"
tamper "two records swapped" 80 "UPDATE records SET seq=-1 WHERE seq=80;
  UPDATE records SET seq=80 WHERE seq=81; UPDATE records SET seq=81 WHERE seq=-1"
# A break the chain cannot show is named from the last checkpoint that still matched.
after_checkpoint() { sqlite3 "$tmp/pristine.db" "SELECT IFNULL(MAX(seq),0)+1 FROM checkpoints WHERE seq<$1"; }
tamper "the newest records removed" "$(after_checkpoint $((last - 2)))" "DELETE FROM records WHERE seq>$((last - 3))"
first_unsigned=$(after_checkpoint 50)
tamper "a rewritten chain (record 50 edited, every later hash recomputed)" "$first_unsigned" REWRITE

# retime DB FROM SECONDS_AGO STEP [EDIT]: records FROM.. get times SECONDS_AGO ago, STEP
# seconds apart (as if written then), record EDIT (if given) edited, and every hash from
# FROM on recomputed: a chain that holds together, as an attacker without the key makes it.
retime() {
  python3 - "$@" <<'EOF'
import datetime, hashlib, json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
start, ago, step = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
edit = int(sys.argv[5]) if len(sys.argv) > 5 else None
base = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=ago)
previous = db.execute("SELECT hash FROM records WHERE seq = ?", (start - 1,)).fetchone()[0]
for seq, actor, kind, details in db.execute(
        "SELECT seq, actor, kind, details FROM records WHERE seq >= ? ORDER BY seq", (start,)).fetchall():
    time = (base + datetime.timedelta(seconds=step * (seq - start))).strftime("%Y-%m-%dT%H:%M:%SZ")
    details = json.loads(details)
    if seq == edit:
        details["edited"] = True
    record = {"seq": seq, "time": time, "actor": json.loads(actor), "kind": kind, "details": details}
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256((previous + canonical).encode()).hexdigest()
    db.execute("UPDATE records SET time = ?, details = ?, previous = ?, hash = ? WHERE seq = ?",
               (time, json.dumps(details, sort_keys=True, separators=(",", ":"), ensure_ascii=False),
                previous, digest, seq))
    previous = digest
db.commit()
EOF
}
# Checkpoint rows deleted (all after the start's) and the chain recomputed from there, record
# 60 edited: no checkpoint disagrees any more. But the records were written over the last
# three hours and nothing signed them then: the time rule finds it.
cp "$tmp/pristine.db" "$db"
rm -f "$db-wal" "$db-shm"
kept=$(sqlite3 "$db" 'SELECT MIN(seq) FROM checkpoints')
sqlite3 "$db" "DELETE FROM checkpoints WHERE seq > $kept"
retime "$db" $((kept + 1)) 10800 30 60
"$lab" daemon start || lab_fail "deleted checkpoints: the daemon did not start"
json=$(c audit verify --json)
c audit verify >/dev/null
code=$?
first_bad=$(echo "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["first_bad"])')
if [ $code = 1 ] && [ "$first_bad" = $((kept + 1)) ]; then
  lab_pass "checkpoints deleted and the chain recomputed: found at record $first_bad ($(echo "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["reason"][:150])')...)"
else
  lab_fail "checkpoints deleted and the chain recomputed: exit $code, first bad $first_bad (expected $((kept + 1))): $json"
fi
"$lab" daemon stop

# kill -9: the newest records are never signed by the daemon that wrote them. The box stays
# off for an hour (their times moved an hour back, as if written then); the next start
# signs them at once, an hour late, and that is accepted and said.
cp "$tmp/pristine.db" "$db"
rm -f "$db-wal" "$db-shm"
"$lab" daemon start || lab_fail "crash: the daemon did not start"
for i in 1 2 3; do
  as_user 4103 rollback
done
"$lab" daemon kill
sleep 0.2
signed=$(sqlite3 "$db" 'SELECT MAX(seq) FROM checkpoints')
tail_records=$(sqlite3 "$db" "SELECT COUNT(*) FROM records WHERE seq > $signed")
retime "$db" $((signed + 1)) 3600 2
"$lab" daemon start || lab_fail "crash: the daemon did not start again"
c audit verify >"$tmp/out"
code=$?
if [ $code = 0 ] && [ "$tail_records" -ge 3 ] && grep -q "sekishod had stopped without signing them" "$tmp/out"; then
  lab_pass "a kill -9 left $tail_records records unsigned; signed an hour late by the next start: $(grep note "$tmp/out" | cut -c1-160)"
else
  lab_fail "crash tail: exit $code, $tail_records unsigned: $(cat "$tmp/out")"
fi
lab_finish
