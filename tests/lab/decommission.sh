#!/usr/bin/env bash
# Decommission with the real daemon: one sekishod per state directory (a second one exits
# 69); `sekishoctl decommission --yes` refuses while the daemon runs (by its lock, and by
# its control socket) and destroys nothing; once the daemon is stopped it exports the audit
# log, the export verifies offline with the public key written next to it (which is the
# key the daemon itself reports), and the state and configuration are gone. Bind mounts
# inside the directories (in a private mount namespace) are left with what they show.
set -u
bindir=$1
src=$2
. "$src/tests/lab/lab_test.sh"
lab_require_tools tar sha256sum openssl
lab_up
state=$LAB_RUN_DIR/state
sock=$LAB_RUN_DIR/control.sock
config=$tmp/etc
out=$tmp/export.tar.gz
mkdir -p "$config/keys" "$config/hooks"
cp "$LAB_RUN_DIR/policy.yaml" "$config/policy.yaml"
head -c 32 /dev/urandom | base64 >"$config/keys/wg0.key"
printf '#!/bin/sh\nexit 0\n' >"$config/hooks/h"

# A snapshot of what decommission must leave alone while it refuses: the configuration by
# content, the state by name (the running daemon may append to its own audit log).
snapshot() {
  (cd "$config" && find . -type f -exec sha256sum {} + | sort)
  (cd "$state" && find . -type f ! -name 'audit.db*' | sort)
}

# One sekishod per state directory.
in_gw timeout 20 "$bindir/sekishod" --policy "$LAB_RUN_DIR/policy.yaml" --state-dir "$state" \
  --control "$tmp/second.sock" >"$tmp/second.log" 2>&1
rc=$?
if [ $rc = 69 ] &&
  grep -q "another sekishod is using $state (it holds $state/sekishod.lock)" "$tmp/second.log"; then
  lab_pass "a second sekishod on $state exits 69 and says another sekishod uses it"
else
  lab_fail "second sekishod: exit $rc: $(cat "$tmp/second.log")"
