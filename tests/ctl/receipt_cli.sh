#!/usr/bin/env bash
# `sekishoctl audit verify --receipt FILE [--pubkey FILE] [--json]` as the vendor runs it:
# the built binary, offline (the control socket named does not exist), on a receipt made
# from a real audit log. Exit 0 verifies, 1 does not, 2 bad command line or unreadable file.
#
#   usage: receipt_cli.sh SEKISHOCTL MAKE_TEST_RECEIPT
set -u
ctl=$1
make_receipt=$2

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trap 'exit 1' HUP INT TERM

if ! "$make_receipt" "$work"; then
  echo "FAIL: $make_receipt could not make the receipt"
  exit 1
fi
receipt=$work/receipt.json
pubkey=$work/pubkey.pem
offline=(--control "$work/no-daemon.sock")
passed=0
failed=0

# expect CODE WHAT -- COMMAND...: runs COMMAND, keeps stdout and stderr in $work.
expect() {
  local want=$1 what=$2
  shift 3
  "$@" >"$work/out" 2>"$work/err"
  local got=$?
  if [ "$got" -eq "$want" ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL: $what: exit $got, expected $want"
    sed 's/^/  out: /' "$work/out"
    sed 's/^/  err: /' "$work/err"
  fi
}
# has FILE TEXT WHAT: FILE (out or err) holds the fixed string TEXT.
has() {
  if grep -qF -- "$2" "$work/$1"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL: $3: '$2' not in $1:"
    sed 's/^/  /' "$work/$1"
  fi
}
empty() {
  if [ ! -s "$work/$1" ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL: $2: $1 is not empty:"
    sed 's/^/  /' "$work/$1"
  fi
}
# A copy of the receipt with sed's EXPRESSION applied.
tampered() {
  sed -e "$1" "$receipt" >"$work/tampered.json"
  if cmp -s "$receipt" "$work/tampered.json"; then
    echo "FAIL: the test's sed expression '$1' changed nothing"
    failed=$((failed + 1))
  fi
}

# The fingerprint, as documented: SHA-256 of the key's DER form, with standard tools.
fingerprint=sha256:$(openssl pkey -pubin -in "$pubkey" -outform DER | sha256sum | cut -d' ' -f1)

expect 0 "the receipt, pinned to the device's key" -- \
  "$ctl" "${offline[@]}" audit verify --receipt "$receipt" --pubkey "$pubkey"
has out "receipt verifies: 4 records in 3 signed checkpoints, key $fingerprint" "the summary"
has out "2 2026-11-25T10:01:00Z yamada (operator) session.open deadline=2026-11-25T11:01:00Z peer=vendor-a reason=\"ticket 4711 \\u001b[31mred\\u202e\" session=s-1 target=plc-1" \
  "the open record, its escape sequence and bidi override escaped"
has out "3 2026-11-25T10:30:00Z yamada (operator) session.extend deadline=2026-11-25T11:31:00Z session=s-1" \
  "the extend record"
has out "4 2026-11-25T11:31:00Z sekishod (daemon) session.close bytes={\"in\":123456,\"out\":7890} session=s-1 why=expired" \
  "the close record"
has out "5 2026-11-25T11:32:00Z root (admin) policy.apply n=5" "the record that travels with the close"
has out "note: the device's clock was not synchronised when it signed the checkpoint of record 5" \
  "an unsynchronised clock is noted"
empty err "a pinned receipt"
if LC_ALL=C grep -q $'\x1b' "$work/out"; then
  failed=$((failed + 1))
  echo "FAIL: an escape character reached the terminal"
else
  passed=$((passed + 1))
fi

expect 0 "the receipt, with the key it carries" -- "$ctl" audit verify --receipt "$receipt"
has out "receipt verifies: 4 records in 3 signed checkpoints, key $fingerprint" "unpinned summary"
has err "warning: no --pubkey" "a receipt checked with its own key is warned about"

expect 0 "--json" -- "$ctl" --json audit verify --receipt "$receipt" --pubkey "$pubkey"
if python3 - "$work/out" "$fingerprint" <<'EOF'; then
import json, sys
out = json.load(open(sys.argv[1]))
assert out["ok"] is True and out["key_pinned"] is True and out["reason"] == ""
assert out["key_fingerprint"] == sys.argv[2]
assert [r["seq"] for r in out["records"]] == [2, 3, 4, 5]
assert [c["seq"] for c in out["checkpoints"]] == [2, 3, 5]
assert out["records"][0]["details"]["peer"] == "vendor-a"
assert out["records"][0]["actor"] == {"uid": 1000, "user": "yamada", "role": "operator"}
assert out["checkpoints"][2]["clock_synchronised"] is False
EOF
  passed=$((passed + 1))
else
  failed=$((failed + 1))
  echo "FAIL: --json output:"
  sed 's/^/  /' "$work/out"
fi
empty err "--json, pinned"

# The recipe of docs/audit-format.md ("Checking a receipt by hand"), with jq, sha256sum,
# xxd and openssl: it must agree with sekishoctl.
# signed R SEGMENT WHICH KEY: the segment's anchor or checkpoint verifies with KEY.
signed() {
  jq -cj --sort-keys ".segments[$2].$3 | del(.signature)" "$1" >"$work/msg"
  jq -r ".segments[$2].$3.signature" "$1" | xxd -r -p >"$work/sig"
  openssl pkeyutl -verify -pubin -inkey "$4" -rawin -in "$work/msg" \
    -sigfile "$work/sig" >/dev/null
}
by_hand() {
  local r=$1 key=$2 covered=0 i h n seq line first
  [ "$(jq -r .format "$r")" = sekisho-receipt/2 ] || return 1
  for i in $(seq 0 $(($(jq '.segments | length' "$r") - 1))); do
    h=$(jq -r ".segments[$i].previous" "$r")
    n=""
    while IFS= read -r line; do
      seq=$(printf '%s' "$line" | jq .seq)
      [ "$seq" -eq "${n:-$seq}" ] && [ "$seq" -gt "$covered" ] || return 1
      n=$((seq + 1))
      h=$(printf '%s%s' "$h" "$line" | sha256sum | cut -d' ' -f1)
    done < <(jq -r ".segments[$i].records[]" "$r")
    first=$(jq -r ".segments[$i].records[0] | fromjson | .seq" "$r")
    # Where it starts is signed: the anchor is the checkpoint of the record before the
    # first (none only for a segment from record 1, from 64 zeros).
    if [ "$(jq ".segments[$i].anchor" "$r")" = null ]; then
      [ "$first" = 1 ] && [ "$(jq -r ".segments[$i].previous" "$r")" = "$(printf '0%.0s' $(seq 64))" ] ||
        return 1
    else
      [ "$(jq -r ".segments[$i].anchor | \"\\(.seq) \\(.hash)\"" "$r")" = \
        "$((first - 1)) $(jq -r ".segments[$i].previous" "$r")" ] || return 1
      signed "$r" "$i" anchor "$key" || return 1
    fi
    [ "$(jq -r ".segments[$i].checkpoint | \"\\(.seq) \\(.hash)\"" "$r")" = "$((n - 1)) $h" ] ||
      return 1
    signed "$r" "$i" checkpoint "$key" || return 1
    covered=$((n - 1))
  done
}
if command -v jq >/dev/null && command -v xxd >/dev/null; then
  if [ "$(jq -r .key_fingerprint "$receipt")" = "$fingerprint" ] && by_hand "$receipt" "$pubkey"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL: the receipt does not verify by hand (docs/audit-format.md)"
  fi
  sed -e 's/vendor-a/vendor-b/' "$receipt" >"$work/by-hand.json"
  if by_hand "$work/by-hand.json" "$pubkey" 2>/dev/null ||
    by_hand "$receipt" "$work/other.pem" 2>/dev/null; then
    failed=$((failed + 1))
    echo "FAIL: by hand, an edited receipt or another key verifies"
  else
    passed=$((passed + 1))
  fi
  # The last segment (records 4 and 5) without its first record, made to start from its
  # hash: the chain still reaches the checkpoint, but not from where the anchor signs.
  jq --arg h "$(jq -r '.segments[2].records[0]' "$receipt" |
    { printf '%s' "$(jq -r '.segments[2].previous' "$receipt")"; cat; } | tr -d '\n' |
    sha256sum | cut -d' ' -f1)" \
    '.segments[2].records |= .[1:] | .segments[2].previous = $h' "$receipt" >"$work/front.json"
  if by_hand "$work/front.json" "$pubkey" 2>/dev/null ||
    "$ctl" audit verify --receipt "$work/front.json" --pubkey "$pubkey" >/dev/null 2>&1; then
    failed=$((failed + 1))
    echo "FAIL: a record dropped from a segment's front verifies"
  else
    passed=$((passed + 1))
  fi
else
  echo "skip: the by-hand recipe (jq or xxd is not installed)"
fi

# Not verified: exit 1.
expect 1 "another device's key" -- \
  "$ctl" audit verify --receipt "$receipt" --pubkey "$work/other.pem"
has out "does NOT verify: the receipt carries the key $fingerprint, not the pinned key" \
  "another key is named"
empty err "a receipt that does not verify"
tampered 's/vendor-a/vendor-b/'
expect 1 "another peer written into the open record" -- \
  "$ctl" audit verify --receipt "$work/tampered.json" --pubkey "$pubkey"
has out "segment 1 (record 2) does not hash to its checkpoint's hash" "an edit is found"
expect 1 "the same, unpinned" -- "$ctl" audit verify --receipt "$work/tampered.json"
tampered 's/"time\\":\\"2026-11-25T11:31:00Z/"time\\":\\"2026-11-25T11:59:00Z/'
expect 1 "the close moved later" -- "$ctl" audit verify --receipt "$work/tampered.json"
has out "segment 3 (records 4..5) does not hash to its checkpoint's hash" "a moved time is found"
# The fingerprint with its first digit changed.
tampered "s/$fingerprint/sha256:$([ "${fingerprint:7:1}" = 0 ] && echo 1 || echo 0)${fingerprint:8}/"
expect 1 "a wrong fingerprint" -- "$ctl" audit verify --receipt "$work/tampered.json"
has out "is not that of its public_key" "a wrong fingerprint is named"
printf 'not a receipt\n' >"$work/garbage.json"
expect 1 "not JSON" -- "$ctl" audit verify --receipt "$work/garbage.json"
has out "does NOT verify: not JSON" "not JSON"
expect 1 "a bundle's key given as a receipt" -- "$ctl" audit verify --receipt "$pubkey"

# Nothing checked: exit 2.
expect 2 "a missing receipt" -- "$ctl" audit verify --receipt "$work/missing.json" --pubkey "$pubkey"
has err "cannot read the receipt $work/missing.json: No such file or directory" "missing file"
empty out "a missing receipt"
expect 2 "a directory as the receipt" -- "$ctl" audit verify --receipt "$work"
expect 2 "a missing --pubkey file" -- "$ctl" audit verify --receipt "$receipt" --pubkey "$work/missing.pem"
expect 2 "the receipt as --pubkey" -- "$ctl" audit verify --receipt "$receipt" --pubkey "$receipt"
has err "is not an Ed25519 public key" "a key that is none"
expect 2 "--receipt and --bundle" -- \
  "$ctl" audit verify --receipt "$receipt" --bundle "$receipt" --pubkey "$pubkey"
expect 2 "--receipt without a value" -- "$ctl" audit verify --receipt
expect 2 "an extra argument" -- "$ctl" audit verify extra --receipt "$receipt"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
