#!/usr/bin/env bash
# No throwaway signing key (issue 20, item 7): when STATE_DIR/audit-key.pem is there but
# cannot be used (a directory, garbage), sekishod starts and enforces the policy, signs
# nothing, refuses what widens access with 75 (apply, session open, link up, a reload) and
# says why in `status` and its log; it never writes a key of its own in its place. With
# the key back, it signs again and the log verifies.
# Then a record forged in audit.db while sekishod runs: it writes and signs nothing more, and
# says so (status, its log, `audit verify`, 75 for what widens access).
set -u
bindir=$1
src=$2
. "$src/tests/lab/lab_test.sh"
lab_require_tools sqlite3
run=$LAB_RUN_DIR
state=$run/state
key=$state/audit-key.pem
sock=$run/control.sock
c() { "$ctl" --control "$sock" "$@"; }
keys=/run/sekisho-lab/$LAB_ID-audit-key
trap '"$lab" down; rm -rf "$tmp" "$keys"' EXIT

# The lab factory with a VPN zone and a maintenance target, so that `session open` gets as
# far as the audit log.
rm -rf "$keys"
mkdir -m 700 -p "$keys"
"$ctl" vpn genkey --out "$keys/gw.key" >/dev/null || lab_fail "vpn genkey"
vendor_public=$("$ctl" vpn genkey --out "$keys/vendor.key") || lab_fail "vpn genkey"
sed -e 's/^  wan:$/  maint:\n    vpn: maint\n  wan:/' "$src/configs/lab-factory.yaml" >"$tmp/policy.yaml"
cat >>"$tmp/policy.yaml" <<EOF
vpn:
  maint:
    interface: ${LAB_ID}ks0
    listen_port: 51820
    address: [198.19.77.1/24]
    private_key_file: $keys/gw.key
    peers:
      vendor-a: { public_key: "$vendor_public", addresses: [198.19.77.2] }
remote_maintenance:
  max_duration: 4h
  targets:
    hmi-1-bulk: { host: hmi-1, services: [tcp/9999] }
  peers:
    vendor-a: [hmi-1-bulk]
EOF
lab_up "$tmp/policy.yaml"
c status | grep -q "audit: *signing" && lab_pass "with its key, sekishod signs" ||
  lab_fail "status before: $(c status 2>&1)"
good_key=$(sha256sum <"$key")

# unusable KIND: stop, put KIND where the key was, start again.
unusable() {
  "$lab" daemon stop
  mv "$key" "$tmp/key.pem"
  case $1 in
    directory) mkdir -m 700 "$key" ;;
    garbage) printf 'not a key\n' >"$key" && chmod 600 "$key" ;;
  esac
  checkpoints_before=$(sqlite3 "file:$state/audit.db?mode=ro" 'SELECT COUNT(*) FROM checkpoints')
  if "$lab" daemon start; then
    lab_pass "$1 in place of the key: sekishod starts"
  else
    lab_fail "$1 in place of the key: sekishod did not start"
    return
  fi
  # Enforcing: the kernel holds the policy, and traffic follows it.
  verify_quiet && lab_pass "$1: the ruleset is enforced (readback matches)" ||
    lab_fail "$1: the ruleset is not what the policy says"
  expect historian tcp 192.0.2.31 9005 reached "$1: allowed traffic passes"
  expect historian tcp 192.0.2.31 22 blocked "$1: other traffic is dropped"
  local problem
  problem=$(c status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["audit"]["key_problem"])')
  case $1:$problem in
    directory:*"audit-key.pem is a directory"* | garbage:*"does not hold an Ed25519 private key"*)
      lab_pass "$1: status says why: $problem" ;;
    *) lab_fail "$1: status key_problem: $problem" ;;
  esac
  c status | grep -q "NOT SIGNING" && lab_pass "$1: 'sekishoctl status' says it signs nothing" ||
    lab_fail "$1: status: $(c status 2>&1)"
  "$lab" daemon log | grep -q "audit key: .*audit-key.pem" &&
    lab_pass "$1: the daemon's log says why" || lab_fail "$1: nothing in the daemon's log"
  local code
  for request in "apply $run/policy.yaml" \
    "session open vendor-a hmi-1-bulk --for 10m --reason lab" \
    "link up --for 10m --reason lab"; do
    # shellcheck disable=SC2086 # the request is words
    c $request >/dev/null 2>"$tmp/err"
    code=$?
    [ $code = 75 ] && lab_pass "$1: '${request%% --*}' refused with 75" ||
      lab_fail "$1: '${request%% --*}' exit $code: $(cat "$tmp/err")"
  done
  [ "$(c session list --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["sessions"]))')" = 0 ] &&
    lab_pass "$1: no session was opened" || lab_fail "$1: a session is open"
  "$lab" daemon reload
  wait_ms 5000 sh -c "\"$lab\" daemon log | grep -q 'reload refused'" >/dev/null &&
    lab_pass "$1: a reload (SIGHUP) is refused" || lab_fail "$1: the reload was not refused"
  # Nothing signed, nothing written in place of the key.
  c status >/dev/null
  [ "$(sqlite3 "file:$state/audit.db?mode=ro" 'SELECT COUNT(*) FROM checkpoints')" = "$checkpoints_before" ] &&
    lab_pass "$1: no checkpoint was signed" || lab_fail "$1: checkpoints were signed"
  case $1 in
    directory) [ -d "$key" ] && [ -z "$(ls -A "$key")" ] ;;
    garbage) [ "$(cat "$key")" = "not a key" ] ;;
  esac && [ ! -e "$key.new" ] && lab_pass "$1: left as it was, no new key written" ||
    lab_fail "$1: the key file was replaced: $(ls -la "$state")"
  "$lab" daemon stop
  rm -rf "$key"
  mv "$tmp/key.pem" "$key"
  "$lab" daemon start || lab_fail "sekishod did not start with its key back"
}
unusable directory
unusable garbage

