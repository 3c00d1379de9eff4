#pragma once
// Session receipts (docs/audit-format.md, "Session receipts"): a few records of the audit
// log, with the signed checkpoints that cover them, that an outside vendor or an auditor can
// check offline with the device's public key. A jump session's receipt covers its
// session.open, session.extend and session.close records.
//
//   {"format":"sekisho-receipt/2",
//    "public_key":"<PEM SubjectPublicKeyInfo>",
//    "key_fingerprint":"sha256:<64 hex: SHA-256 of the key's DER SubjectPublicKeyInfo>",
//    "segments":[{"anchor":null | <signed checkpoint of the record before the first>,
//                 "previous":"<64 hex>",
//                 "records":["<canonical_json of a record>", ...],
//                 "checkpoint":<signed checkpoint of the last record>}, ...]}
//   signed checkpoint: {"checkpoint_every":N (absent in the old form),"clock_synchronised":B,
//                       "hash":"<64 hex>","seq":N,"time":"...","signature":"<128 hex>"}
//
// A segment is the chain from one signed checkpoint (its anchor) to the next one at or after
// a covered record: `previous` is the anchor's hash (64 zeros, and no anchor, for a segment
// that starts at record 1); the records run on without a gap to the checkpoint's record;
// hashing them from `previous` (record_hash) must give the checkpoint's hash, and both
// signatures are over checkpoint_json. Since both ends are signed, no record can be dropped
// from a segment's front. Segments are in ascending order and do not overlap. A segment holds
// more than the covered record when the checkpoints around it are further apart: those
// records travel with it.
//
// Nothing here throws on hostile input.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "daemon/audit/audit_log.hpp"
#include "daemon/audit/bundle.hpp"

namespace sekisho::audit {

inline constexpr const char* kReceiptFormat = "sekisho-receipt/2";

// "sha256:" and the lowercase hex SHA-256 of the key's DER SubjectPublicKeyInfo (as
// `openssl pkey -pubin -outform DER | sha256sum` computes it); empty unless `public_pem`
// holds an Ed25519 public key.
std::string key_fingerprint(const std::string& public_pem);

// The receipt of the records `seqs` (any order; repeats and records already inside an
// earlier segment are covered once), with `public_pem` (the key that signed the log's
// checkpoints) in it. Checked with verify_receipt before it is returned, so a log that does
// not match its checkpoints yields no receipt. nullopt and `error` when `seqs` is empty, a
// record is not in the log (pruned, or never written), no checkpoint has been signed at or
// after it yet, or none signs where its segment starts (a log pruned before checkpoints were
// kept at its start).
std::optional<nlohmann::json> make_receipt(AuditLog& log, const std::vector<std::int64_t>& seqs,
                                           const std::string& public_pem, std::string& error);

// A receipt file's text as JSON; nullopt (and `error`) for text that is not JSON or nests
// deeper than any receipt does.
std::optional<nlohmann::json> parse_receipt(std::string_view text, std::string& error);

struct ReceiptCheck {
  bool ok = false;
  std::string reason;                   // why not, when !ok: names the segment and record
  std::vector<Record> records;          // the verified records, oldest first, with hashes
  std::vector<Checkpoint> checkpoints;  // one per segment, verified
  std::string key_fingerprint;          // the key the signatures were checked with
  // Whether that key came from the caller. When not, the receipt verified with the key it
  // carries: proof only as good as the source of the receipt, since anyone can make a key
  // and sign a receipt of their own.
  bool key_pinned = false;
};

// Checks the format (every field present, no unknown field, records in canonical form, the
// fingerprint that of the carried key), then every segment's chain and its checkpoint's
// signature with `pinned_public_pem`, or, when that is empty, with the key the receipt
// carries. A pinned key must be the one the receipt names. `records` and `checkpoints` are
// filled only when ok.
ReceiptCheck verify_receipt(const nlohmann::json& receipt, const std::string& pinned_public_pem);

}  // namespace sekisho::audit