fi
starts=$("$ctl" --control "$sock" audit show --kind daemon.start --json |
  python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
if kill -0 "$("$lab" daemon pid)" && verify_quiet && [ "$starts" = 1 ]; then
  lab_pass "the first one still enforces its policy; the audit log has one daemon.start"
else
  lab_fail "after the second sekishod: daemon alive/verify/daemon.start count $starts"
fi

# Decommission while the daemon runs: refused, nothing destroyed.
"$ctl" audit pubkey --control "$sock" >"$tmp/device.pem"
before=$(snapshot)
"$ctl" decommission --yes --state-dir "$state" --config-dir "$config" --control "$tmp/none.sock" \
  --out "$out" >"$tmp/out" 2>&1
rc=$?
if [ $rc = 65 ] && grep -q "sekishod is running (it holds $state/sekishod.lock)" "$tmp/out" &&
  [ "$(snapshot)" = "$before" ] && [ ! -e "$out" ]; then
  lab_pass "decommission while sekishod holds the lock: 65, nothing destroyed"
else
  lab_fail "decommission under the daemon's lock: exit $rc: $(cat "$tmp/out")"
fi
mkdir "$tmp/other-state"
"$ctl" decommission --yes --state-dir "$tmp/other-state" --config-dir "$config" --control "$sock" \
  --out "$out" >"$tmp/out" 2>&1
rc=$?
if [ $rc = 65 ] && grep -q "it answers on $sock" "$tmp/out" && [ "$(snapshot)" = "$before" ] &&
  [ -d "$tmp/other-state" ] && [ ! -e "$out" ]; then
  lab_pass "decommission while sekishod answers on its control socket: 65, nothing destroyed"
else
  lab_fail "decommission beside a running daemon: exit $rc: $(cat "$tmp/out")"
fi

# Stopped: the export, then nothing left.
"$lab" daemon stop
records=$(python3 - "$state/audit.db" <<'EOF'
import sqlite3, sys
print(sqlite3.connect(sys.argv[1]).execute("SELECT COUNT(*) FROM records").fetchone()[0])
EOF
)
start=$(now_ms)
"$ctl" decommission --yes --state-dir "$state" --config-dir "$config" --control "$sock" \
  --out "$out" >"$tmp/out" 2>"$tmp/err"
rc=$?
took=$(($(now_ms) - start))
if [ $rc = 0 ] && [ ! -e "$state" ] && [ ! -e "$config" ]; then
  lab_pass "decommission after 'lab daemon stop': exit 0 in $took ms, $state and $config are gone"
else
  lab_fail "decommission of a stopped gateway: exit $rc: $(cat "$tmp/out" "$tmp/err")"
fi
if "$ctl" audit verify --bundle "$out" --pubkey "$out.pub.pem" >"$tmp/verify" 2>&1; then
  lab_pass "the export verifies with $out.pub.pem: $(cat "$tmp/verify")"
else
  lab_fail "the export does not verify: $(cat "$tmp/verify")"
fi
if cmp -s "$tmp/device.pem" "$out.pub.pem" &&
  bash "$src/tests/audit/verify_bundle_by_hand.sh" "$out" "$tmp/device.pem" >/dev/null 2>&1; then
  lab_pass "the written public key is the one the daemon reported; tar/sha256sum/openssl agree"
else
  lab_fail "the public key written differs from 'audit pubkey', or the by-hand check failed"
fi
mkdir "$tmp/bundle"
tar -xzf "$out" -C "$tmp/bundle"
lines=$(wc -l <"$tmp/bundle/records.jsonl")
if [ "$lines" = $((records + 1)) ] && tail -1 "$tmp/bundle/records.jsonl" | grep -q '"kind":"decommission"' &&
  grep -q "$(sha256sum "$out" | cut -c1-64)" "$tmp/out" &&
  grep -q "overwritten+unlinked  $config/keys/wg0.key" "$tmp/out" &&
  grep -q "blkdiscard --secure" "$tmp/out"; then
  lab_pass "the export holds all $records records and the decommission record; the report names the bundle's SHA-256, the key overwritten, the flash caveat"
else
  lab_fail "export content or report: $lines lines for $records records: $(cat "$tmp/out")"
fi
if [ "$(stat -c %a "$out")" = 600 ]; then
  lab_pass "the export is 0600"
else
  lab_fail "the export's mode is $(stat -c %a "$out")"
fi

# Bind mounts inside the directories, of a directory and of a key file from outside: in a
# mount namespace of its own, so nothing outside the test sees them. Decommission enters
# neither, lists both, and destroys the rest (no broker store: this machine's own
# /var/lib/sekisho-broker would be listed too).
other=$tmp/mounted
mkdir -p "$other/etc/keys" "$other/etc/mnt" "$other/state" "$other/outside/dir"
printf 'kept\n' >"$other/outside/dir/file"
printf 'outside key\n' >"$other/outside/tls.key"
printf 'gateway key\n' >"$other/etc/keys/wg0.key"
: >"$other/etc/keys/mounted.key"
unshare --mount --propagation private sh -c "
  mount --bind '$other/outside/dir' '$other/etc/mnt' &&
  mount --bind '$other/outside/tls.key' '$other/etc/keys/mounted.key' &&
  '$ctl' decommission --yes --state-dir '$other/state' --config-dir '$other/etc' \
    --control '$tmp/none.sock' --broker-store '$tmp/no-broker-store' \
    --out '$tmp/mounted.tar.gz'" >"$tmp/mounted.out" 2>&1
rc=$?
if [ $rc = 0 ] && [ "$(cat "$other/outside/dir/file")" = kept ] &&
  [ "$(cat "$other/outside/tls.key")" = "outside key" ] && [ ! -e "$other/etc/keys/wg0.key" ] &&
  [ ! -e "$other/state" ] && grep -q "left 2 untouched:" "$tmp/mounted.out" &&
  grep -q "^  $other/etc/mnt: a mount point" "$tmp/mounted.out" &&
  grep -q "^  $other/etc/keys/mounted.key: a mount point" "$tmp/mounted.out"; then
  lab_pass "bind mounts inside the directories: not entered, listed, what they show intact"
else
  lab_fail "bind mounts inside the directories: exit $rc: $(cat "$tmp/mounted.out")"
fi

lab_finish