# The key back: signing again, and the records of the unsigned start verify. || lab_fail "sekishod did not start with its key back"
[ "$(sha256sum <"$key")" = "$good_key" ] && c status | grep -q "audit: *signing" &&
  lab_pass "the key back: sekishod signs with it again" || lab_fail "status: $(c status 2>&1)"
c apply "$run/policy.yaml" >/dev/null && lab_pass "apply works again" || lab_fail "apply with the key back"
c audit verify >"$tmp/out" && lab_pass "the audit log verifies: $(head -1 "$tmp/out")" ||
  lab_fail "audit verify: $(cat "$tmp/out")"

# A log changed under the running daemon: a record forged after its newest one, its chain
# holding, by someone who can write audit.db but has not the key. sekishod notices, writes
# and signs nothing more (before, it went on and signed the forged record with its own), and
# says so in status, its log and `audit verify`; what widens access is refused with 75.
forged=$(python3 - "$state/audit.db" <<'EOF'
import hashlib, json, sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=5)
seq, time, previous = db.execute("SELECT seq, time, hash FROM records ORDER BY seq DESC LIMIT 1").fetchone()
actor, details = {"uid": 0, "user": "root", "role": "admin"}, {"source": "forged.yaml"}
record = {"seq": seq + 1, "time": time, "actor": actor, "kind": "policy.apply", "details": details}
dump = lambda value: json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
digest = hashlib.sha256((previous + dump(record)).encode()).hexdigest()
db.execute("INSERT INTO records (seq, time, actor, kind, details, previous, hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
           (seq + 1, time, dump(actor), "policy.apply", dump(details), previous, digest))
db.commit()
print(seq + 1)
EOF
) || lab_fail "the forged record could not be written"
c status | grep -q "audit: *CHANGED UNDER SEKISHOD" &&
  lab_pass "a record forged under it: status says the log was changed" ||
  lab_fail "forged record: status: $(c status 2>&1)"
c apply "$run/policy.yaml" >/dev/null 2>"$tmp/err"
code=$?
[ $code = 75 ] && lab_pass "forged record: apply refused with 75" ||
  lab_fail "forged record: apply exit $code: $(cat "$tmp/err")"
c audit verify >"$tmp/out"
code=$?
[ $code = 1 ] && grep -q "changed under sekishod" "$tmp/out" &&
  lab_pass "forged record: audit verify fails: $(cut -c1-160 "$tmp/out")" ||
  lab_fail "forged record: audit verify exit $code: $(cat "$tmp/out")"
c audit export --since 2026-01-01 --out "$tmp/forged.tar.gz" >/dev/null 2>"$tmp/err"
code=$?
[ $code = 75 ] && [ ! -e "$tmp/forged.tar.gz" ] && lab_pass "forged record: audit export refused with 75" ||
  lab_fail "forged record: audit export exit $code: $(cat "$tmp/err")"
"$lab" daemon log | grep -q "changed under sekishod" &&
  lab_pass "forged record: the daemon's log says so" || lab_fail "forged record: nothing in the daemon's log"
"$lab" daemon stop # a clean stop signs the newest record, when it is sekishod's own
ro="file:$state/audit.db?mode=ro"
[ "$(sqlite3 "$ro" "SELECT COUNT(*) FROM checkpoints WHERE seq >= $forged")" = 0 ] &&
  [ "$(sqlite3 "$ro" "SELECT MAX(seq) FROM records")" = "$forged" ] &&
  lab_pass "forged record: nothing was written or signed after it" ||
  lab_fail "forged record: sekishod wrote or signed over it: $(sqlite3 "$ro" "SELECT 'record', seq, kind FROM records WHERE seq >= $forged; SELECT 'checkpoint', seq FROM checkpoints WHERE seq >= $forged")"
lab_finish
