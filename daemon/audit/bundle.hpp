#pragma once
// Exported audit bundles (docs/audit-format.md, "Exported bundles"): a gzip-compressed
// POSIX ustar archive of exactly four regular files, in this order,
//
//   anchor.json      {"hash":"<64 hex>","seq":N}: the record before the first exported one
//                    (seq 0 and 64 zeros when the export starts at seq 1)
//   records.jsonl    one canonical_json(record) per line, oldest first, each ending in "\n"
//   checkpoint.json  checkpoint_json(seq, hash, time, clock_synchronised) of the last
//                    exported record: the signed message, no newline
//   checkpoint.sig   the raw 64-byte Ed25519 signature over checkpoint.json
//
// so that an auditor can check it with tar, sha256sum and openssl alone
// (tests/audit/verify_bundle_by_hand.sh). The chain walk: h = anchor.hash; for every line L,
// h = hex SHA-256(h ‖ L); the seqs run anchor.seq + 1, + 2, ... without a gap; h and the last
// seq must be the checkpoint's, and the signature must verify.
//
// Nothing here throws on hostile input: the reader bounds every size, and the verifier takes
// any bytes.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "daemon/audit/audit_log.hpp"

namespace sekisho::audit {

class Signer;

// The four files' contents, as they are in the archive. records.jsonl is kept as one text
// (its lines each end in "\n"): a hostile file of short lines costs no more memory than its
// size.
struct Bundle {
  std::string anchor_json;
  std::string records_jsonl;
  std::string checkpoint_json;
  std::string signature;  // 64 raw bytes
};

// A bundle, or why there is none. `io_error` is set when the file itself could not be
// opened, read or written (missing, permission, full disk): a fault of the machine, not a
// property of the bundle. Otherwise `error` says what is wrong with the bytes: "not a gzip
// file", "corrupt: CRC error", "missing records.jsonl", "unexpected member x", ...
struct BundleResult {
  std::optional<Bundle> bundle;
  std::string error;
  std::error_code io_error;
};

// The parsed anchor.json and checkpoint.json; nullopt unless the text is exactly the
// canonical form (keys sorted, no whitespace, no newline) with a 64-lowercase-hex hash and a
// seq from 0 to 2^62.
struct Anchor {
  std::int64_t seq = 0;
  std::string hash;
};
struct Checkpoint {
  std::int64_t seq = 0;
  std::string hash;
  std::string time;
  bool clock_synchronised = false;
};
std::string anchor_json(std::int64_t seq, const std::string& hash);
std::optional<Anchor> parse_anchor(std::string_view text);
std::optional<Checkpoint> parse_checkpoint(std::string_view text);

// The bundle of `records` (consecutive, oldest first, as AuditLog::records gives them) that
// follow the record (anchor_seq, anchor_hash): records.front().seq - 1 and
// records.front().previous, or the newest record's seq and hash for an export with no records.
// The checkpoint is the last record's seq and stored hash (the anchor's when there are no
// records) at `checkpoint_time`, and `signature_hex` its signature, as a stored checkpoint
// holds it; the Signer overload signs it. Fails when the records do not run anchor_seq + 1,
// + 2, ... without a gap, when a record's details hold a float, or when the signature is not
// 128 hex digits.
BundleResult make_bundle(std::int64_t anchor_seq, const std::string& anchor_hash,
                         const std::vector<Record>& records, const std::string& checkpoint_time,
                         bool clock_synchronised, const std::string& signature_hex);
BundleResult make_bundle(std::int64_t anchor_seq, const std::string& anchor_hash,
                         const std::vector<Record>& records, const std::string& checkpoint_time,
                         bool clock_synchronised, const Signer& signer);

// The .tar.gz bytes: the four members in order, mode 0644, uid/gid 0 ("root"), mtime the
// checkpoint time (also the gzip header's), deflate level 9. The same bundle gives the same
// bytes (with the same zlib). Empty when zlib fails (out of memory).
std::string encode_bundle(const Bundle& bundle);

// Writes encode_bundle(bundle) to a new PATH.new (0644; an existing one is removed, a link
// there is not followed), fsyncs it, renames it to `path` and fsyncs the directory: `path`
// is the old file or the whole new one, never a part. file_too_large when a member is over
// the reader's limits.
std::error_code write_bundle(const std::string& path, const Bundle& bundle);

// Limits of the reader. A bigger member is refused before it is read.
inline constexpr std::uint64_t kMaxRecordsBytes = 2ull << 30;  // records.jsonl: 2 GiB
inline constexpr std::uint64_t kMaxSmallMemberBytes = 4096;    // the other three

// Reads a bundle: the gzip stream must be whole (CRC and length checked, nothing after it),
// the archive ustar with valid header checksums, the four members regular files with exactly
// those names, each once, in that order, followed by the end-of-archive zero blocks (more
// zero padding is accepted, as GNU tar writes; so is GNU tar's "ustar  " magic). The contents
// are left to verify_bundle. Tar metadata (mode, owner, mtime) and the gzip header's (mtime,
// OS) are not checked: they are not part of the evidence.
BundleResult read_bundle(const std::string& path);
BundleResult decode_bundle(std::string_view gzip_bytes);

// What an auditor checks (see the top of this file), against the public key `public_pem`.
// `records` counts the record lines walked; `first_bad` names the first sequence number that
// breaks where it can be told: a gap or a reordering, a line that is not a canonical record
// (the seq that line should have had), records removed from the end (the first missing) or
// added after the checkpoint (the first one after it). An edit that keeps the form is found
// only at the end, as a chain that does not reach the signed checkpoint: no first_bad then.
VerifyResult verify_bundle(const Bundle& bundle, const std::string& public_pem);

}  // namespace sekisho::audit
