#!/usr/bin/env bash
# The control socket in the lab: every method of `sekishoctl methods --json` has a caller
# it allows and one it refuses (a refusal exits 77 and is audited: a viewer's or an
# operator's on its own or in its window's count, a role-less caller's only in the count
# all of them share, checked once sekishod has ended its windows); roles come from the
# group database as it is at each request (a user's primary group and the groups that
# list them), not from the groups the caller's process holds, and taking a user out of a
# group takes effect on the next request of an open connection; misbehaving clients
# (garbage, 10 MB, a request nested 500,000 levels deep, idle and unread connections) do
# not stop a normal one. The lab's users and groups are in the daemon's own mount
# namespace (tests/lab/lab), so the machine's /etc/group is never touched.
set -u
bindir=$1
src=$2
. "$src/tests/lab/lab_test.sh"
lab_up
sock=$LAB_RUN_DIR/control.sock
chmod 755 "$LAB_RUN_DIR"
# What `apply` sends: the policy in force, readable by the unprivileged callers.
cp "$LAB_RUN_DIR/policy.yaml" "$tmp/same.yaml"
chmod 755 "$tmp"
chmod 644 "$tmp/same.yaml"
mkdir -m 1777 "$tmp/exports"

# user_of ROLE: the lab user holding ROLE through the group database (tests/lab/lab).
user_of() {
  case $1 in admin) echo lab-admin ;; operator) echo lab-operator ;; viewer) echo lab-viewer ;; *) echo nobody ;; esac
}
uid_of() {
  case $1 in admin) echo 4101 ;; operator) echo 4102 ;; viewer) echo 4103 ;; *) echo 65534 ;; esac
}
# as ROLE COMMAND...: runs sekishoctl as ROLE's lab user, whose process holds no group at
# all: the role comes from the daemon's group database alone.
as() {
  local uid
  uid=$(uid_of "$1")
  shift
  setpriv --reuid="$uid" --regid=4100 --clear-groups "$ctl" --control "$sock" "$@"
}
below() {
  case $1 in admin) echo operator ;; operator) echo viewer ;; *) echo none ;; esac
}

