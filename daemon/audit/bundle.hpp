#pragma once
// Exported audit bundles (docs/audit-format.md, "Exported bundles"): a gzip-compressed
// POSIX ustar archive of exactly four regular files, in this order,
//
//   anchor.json      {"hash":"<64 hex>","seq":N}: the record before the first exported one
//                    (seq 0 and 64 zeros when the export starts at seq 1)
//   records.jsonl    one canonical_json(record) per line, oldest first, each ending in "\n"
//   checkpoint.json  the export's seal, signed by the device, no newline:
//                    {"anchor_hash":"<64 hex>","anchor_seq":N,"clock_synchronised":B,
//                     "format":"sekisho-export/2","hash":"<64 hex>","log_first_bad":null|N,
//                     "seq":N,"since":"<UTC>","time":"<UTC>"}
//   checkpoint.sig   the raw 64-byte Ed25519 signature over checkpoint.json
//
// so that an auditor can check it with tar, sha256sum and openssl alone
// (tests/audit/verify_bundle_by_hand.sh). The chain walk: h = anchor.hash; for every line L,
// h = hex SHA-256(h ‖ L); the seqs run anchor.seq + 1, + 2, ... without a gap; h and the last
// seq must be the seal's, anchor.json the anchor it signs, and the signature must verify.
// Signing the anchor and `since` (the time the export was asked from) shows records dropped
// from the front; `log_first_bad` is the device's own check of its log when it exported
// (null: intact, time rule included). Bundles of the first form, whose checkpoint.json was a
// plain log checkpoint that signed neither, are refused.
//
// Nothing here throws on hostile input: the reader bounds every size, and the verifier takes
// any bytes.

#include <cstdint>
#include <memory>
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

// The parsed anchor.json, a log checkpoint (either form, audit_log.hpp) and an export's
// seal; nullopt unless the text is exactly the canonical form (keys sorted, no whitespace,
// no newline) with 64-lowercase-hex hashes and seqs from 0 to 2^62.
struct Anchor {
  std::int64_t seq = 0;
  std::string hash;
};
struct Checkpoint {
  std::int64_t seq = 0;
  std::string hash;
  std::string time;
  bool clock_synchronised = false;
  std::optional<std::int64_t> checkpoint_every;  // nullopt: the old form
};
inline constexpr const char* kExportFormat = "sekisho-export/2";
struct ExportSeal {
  Anchor anchor;
  std::string since;  // UTC text: what the export was asked from
  Checkpoint last;    // the last exported record's seq and hash; when and how it was signed
  std::optional<std::int64_t> log_first_bad;  // the device's check of its log: null when intact
};
std::string anchor_json(std::int64_t seq, const std::string& hash);
std::optional<Anchor> parse_anchor(std::string_view text);
std::optional<Checkpoint> parse_checkpoint(std::string_view text);
std::string export_json(const ExportSeal& seal);
std::optional<ExportSeal> parse_export(std::string_view text);

// The bundle of `records` (consecutive, oldest first, as AuditLog::records gives them) that
// follow the record (anchor_seq, anchor_hash): records.front().seq - 1 and
// records.front().previous, or the newest record's seq and hash for an export with no
// records. The seal names the last record's seq and stored hash (the anchor's when there are
// no records), `since`, the time it is signed at and the device's verdict on its log, and is
// signed by `signer`. Fails when the records do not run anchor_seq + 1, + 2, ... without a
// gap, when a record's details hold a float, or when nothing could be signed.
BundleResult make_bundle(std::int64_t anchor_seq, const std::string& anchor_hash,
                         const std::vector<Record>& records, const std::string& since,
                         const std::string& time, bool clock_synchronised,
                         std::optional<std::int64_t> log_first_bad, const Signer& signer);

// The .tar.gz bytes: the four members in order, mode 0644, uid/gid 0 ("root"), mtime the
// checkpoint time (also the gzip header's), deflate level 9. The same bundle gives the same
// bytes (with the same zlib). Empty when zlib fails (out of memory).
std::string encode_bundle(const Bundle& bundle);

// Writes encode_bundle(bundle) to a new PATH.new (0644; an existing one is removed, a link
// there is not followed), fsyncs it, renames it to `path` and fsyncs the directory: `path`
// is the old file or the whole new one, never a part. file_too_large when a member is over
// the reader's limits.
std::error_code write_bundle(const std::string& path, const Bundle& bundle);

// A bundle written as it is made, piece by piece, so that months of records never sit in
// memory at once: PATH.new (0644, a link there removed, not followed), then, at seal(),
// fsynced, renamed to PATH and the directory fsynced. The archive is the same as
// encode_bundle's. Destroyed before seal(), it removes PATH.new.
class BundleFileWriter {
 public:
  BundleFileWriter();
  ~BundleFileWriter();
  BundleFileWriter(const BundleFileWriter&) = delete;
  BundleFileWriter& operator=(const BundleFileWriter&) = delete;

  // `mtime`: the seal's time, for the tar and gzip headers.
  std::error_code open(const std::string& path, std::int64_t mtime);
  std::error_code anchor(std::string_view anchor_json);
  // records.jsonl: exactly `size` bytes follow, in lines that end in "\n".
  std::error_code begin_records(std::uint64_t size);
  std::error_code records(std::string_view lines);
  // checkpoint.json and checkpoint.sig, the end of the archive; then on the disk as PATH.
  std::error_code seal(std::string_view export_json, std::string_view signature);
  std::uint64_t bytes() const { return bytes_; }

 private:
  std::error_code member(const char* name, std::string_view content);
  std::error_code drain(bool all);

  struct State;
  std::unique_ptr<State> state_;
  std::string path_;
  std::string temporary_;
  int fd_ = -1;
  std::uint64_t records_left_ = 0;
  std::uint64_t records_size_ = 0;
  std::uint64_t bytes_ = 0;
};

// Limits of the reader. A bigger member is refused before it is read.
inline constexpr std::uint64_t kMaxRecordsBytes = 2ull << 30;  // records.jsonl: 2 GiB
inline constexpr std::uint64_t kMaxSmallMemberBytes = 4096;    // the other three
// One line of records.jsonl: a record is far smaller (a control request, the largest input
// that details come from, is at most 1 MiB).
inline constexpr std::uint64_t kMaxRecordLineBytes = 16ull << 20;

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

// The same check of the bundle file at `path`, read piece by piece: memory is bounded by
// the longest record line, not by the bundle. `seal` receives the seal once the chain and
// its signature hold (also when its log_first_bad fails the check). A file that cannot be
// read gives !ok and its reason.
VerifyResult verify_bundle_file(const std::string& path, const std::string& public_pem,
                                std::optional<ExportSeal>* seal = nullptr);

}  // namespace sekisho::audit
