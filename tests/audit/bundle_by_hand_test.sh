#!/usr/bin/env bash
# Real exported bundles checked by hand (verify_bundle_by_hand.sh: tar, gzip, sha256sum,
# openssl) and by sekisho's reader, which must agree: the bundles as exported are intact,
# and every tampered copy (a flipped byte, an edited, removed, swapped or added line, a NUL
# byte, another key, a rewritten chain, extra or reordered members) is not.
#
#   usage: bundle_by_hand_test.sh MAKE_TEST_BUNDLE VERIFY_BUNDLE_BY_HAND SEKISHOCTL
set -euo pipefail
tool=$1
by_hand=$2
ctl=$3

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trap 'exit 1' HUP INT TERM

"$tool" "$work"
pubkey=$work/pubkey.pem
failures=0

# expect CODE WHAT BUNDLE [PUBKEY]: both checkers exit CODE for BUNDLE.
expect() {
  local want=$1 what=$2 bundle=$3 key=${4:-$pubkey} got output
  for checker in by-hand sekisho; do
    set +e
    if [ "$checker" = by-hand ]; then
      output=$(bash "$by_hand" "$bundle" "$key" 2>&1)
    else
      output=$("$ctl" audit verify --bundle "$bundle" --pubkey "$key" 2>&1)
    fi
    got=$?
    set -e
    if [ "$got" -eq "$want" ]; then
      echo "ok   $checker: $what -> $got ($(printf '%s\n' "$output" | sed -n '$p'))"
    else
      echo "FAIL $checker: $what -> $got, expected $want"
      printf '%s\n' "$output" | sed 's/^/     /'
      failures=$((failures + 1))
    fi
  done
}

# A copy of BUNDLE with the byte at POSITION inverted.
flip() {
  local bundle=$1 position=$2 out=$3 byte
  cp "$bundle" "$out"
  byte=$(od -An -tu1 -j "$position" -N1 "$bundle" | tr -d ' ')
  printf "\\$(printf '%03o' $((255 - byte)))" |
    dd of="$out" bs=1 seek="$position" conv=notrunc status=none
}

# Extracts BUNDLE into a fresh directory and prints its path.
unpack() {
  local into
  into=$(mktemp -d "$work/unpacked.XXXXXX")
  tar -xzf "$1" -C "$into"
  printf '%s' "$into"
}