# Each method, called through the command that uses it.
command_for() {
  case $1 in
    status) echo status ;;
    verify) echo verify ;;
    audit.show) echo "audit show" ;;
    audit.verify) echo "audit verify" ;;
    audit.pubkey) echo "audit pubkey" ;;
    audit.export) echo "audit export --since 2000-01-01 --out $tmp/exports/audit.tar.gz" ;;
    policy.apply) echo "apply $tmp/same.yaml" ;;
    policy.confirm) echo "confirm" ;;
    policy.rollback) echo "rollback" ;;
    vpn.status) echo "vpn status" ;;
    session.open) echo "session open vendor plc --for 10m --reason lab-role-check" ;;
    session.extend) echo "session extend s-1 --by 10m" ;;
    session.close) echo "session close --all --reason lab-role-check" ;;
    session.list) echo "session list --all" ;;
    session.show) echo "session show s-1" ;;
    session.receipt) echo "session receipt s-1" ;;
    schedule.list) echo "schedule" ;;
    link.status) echo "link status" ;;
    cloud.status) echo "cloud status" ;;
    cloud.password) echo "cloud password plc1" ;;
    link.up) echo "link up --for 1m --reason lab-role-check" ;;
    link.down) echo "link down --for 1m --reason lab-role-check" ;;
    link.auto) echo "link auto --reason lab-role-check" ;;
    *) echo "" ;;
  esac
}
# The exit a method's command must give to the role allowed it: the lab policy has no
# remote_maintenance and there is no session, so the session methods get past the role
# check and then find nothing to do.
allowed_exit() {
  case $1 in
    status | verify | audit.show | audit.verify | audit.pubkey | audit.export | vpn.status) echo 0 ;;
    policy.apply | policy.rollback) echo 0 ;;
    policy.confirm) echo 65 ;; # nothing waits for a confirmation
    session.open | session.extend | session.show | session.receipt) echo 65 ;;
    session.close | session.list) echo 0 ;;
    schedule.list | link.status | link.up | link.down | link.auto) echo 0 ;;
    cloud.status) echo 0 ;; # the lab policy has no cloud.mqtt: "none in the policy"
    cloud.password) echo 65 ;; # ... so plc1 is no publisher
    *) echo "" ;;
  esac
}
methods=$("$ctl" methods --json | python3 -c 'import json,sys
for m in json.load(sys.stdin): print(m["name"], m["least_role"])')
# Each refusal is audited (checked at the end, once the daemon has ended its windows): a
# caller with a role's first three in a window as records of their own (and log lines),
# the rest in a count; the refusals of callers without a role only in one shared count.
: >"$tmp/refused"
while read -r method role; do
  command=$(command_for "$method")
  if [ -z "$command" ]; then
    lab_fail "method $method has no allowed/refused case in this test"
    continue
  fi
  as "$role" $command >/dev/null 2>"$tmp/err"
  allowed=$?
  refused_role=$(below "$role")
  as "$refused_role" $command >/dev/null 2>"$tmp/err2"
  refused=$?
  echo "$(uid_of "$refused_role") $method" >>"$tmp/refused"
  expected=$(allowed_exit "$method")
  if [ -n "$expected" ] && [ "$expected" = $allowed ] && [ $refused = 77 ]; then
    lab_pass "$method: allowed to $role (exit $allowed), refused to $refused_role (77)"
  else
    lab_fail "$method: $role exit $allowed, $refused_role exit $refused: $(cat "$tmp/err" "$tmp/err2")"
  fi
done <<<"$methods"
for user in lab-viewer lab-operator; do
  first=$(awk -v uid="$(uid_of "$([ $user = lab-viewer ] && echo viewer || echo operator)")" \
    '$1 == uid {print $2; exit}' "$tmp/refused")
  "$lab" daemon log | grep -q "refused $first to $user (uid" &&
    lab_pass "$user's first refusal ($first) is logged with its user, uid, pid and role" ||
    lab_fail "$user's refusal of $first is not in the daemon's log"
done
"$lab" daemon log | grep -q "refused [a-z.]* to nobody" &&
  lab_fail "a refusal of nobody (no role) is logged on its own: $("$lab" daemon log | grep "to nobody" | head -1)" ||
  lab_pass "the refusals of nobody (no role) are not logged one by one"

# The primary group of the user's passwd entry counts; the groups of the caller's process
# do not; a uid without a passwd entry has no group at all.
primary_viewer() { setpriv --reuid=4104 --regid=4100 --clear-groups "$ctl" --control "$sock" "$@"; }
if primary_viewer status >/dev/null && ! primary_viewer rollback >/dev/null 2>&1; then
  lab_pass "a role held through the passwd entry's primary group counts (viewer: status yes, rollback no)"
else
  lab_fail "primary-group viewer"
fi
for who in "4105 lab-none" "4999 a uid without a passwd entry"; do
  read -r uid name <<<"$who"
  setpriv --reuid="$uid" --regid=4001 --groups=4001,4002,4003 "$ctl" --control "$sock" status \
    >/dev/null 2>"$tmp/err"
  code=$?
  if [ $code = 77 ]; then
    lab_pass "$name holding every role group in its process is refused (77): the group database decides"
  else
    lab_fail "$name with the role groups in its process: exit $code $(cat "$tmp/err")"
  fi
done
# Taken out of the group (the file rewritten in place, as gpasswd -d would leave it): the
# next request on a connection opened before is refused; put back, allowed again.
group_file=$LAB_RUN_DIR/etc/group
cp "$group_file" "$tmp/group.saved"
setpriv --reuid=4103 --regid=4100 --clear-groups /usr/bin/python3 "$src/tests/lab/hostile_client.py" \
  "$sock" steps "$tmp/step" 3 >"$tmp/steps" &
stepper=$!
wait_ms 5000 grep -q '^1 ' "$tmp/steps" >/dev/null
sed 's/^sekisho-viewer:x:4003:lab-viewer$/sekisho-viewer:x:4003:/' "$tmp/group.saved" >"$group_file"
touch "$tmp/step.1"
wait_ms 5000 grep -q '^2 ' "$tmp/steps" >/dev/null
cat "$tmp/group.saved" >"$group_file"
touch "$tmp/step.2"
wait $stepper
if grep -q '^1 .*"ok":true' "$tmp/steps" && grep -q '^2 .*"code":"forbidden"' "$tmp/steps" &&
  grep -q '^3 .*"ok":true' "$tmp/steps"; then
  lab_pass "lab-viewer taken out of sekisho-viewer: refused on the next request of the same connection, allowed again once put back"
else
  lab_fail "group change on an open connection: $(cat "$tmp/steps")"
fi
cat "$tmp/group.saved" >"$group_file"

if "$ctl" --control "$sock" status >/dev/null && as none methods >/dev/null; then
  lab_pass "root is admin; methods needs no daemon and no role"
else
  lab_fail "root status or methods failed"
fi

# Misbehaving clients, while a normal one keeps being answered.
rss() { awk '/VmRSS/ {print $2}' "/proc/$("$lab" daemon pid)/status"; }
# A connection that says nothing is closed after 30 s (watched while the rest runs).
python3 "$src/tests/lab/hostile_client.py" "$sock" idle 60 >"$tmp/idle" &
idler=$!
# A caller without a role knocking 10000 times: each answered, each counted in the audit
# log, but in a few shared counts, not 10000 records.
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups \
  /usr/bin/python3 "$src/tests/lab/hostile_client.py" "$sock" many 10000)
