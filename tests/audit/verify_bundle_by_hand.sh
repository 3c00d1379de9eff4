#!/usr/bin/env bash
# An auditor's check of an exported sekisho audit bundle (`sekishoctl audit export`) with
# standard tools only: bash, tar, gzip, sed, cut, sha256sum and openssl (3.0 or later).
# Nothing of sekisho's is used. This is the reference implementation of the procedure in
# docs/audit-format.md, "Exported bundles"; `sekishoctl audit verify --bundle` does the same.
# Bundles of the first form (a plain checkpoint as their seal, anchor not signed) are refused.
#
#   usage: verify_bundle_by_hand.sh BUNDLE PUBKEY
#   BUNDLE  the .tar.gz; PUBKEY  the device's public key (PEM, `sekishoctl audit pubkey`)
#   exit:   0 intact, 1 anything else (tampered, corrupt, unreadable), 2 usage
set -uo pipefail
export LC_ALL=C  # bytes, not characters: the records hold UTF-8 that sed must not interpret

if [ $# -ne 2 ]; then
  echo "usage: $0 BUNDLE PUBKEY" >&2
  exit 2
fi
bundle=$1
pubkey=$2
fail() {
  echo "TAMPERED: $*"
  exit 1
}
sha256_of_file() { # the hex SHA-256 of a file's bytes
  local sum
  sum=$(sha256sum <"$1") || return 1
  printf '%s' "${sum%% *}"
}

for file in "$bundle" "$pubkey"; do
  if ! [ -f "$file" ] || ! [ -r "$file" ]; then
    echo "NOT VERIFIED: cannot read $file" >&2
    exit 1
  fi
done

dir=$(mktemp -d) || exit 1
trap 'rm -rf "$dir"' EXIT
trap 'exit 1' HUP INT TERM

# 1. The gzip stream is whole: its CRC-32 and length match, and nothing follows it.
gzip -t <"$bundle" 2>/dev/null || fail "$bundle is not a whole gzip file (corrupt, truncated or extra bytes)"
echo "gzip stream: whole (CRC-32 and length checked)"

# 2. Exactly four regular files, in this order; nothing is extracted before that is known,
#    so a hostile name (../x, /etc/...) or a link never reaches the disk.
names=$(tar -tzf "$bundle" 2>/dev/null) || fail "$bundle is not a tar archive"
[ "$names" = $'anchor.json\nrecords.jsonl\ncheckpoint.json\ncheckpoint.sig' ] ||
  fail "the members are not exactly anchor.json, records.jsonl, checkpoint.json, checkpoint.sig"
types=$(tar -tvzf "$bundle" 2>/dev/null | cut -c1) || fail "$bundle is not a tar archive"
[ "$types" = $'-\n-\n-\n-' ] || fail "a member is not a regular file"
tar -xzf "$bundle" -C "$dir" --no-same-owner --no-same-permissions 2>/dev/null ||
  fail "$bundle cannot be extracted"
echo "archive: anchor.json records.jsonl checkpoint.json checkpoint.sig, regular files"

# 3. anchor.json: {"hash":"<64 hex>","seq":N}, exactly (no newline): the record before the
#    first exported one; seq 0 and 64 zeros when the export starts at the first record.
IFS= read -r -d '' anchor <"$dir/anchor.json"
[ "$(printf '%s' "$anchor" | sha256sum | cut -d' ' -f1)" = "$(sha256_of_file "$dir/anchor.json")" ] ||
  fail "anchor.json holds a NUL byte"
re_anchor='^\{"hash":"([0-9a-f]{64})","seq":(0|[1-9][0-9]{0,17})\}$'
[[ $anchor =~ $re_anchor ]] || fail 'anchor.json is not {"hash":"<64 hex digits>","seq":N}'
anchor_hash=${BASH_REMATCH[1]}
anchor_seq=${BASH_REMATCH[2]}
genesis=0000000000000000000000000000000000000000000000000000000000000000
if [ "$anchor_seq" = 0 ] && [ "$anchor_hash" != "$genesis" ]; then
  fail "anchor.json: seq 0 comes with the hash of 64 zeros"
fi
echo "anchor: seq $anchor_seq, hash $anchor_hash"

# 4. checkpoint.json: the export's seal, the signed message, exactly (no newline)
#    {"anchor_hash":"<64 hex>","anchor_seq":N,"clock_synchronised":true|false,
#     "format":"sekisho-export/2","hash":"<64 hex>","log_first_bad":null|N,"seq":N,
#     "since":"YYYY-MM-DDTHH:MM:SSZ","time":"YYYY-MM-DDTHH:MM:SSZ"}
#    It signs the anchor, so anchor.json must be the anchor it names: records dropped from
#    the front (and anchor.json moved after them) show here.
IFS= read -r -d '' checkpoint <"$dir/checkpoint.json"
[ "$(printf '%s' "$checkpoint" | sha256sum | cut -d' ' -f1)" = "$(sha256_of_file "$dir/checkpoint.json")" ] ||
  fail "checkpoint.json holds a NUL byte"
number='(0|[1-9][0-9]{0,17})'
utc='([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z)'
re_seal="^\\{\"anchor_hash\":\"([0-9a-f]{64})\",\"anchor_seq\":$number,\"clock_synchronised\":(true|false),\"format\":\"sekisho-export/2\",\"hash\":\"([0-9a-f]{64})\",\"log_first_bad\":(null|$number),\"seq\":$number,\"since\":\"$utc\",\"time\":\"$utc\"\\}\$"
if ! [[ $checkpoint =~ $re_seal ]]; then
  re_first_form='^\{"clock_synchronised":(true|false),"hash":"[0-9a-f]{64}","seq":[0-9]+,"time":"[^"\\]*"\}$'
  [[ $checkpoint =~ $re_first_form ]] &&
    fail "checkpoint.json is a plain log checkpoint: a bundle of the first form, whose anchor and start are not signed (records dropped from its front could not be told); export again"
  fail "checkpoint.json is not an export seal in canonical form"
fi
sealed_anchor_hash=${BASH_REMATCH[1]}
sealed_anchor_seq=${BASH_REMATCH[2]}
checkpoint_synchronised=${BASH_REMATCH[3]}
checkpoint_hash=${BASH_REMATCH[4]}
log_first_bad=${BASH_REMATCH[5]} # ${BASH_REMATCH[6]}: its number
checkpoint_seq=${BASH_REMATCH[7]}
since=${BASH_REMATCH[8]}
checkpoint_time=${BASH_REMATCH[9]}
[ "$sealed_anchor_seq" = "$anchor_seq" ] && [ "$sealed_anchor_hash" = "$anchor_hash" ] ||
  fail "anchor.json (seq $anchor_seq) is not the anchor the seal signs (seq $sealed_anchor_seq): records were added or removed at the front"
[ "$checkpoint_seq" -ge "$anchor_seq" ] ||
  fail "the seal's last record (seq $checkpoint_seq) is older than the anchor (seq $anchor_seq)"
echo "seal: records since $since, from after seq $anchor_seq to seq $checkpoint_seq"

# 5. records.jsonl is lines of text, each ending in a newline: read back line by line it is
#    the same bytes (bash's read would silently drop a NUL byte; a missing last newline
#    would leave the last line out of the walk).
records=$dir/records.jsonl
reread=$(while IFS= read -r line || [ -n "$line" ]; do printf '%s\n' "$line"; done <"$records" |
  sha256sum | cut -d' ' -f1)
[ "$reread" = "$(sha256_of_file "$records")" ] ||
  fail "records.jsonl is not lines of text each ending in a newline (a NUL byte, or no newline at the end)"

# 6. The chain walk: h = anchor hash; for each line, h = SHA-256(h ‖ line) as 64 hex digits
#    (the line without its newline); the seqs run anchor seq + 1, + 2, ... without a gap.
#    A record's seq is the number in its tail ,"seq":N,"time":"..."} (keys are sorted, so
#    seq and time come last); a line without that tail is "-".
sed -n 's/^.*,"seq":\([0-9][0-9]*\),"time":"[^"\\]*"}$/\1/p; t; s/.*/-/p' "$records" >"$dir/seqs" ||
  fail "records.jsonl cannot be read"
h=$anchor_hash
expect=$((anchor_seq + 1))
count=0
exec 3<"$records" 4<"$dir/seqs"
while IFS= read -r line <&3; do
  IFS= read -r seq <&4
  count=$((count + 1))
  [ "$seq" != - ] || fail "record $expect: line $count of records.jsonl is not a record"
  if [ "$seq" != "$expect" ]; then
    fail "record $expect: line $count holds seq $seq (records removed, inserted or reordered)"
  fi
  sum=$(printf '%s%s' "$h" "$line" | sha256sum)
  h=${sum%% *}  # sha256sum prints "HASH  -"
  expect=$((expect + 1))
done
exec 3<&- 4<&-
last=$((expect - 1))
if [ "$count" -gt 0 ]; then
  echo "records: $count, seq $((anchor_seq + 1))..$last without a gap"
else
  echo "records: none"
fi

# 7. The walk ends at the record the seal signs: same seq, same hash.
if [ "$last" -lt "$checkpoint_seq" ]; then
  fail "records $((last + 1))..$checkpoint_seq are missing: the bundle ends before the last record its seal signs"
fi
if [ "$last" -gt "$checkpoint_seq" ]; then
  fail "records $((checkpoint_seq + 1))..$last come after the last record the seal signs (seq $checkpoint_seq)"
fi
[ "$h" = "$checkpoint_hash" ] ||
  fail "the chain does not reach the signed hash: records were edited, added or removed"
echo "chain: reaches the sealed hash $h at seq $last"

# 8. The seal is signed by the device: Ed25519 over the bytes of checkpoint.json.
openssl pkeyutl -verify -pubin -inkey "$pubkey" -rawin -in "$dir/checkpoint.json" \
  -sigfile "$dir/checkpoint.sig" >/dev/null 2>&1 ||
  fail "the seal's signature does not verify with $pubkey"
if [ "$checkpoint_synchronised" = true ]; then
  clock="clock synchronised"
else
  clock="clock NOT synchronised: that time may be wrong"
fi
echo "seal: signed $checkpoint_time ($clock), signature verified with $pubkey"

# 9. The device's own check of its log when it exported (chain, checkpoints, every record
#    signed in time): null when it held.
[ "$log_first_bad" = null ] ||
  fail "the records are as the device exported them, but the device found its log broken at record $log_first_bad when it did"
echo "INTACT"