# Packs DIR's four files (or the names given) into OUT, as an auditor's GNU tar would.
repack() {
  local from=$1 out=$2 format=$3
  shift 3
  local names=("$@")
  [ ${#names[@]} -gt 0 ] || names=(anchor.json records.jsonl checkpoint.json checkpoint.sig)
  tar --format="$format" -C "$from" -czf "$out" "${names[@]}"
}

expect 0 "the full export" "$work/full.tar.gz"
expect 0 "an export from record 101 on" "$work/tail.tar.gz"
expect 0 "an export with no records" "$work/empty.tar.gz"
expect 1 "another device's public key" "$work/full.tar.gz" "$work/other.pem"
expect 1 "sealed by a device that found its log broken" "$work/broken.tar.gz"
expect 1 "a bundle of the first form (its anchor not signed)" "$work/first-form.tar.gz"

size=$(stat -c %s "$work/full.tar.gz")
# Every 61st byte or so, and the gzip trailer (CRC-32, length). The gzip header's MTIME,
# XFL and OS (bytes 4..9) are covered by no checksum and change nothing that is read.
for position in 0 1 2 3 $(seq 10 $(((size - 10) / 64 + 1)) $((size - 9))) $((size - 8)) \
  $((size - 5)) $((size - 4)) $((size - 1)); do
  flip "$work/full.tar.gz" "$position" "$work/flipped.tar.gz"
  expect 1 "byte $position of $size flipped" "$work/flipped.tar.gz"
done

head -c $((size / 2)) "$work/full.tar.gz" >"$work/truncated.tar.gz"
expect 1 "a truncated file" "$work/truncated.tar.gz"
{ cat "$work/full.tar.gz"; printf 'x'; } >"$work/trailing.tar.gz"
expect 1 "a byte after the gzip stream" "$work/trailing.tar.gz"

# Repacked untouched by GNU tar: the same evidence, so both still say intact.
dir=$(unpack "$work/full.tar.gz")
repack "$dir" "$work/repacked.tar.gz" ustar
expect 0 "repacked by GNU tar (ustar)" "$work/repacked.tar.gz"
repack "$dir" "$work/repacked-gnu.tar.gz" gnu
expect 0 "repacked by GNU tar (gnu format)" "$work/repacked-gnu.tar.gz"

# tamper NAME SED-SCRIPT [FILE]: FILE (records.jsonl) edited with sed, then repacked.
tamper() {
  local what=$1 script=$2 file=${3:-records.jsonl} copy
  copy=$(unpack "$work/full.tar.gz")
  sed -i "$script" "$copy/$file"
  repack "$copy" "$work/tampered.tar.gz" ustar
  expect 1 "$what" "$work/tampered.tar.gz"
}
tamper "an edited line" '10s/"n":9/"n":99/'
tamper "an edited user name" '12s/"user":"[^"]*"/"user":"mallory"/'
tamper "a removed line" '50d'
tamper "the last line removed" '$d'
tamper "the first line removed" '1d'
tamper "a swapped pair" '20{h;d};21G'
tamper "a duplicated line" '30p'
tamper "a line appended" '$p'
tamper "an empty line" '40s/^.*$//'
tamper "whitespace at the end of a line" '60s/$/ /'
tamper "a CR at the end of a line" '60s/$/\r/'
tamper "a NUL byte in a line" '70s/"n"/"\x00n"/'
copy=$(unpack "$work/full.tar.gz")
printf '%s' "$(<"$copy/records.jsonl")" >"$copy/records.jsonl.new"
mv "$copy/records.jsonl.new" "$copy/records.jsonl"
repack "$copy" "$work/tampered.tar.gz" ustar
expect 1 "no newline after the last line" "$work/tampered.tar.gz"
tamper "the anchor's seq" 's/"seq":0/"seq":1/' anchor.json
tamper "the seal's since" 's/"since":"2026-11-01/"since":"2020-01-01/' checkpoint.json
tamper "the seal's anchor" 's/"anchor_seq":0/"anchor_seq":1/' checkpoint.json

# Records dropped from the front: the first five lines removed and anchor.json moved to the
# last one removed, so that the chain from there still reaches the sealed hash. The seal
# signs the anchor it started from.
copy=$(unpack "$work/full.tar.gz")
h=0000000000000000000000000000000000000000000000000000000000000000
for line in $(seq 1 5); do
  sum=$(sed -n "${line}p" "$copy/records.jsonl" | tr -d '\n' | { printf '%s' "$h"; cat; } | sha256sum)
  h=${sum%% *}
done
sed -i '1,5d' "$copy/records.jsonl"
printf '{"hash":"%s","seq":5}' "$h" >"$copy/anchor.json"
repack "$copy" "$work/tampered.tar.gz" ustar
expect 1 "the first records dropped, the anchor moved after them" "$work/tampered.tar.gz"
tamper "a newline after the anchor" '$s/$/\n/' anchor.json
tamper "the seal's time" 's/"time":"2026-11-25/"time":"2026-11-26/' checkpoint.json
tamper "the seal's clock flag" 's/:true/:false/' checkpoint.json

# A rewritten chain: a line edited and the seal's hash recomputed by hand, the old
# signature kept.
copy=$(unpack "$work/full.tar.gz")
sed -i '5s/"n":4/"n":44/' "$copy/records.jsonl"
h=0000000000000000000000000000000000000000000000000000000000000000
while IFS= read -r line; do
  sum=$(printf '%s%s' "$h" "$line" | sha256sum)
  h=${sum%% *}
done <"$copy/records.jsonl"
sed -i "s/,\"hash\":\"[0-9a-f]*\"/,\"hash\":\"$h\"/" "$copy/checkpoint.json"
repack "$copy" "$work/tampered.tar.gz" ustar
expect 1 "a rewritten chain with the old signature" "$work/tampered.tar.gz"

# Members: out of order, an extra one, one missing, a symlink.
copy=$(unpack "$work/full.tar.gz")
repack "$copy" "$work/tampered.tar.gz" ustar records.jsonl anchor.json checkpoint.json \
  checkpoint.sig
expect 1 "members out of order" "$work/tampered.tar.gz"
echo evil >"$copy/evil.sh"
repack "$copy" "$work/tampered.tar.gz" ustar anchor.json records.jsonl checkpoint.json \
  checkpoint.sig evil.sh
expect 1 "an extra member" "$work/tampered.tar.gz"
repack "$copy" "$work/tampered.tar.gz" ustar anchor.json records.jsonl checkpoint.json
expect 1 "no signature" "$work/tampered.tar.gz"
mv "$copy/anchor.json" "$copy/anchor.real"
ln -s anchor.real "$copy/anchor.json"
repack "$copy" "$work/tampered.tar.gz" ustar
expect 1 "a symlink member" "$work/tampered.tar.gz"

expect 1 "not a bundle at all" "$pubkey"

if [ "$failures" -gt 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all checks passed"