[ "$out" = "0 ok, 10000 forbidden, 0 invalid of 10000" ] || lab_fail "refused flood: $out"
# 10k records of an admin's invalid applies, so that one audit.show of them is megabytes.
out=$(/usr/bin/python3 "$src/tests/lab/hostile_client.py" "$sock" many 10000 \
  '{"id":1,"method":"policy.apply","params":{"name":"x.yaml","text":"x: 1"}}')
[ "$out" = "0 ok, 0 forbidden, 10000 invalid of 10000" ] || lab_fail "invalid applies: $out"
rss_before=$(rss)
out=$(python3 "$src/tests/lab/hostile_client.py" "$sock" garbage)
if echo "$out" | head -1 | grep -q '"code":"invalid"' && echo "$out" | tail -1 | grep -q '"ok":true'; then
  lab_pass "garbage is answered 'invalid' and the connection goes on"
else
  lab_fail "garbage: $out"
fi
# A request under 1 MiB whose params nest 500,000 levels deep, from a user without a role.
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups \
  /usr/bin/python3 "$src/tests/lab/hostile_client.py" "$sock" deep 500000)
if echo "$out" | head -1 | grep -q '"code":"invalid"' && "$ctl" --control "$sock" status >/dev/null; then
  lab_pass "a request nested 500,000 levels deep is answered 'invalid'; the daemon answers status after it"
else
  lab_fail "deep request: $out; status: $("$ctl" --control "$sock" status 2>&1 | head -2)"
fi
out=$(python3 "$src/tests/lab/hostile_client.py" "$sock" huge 10)
if echo "$out" | grep -q '"code":"too_large"' && echo "$out" | grep -q closed; then
  lab_pass "a 10 MB request: too_large, connection closed"
else
  lab_fail "10 MB request: $out"
fi
python3 "$src/tests/lab/hostile_client.py" "$sock" hold 200 6 >"$tmp/hold" &
holder=$!
python3 "$src/tests/lab/hostile_client.py" "$sock" flood 30000 >"$tmp/flood" &
flooder=$!
python3 "$src/tests/lab/hostile_client.py" "$sock" flood 100 \
  '{"id":1,"method":"audit.show","params":{"limit":10000}}' >"$tmp/bigshow" &
bigshow=$!
sleep 1
start=$(now_ms)
if "$ctl" --control "$sock" status >/dev/null; then
  lab_pass "with 200 idle connections and a client that never reads, status answered in $(($(now_ms) - start)) ms"
else
  lab_fail "status not answered under load"
fi
wait $flooder
if grep -q "closed by the daemon" "$tmp/flood" &&
  "$lab" daemon log | grep -q "does not read its replies"; then
  lab_pass "the client that never reads is cut off: $(cat "$tmp/flood")"
else
  lab_fail "flooding client: $(cat "$tmp/flood")"
fi
wait $bigshow
if grep -q "closed by the daemon" "$tmp/bigshow"; then
  lab_pass "a client asking audit show of 10k records and never reading is cut off: $(cat "$tmp/bigshow")"
else
  lab_fail "audit show flood: $(cat "$tmp/bigshow")"
fi
wait $holder
rss_after=$(rss)
if [ $((rss_after - rss_before)) -lt 20480 ]; then
  lab_pass "daemon memory stays bounded: $((rss_before / 1024)) -> $((rss_after / 1024)) MiB"
else
  lab_fail "daemon memory grew from $rss_before to $rss_after KiB"
fi
wait $idler
# Every refusal is in the audit log, but in few records: sekishod ends its windows when it
# stops (windows grow to an hour while refusals keep coming).
"$lab" daemon stop
"$lab" daemon start >/dev/null || lab_fail "sekishod did not start again"
"$ctl" --control "$sock" audit show --since 1 --kind control.refused --json \
  >"$tmp/refusals.json"
python3 - "$tmp/refusals.json" "$tmp/refused" >"$tmp/accounting" <<'EOF2'
import json, sys
records = json.load(open(sys.argv[1]))
problems = []
# The method loop: each refusal of a caller with a role, on its own or in its summary.
loop = {}
for line in open(sys.argv[2]):
    uid, method = line.split()
    loop.setdefault(int(uid), []).append(method)
for uid in (4102, 4103):
    mine = [r for r in records if r["actor"]["uid"] == uid and "without_role" not in r["details"]]
    alone = [r["details"]["method"] for r in mine if "method" in r["details"]]
    counted = {}
    for r in mine:
        for method, count in r["details"].get("counts", {}).items():
            counted[method] = counted.get(method, 0) + count
    for method in set(loop[uid]):
        if alone.count(method) + counted.get(method, 0) != loop[uid].count(method):
            problems.append(f"uid {uid} {method}: {alone.count(method)} alone, "
                            f"{counted.get(method, 0)} counted of {loop[uid].count(method)}")
    if not alone:
        problems.append(f"uid {uid}: no record of its own for {len(loop[uid])} refusals")
# Callers without a role (nobody in the loop and its 10000 requests, lab-none, a uid without
# a passwd entry, lab-viewer while out of its group): never a record of their own, only
# the daemon's shared counts.
if any(r["actor"]["uid"] in (65534, 4105, 4999) for r in records):
    problems.append("a caller without a role has a record of its own")
shared = [r for r in records if r["details"].get("without_role")]
if any(r["actor"]["user"] != "sekishod" for r in shared):
    problems.append("a shared count is not the daemon's")
counted = {}
for r in shared:
    for method, count in r["details"]["counts"].items():
        counted[method] = counted.get(method, 0) + count
for method in set(loop[65534]):
    expected = loop[65534].count(method) + (10000 if method == "status" else 0)
    if counted.get(method, 0) < expected:
        problems.append(f"nobody's {method}: {counted.get(method, 0)} counted of {expected}")
named = any(65534 in r["details"]["uids"] for r in shared)
print(len(records), len(loop[65534]), counted.get("status", 0), len(shared),
      "named" if named else "unnamed")
print("; ".join(problems))
EOF2
read -r all_records loop_none total rows named <"$tmp/accounting"
problems=$(sed -n 2p "$tmp/accounting")
if [ -z "$problems" ]; then
  lab_pass "each refusal is in the audit log: the viewer's and operator's on their own or counted, nobody's $loop_none of the method loop and 10000 requests only in shared counts"
else
  lab_fail "refusal records: $problems"
fi
if [ "$total" -ge 10000 ] && [ "$rows" -lt 20 ] && [ "$named" = named ]; then
  lab_pass "10000 refused requests of nobody: all answered, all counted ($total status) in $rows shared records naming uid 65534"
else
  lab_fail "refusal counting: $total counted in $rows records ($named)"
fi
idle=$(cat "$tmp/idle")
seconds=$(echo "$idle" | awk '/closed after/ {print int($3)}')
echo "== measured idle connection closed: $idle (limit 30 s)"
if [ -n "$seconds" ] && [ "$seconds" -ge 29 ] && [ "$seconds" -le 40 ]; then
  lab_pass "an idle connection is closed by the daemon: $idle"
else
  lab_fail "idle connection: $idle"
fi
# The audit log recorded the refusals, and finds an edit made with the sqlite3 CLI.
if [ "$all_records" -ge 1 ] && [ "$all_records" -lt 60 ] &&
  "$ctl" --control "$sock" audit verify >/dev/null; then
  lab_pass "the audit log holds $all_records control.refused records and its chain is intact"
else
  lab_fail "audit: $all_records control.refused records, or the chain is broken"
fi
if command -v sqlite3 >/dev/null && command -v openssl >/dev/null; then
  # An auditor's check of a checkpoint with OpenSSL alone: the daemon signs one when it
  # stops; the message is the documented canonical JSON.
  "$ctl" --control "$sock" audit pubkey >"$tmp/pubkey.pem"
  "$lab" daemon stop
  IFS='|' read -r cp_seq cp_time cp_sync cp_hash cp_sig cp_every < <(sqlite3 "$LAB_RUN_DIR/state/audit.db" \
    "SELECT seq, time, clock_synchronised, hash, signature, checkpoint_every FROM checkpoints ORDER BY seq DESC LIMIT 1")
  sync_word=$([ "$cp_sync" = 1 ] && echo true || echo false)
  printf '{"checkpoint_every":%s,"clock_synchronised":%s,"hash":"%s","seq":%s,"time":"%s"}' \
    "$cp_every" "$sync_word" "$cp_hash" "$cp_seq" "$cp_time" >"$tmp/checkpoint.json"
  python3 -c 'import sys; sys.stdout.buffer.write(bytes.fromhex(sys.argv[1]))' "$cp_sig" >"$tmp/sig"
  if openssl pkeyutl -verify -pubin -inkey "$tmp/pubkey.pem" -rawin -in "$tmp/checkpoint.json" \
    -sigfile "$tmp/sig" >/dev/null 2>&1; then
    lab_pass "the shutdown checkpoint (record $cp_seq) verifies with openssl pkeyutl alone"
  else
    lab_fail "openssl does not verify the checkpoint of record $cp_seq"
  fi
  "$lab" daemon start >/dev/null
  sqlite3 "$LAB_RUN_DIR/state/audit.db" "UPDATE records SET details = '{}' WHERE seq = 2"
  out=$("$ctl" --control "$sock" audit verify)
  if [ $? = 1 ] && echo "$out" | grep -q "record 2"; then
    lab_pass "an edit with the sqlite3 CLI is found: $out"
  else
    lab_fail "the edited audit log passed: $out"
  fi
fi

if verify_quiet && "$ctl" --control "$sock" status >/dev/null; then
  lab_pass "afterwards the daemon still answers and enforces"
else
  lab_fail "the daemon is unwell after the hostile clients"
fi
lab_finish
