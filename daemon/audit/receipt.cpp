#include "daemon/audit/receipt.hpp"

#include <algorithm>
#include <exception>
#include <initializer_list>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "daemon/audit/signer.hpp"
#include "daemon/common/json_depth.hpp"
#include "daemon/common/sha256.hpp"

namespace sekisho::audit {

namespace {

// A sequence number counts on without overflow.
constexpr std::int64_t kMaxSeq = std::int64_t{1} << 62;
// A PEM Ed25519 public key is 113 bytes.
constexpr std::size_t kMaxKeyBytes = 64 * 1024;

// Hostile text in a reason: JSON-quoted, ASCII only, at most 80 characters of it.
std::string quoted(const std::string& text) {
  constexpr std::size_t kShown = 80;
  return nlohmann::json(text.substr(0, kShown))
             .dump(-1, ' ', true, nlohmann::json::error_handler_t::replace) +
         (text.size() > kShown ? "..." : "");
}

// Whether `value` is the lowercase hex of `bytes` bytes.
bool is_hex_of(const nlohmann::json& value, std::size_t bytes) {
  if (!value.is_string()) {
    return false;
  }
  const auto& text = value.get_ref<const std::string&>();
  const std::optional<std::string> raw = from_hex(text);
  return raw && raw->size() == bytes && to_hex(raw->data(), raw->size()) == text;
}

// An object with exactly these fields (and maybe the optional ones); else why not.
std::string fields_missing_or_unknown(const nlohmann::json& object,
                                      std::initializer_list<const char*> fields,
                                      std::initializer_list<const char*> optional = {}) {
  if (!object.is_object()) {
    return "is not a JSON object";
  }
  for (const char* field : fields) {
    if (!object.contains(field)) {
      return std::string("has no field \"") + field + "\"";
    }
  }
  auto named = [](std::initializer_list<const char*> list, const std::string& key) {
    return std::any_of(list.begin(), list.end(),
                       [&key](const char* field) { return key == field; });
  };
  for (const auto& item : object.items()) {
    if (!named(fields, item.key()) && !named(optional, item.key())) {
      return "has an unknown field " + quoted(item.key());
    }
  }
  return "";
}

// A signed checkpoint of a receipt (either form), its signature checked with `key`; else
// nullopt and why not.
std::optional<Checkpoint> signed_checkpoint(const nlohmann::json& object, const std::string& key,
                                            const std::string& carried, std::string& why) {
  if (std::string missing = fields_missing_or_unknown(
          object, {"clock_synchronised", "hash", "seq", "time", "signature"}, {"checkpoint_every"});
      !missing.empty()) {
    why = missing;
    return std::nullopt;
  }
  nlohmann::json message = object;
  message.erase("signature");
  const std::optional<Checkpoint> checkpoint = parse_checkpoint(message.dump());
  if (!checkpoint || !is_hex_of(object["signature"], 64)) {
    why =
        "is not {checkpoint_every: N, clock_synchronised: true|false, hash: 64 hex, seq: N, "
        "time, signature: 128 hex}";
    return std::nullopt;
  }
  if (!verify_signature(
          key,
          checkpoint_json(checkpoint->seq, checkpoint->hash, checkpoint->time,
                          checkpoint->clock_synchronised, checkpoint->checkpoint_every),
          object["signature"].get<std::string>())) {
    why = "of record " + std::to_string(checkpoint->seq) + " is not signed by the key " + carried;
    return std::nullopt;
  }
  return checkpoint;
}

nlohmann::json checkpoint_object(const AuditLog::StoredCheckpoint& checkpoint) {
  nlohmann::json out = {{"seq", checkpoint.seq},
                        {"hash", checkpoint.hash},
                        {"time", checkpoint.time},
                        {"clock_synchronised", checkpoint.clock_synchronised},
                        {"signature", checkpoint.signature}};
  if (checkpoint.checkpoint_every) {
    out["checkpoint_every"] = *checkpoint.checkpoint_every;
  }
  return out;
}

// The record whose canonical_json is exactly `text`; else nullopt and why not. Anything
// else the text holds (another key, a float, whitespace, another key order) makes
// canonical_json differ from it.
std::optional<Record> canonical_record(const std::string& text, std::string& why) {
  bool too_deep = false;
  const std::optional<nlohmann::json> value =
      parse_json_nesting_at_most(text, kMaxAuditNesting, &too_deep);
  if (!value) {
    why = too_deep ? "nests too deep" : "is not JSON";
    return std::nullopt;
  }
  try {
    const nlohmann::json& actor = value->at("actor");
    Record record;
    record.seq = value->at("seq").get<std::int64_t>();
    record.time = value->at("time").get<std::string>();
    record.actor = {actor.at("uid").get<std::int64_t>(), actor.at("user").get<std::string>(),
                    actor.at("role").get<std::string>()};
    record.kind = value->at("kind").get<std::string>();
    record.details = value->at("details");
    if (canonical_json(record) == text) {
      if (record.seq >= 1 && record.seq <= kMaxSeq) {
        return record;
      }
      why = "has a sequence number out of range";
      return std::nullopt;
    }
  } catch (const std::exception&) {
    // A missing field or one of another type: not a record, said below.
  }
  why =
      "is not an audit record in canonical form ({actor: {role, uid, user}, details, kind, seq, "
      "time}, keys sorted, no whitespace, integers only)";
  return std::nullopt;
}

std::string span(std::int64_t first, std::int64_t last) {
  return first == last ? "record " + std::to_string(first)
                       : "records " + std::to_string(first) + ".." + std::to_string(last);
}

ReceiptCheck check(const nlohmann::json& receipt, const std::string& pinned_public_pem) {
  ReceiptCheck out;
  auto fail = [&out](std::string reason) {
    out = ReceiptCheck{};
    out.reason = std::move(reason);
    return out;
  };
  if (receipt.is_object() && receipt.contains("format") &&
      receipt["format"] == "sekisho-receipt/1") {
    return fail(
        "a receipt of the first form (sekisho-receipt/1), which does not sign where its "
        "segments start, so that records dropped from their front could not be told: ask the "
        "gateway for a new one ('sekishoctl session receipt')");
  }
  if (!receipt.is_object() || !receipt.contains("format") || receipt["format"] != kReceiptFormat) {
    return fail(std::string("not a receipt of format ") + kReceiptFormat);
  }
  if (std::string why = fields_missing_or_unknown(
          receipt, {"format", "public_key", "key_fingerprint", "segments"});
      !why.empty()) {
    return fail("the receipt " + why);
  }
  const nlohmann::json& segments = receipt["segments"];
  if (!receipt["public_key"].is_string() || !receipt["key_fingerprint"].is_string() ||
      !segments.is_array() || segments.empty()) {
    return fail(
        "the receipt's public_key and key_fingerprint are not strings, or its segments not a "
        "list of at least one segment");
  }
  const auto& carried_key = receipt["public_key"].get_ref<const std::string&>();
  const std::string carried = key_fingerprint(carried_key);
  if (carried.empty()) {
    return fail("the receipt's public_key is not an Ed25519 public key (PEM)");
  }
  if (receipt["key_fingerprint"] != carried) {
    return fail("the receipt's key_fingerprint " +
                quoted(receipt["key_fingerprint"].get<std::string>()) +
                " is not that of its public_key (" + carried + ")");
  }
  if (!pinned_public_pem.empty()) {
    const std::string pinned = key_fingerprint(pinned_public_pem);
    if (pinned.empty()) {
      return fail("the pinned key is not an Ed25519 public key (PEM)");
    }
    if (pinned != carried) {
      return fail("the receipt carries the key " + carried + ", not the pinned key " + pinned +
                  ": it was not signed by this device");
    }
  }
  const std::string& key = pinned_public_pem.empty() ? carried_key : pinned_public_pem;

  std::vector<Record> records;
  std::vector<Checkpoint> checkpoints;
  std::int64_t covered = 0;  // the previous segment's checkpoint
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const std::string here = "segment " + std::to_string(i + 1) + " ";
    const nlohmann::json& segment = segments[i];
    if (std::string why =
            fields_missing_or_unknown(segment, {"anchor", "previous", "records", "checkpoint"});
        !why.empty()) {
      return fail(here + why);
    }
    if (!is_hex_of(segment["previous"], 32)) {
      return fail(here + "has a previous hash that is not 64 lowercase hex digits");
    }
    if (!segment["records"].is_array() || segment["records"].empty()) {
      return fail(here + "holds no records");
    }
    std::string why;
    const std::optional<Checkpoint> checkpoint =
        signed_checkpoint(segment["checkpoint"], key, carried, why);
    if (!checkpoint) {
      return fail(here + "checkpoint " + why);
    }
    // Where the segment starts is signed too: the anchor's hash is `previous`.
    std::optional<Checkpoint> anchor;
    if (!segment["anchor"].is_null()) {
      anchor = signed_checkpoint(segment["anchor"], key, carried, why);
      if (!anchor) {
        return fail(here + "anchor " + why);
      }
      if (anchor->hash != segment["previous"]) {
        return fail(here + "starts from the hash of record " + std::to_string(anchor->seq) +
                    " its anchor signs, not from its previous hash");
      }
    }

    std::string hash = segment["previous"].get<std::string>();
    std::int64_t first = 0, expected = 0;
    std::size_t index = 0;
    for (const nlohmann::json& text : segment["records"]) {
      const std::string at = here + "record " + std::to_string(++index) + " ";
      if (!text.is_string()) {
        return fail(at + "is not a string (a record's canonical JSON text)");
      }
      std::string not_a_record;
      std::optional<Record> record = canonical_record(text.get<std::string>(), not_a_record);
      if (!record) {
        return fail(at + not_a_record);
      }
      if (first == 0) {
        first = record->seq;
        if (first <= covered) {
          return fail(here + "starts at record " + std::to_string(first) +
                      ", not after the previous segment's checkpoint of record " +
                      std::to_string(covered) + " (segments ascend and do not overlap)");
        }
        if (anchor && anchor->seq != first - 1) {
          return fail(here + "starts at record " + std::to_string(first) +
                      ", not right after its signed anchor, record " + std::to_string(anchor->seq) +
                      " (records dropped from its front, or added)");
        }
        if (!anchor && (first != 1 || hash != kGenesis)) {
          return fail(here +
                      "has no signed anchor, so it must start at record 1 from the "
                      "genesis hash (64 zeros); it starts at record " +
                      std::to_string(first) + " (records dropped from its front)");
        }
      } else if (record->seq > expected) {
        return fail(here + span(expected, record->seq - 1) +
                    (record->seq - 1 == expected ? " is" : " are") + " missing before record " +
                    std::to_string(record->seq) + " (removed or out of order)");
      } else if (record->seq < expected) {
        return fail(here + "record " + std::to_string(record->seq) + " comes after record " +
                    std::to_string(expected - 1) + " (repeated or out of order)");
      }
      record->previous = hash;
      hash = record_hash(hash, text.get<std::string>());
      record->hash = hash;
      expected = record->seq + 1;
      records.push_back(std::move(*record));
    }
    const std::int64_t last = expected - 1;
    if (last != checkpoint->seq) {
      return fail(here + "ends at record " + std::to_string(last) +
                  " but its checkpoint is of record " + std::to_string(checkpoint->seq) +
                  " (records removed or added)");
    }
    if (hash != checkpoint->hash) {
      return fail(here + "(" + span(first, last) +
                  ") does not hash to its checkpoint's hash: a record was edited, removed or "
                  "replaced, or the previous hash changed");
    }
    covered = checkpoint->seq;
    checkpoints.push_back(*checkpoint);
  }
  out.ok = true;
  out.records = std::move(records);
  out.checkpoints = std::move(checkpoints);
  out.key_fingerprint = carried;
  out.key_pinned = !pinned_public_pem.empty();
  return out;
}

}  // namespace

std::string key_fingerprint(const std::string& public_pem) {
  if (public_pem.size() > kMaxKeyBytes) {
    return "";
  }
  BIO* memory = BIO_new_mem_buf(public_pem.data(), static_cast<int>(public_pem.size()));
  EVP_PKEY* key = memory ? PEM_read_bio_PUBKEY(memory, nullptr, nullptr, nullptr) : nullptr;
  BIO_free(memory);
  std::string out;
  unsigned char* der = nullptr;
  if (key && EVP_PKEY_is_a(key, "ED25519") == 1) {
    const int length = i2d_PUBKEY(key, &der);
    if (length > 0) {
      out = "sha256:" + sha256_hex(std::string_view(reinterpret_cast<const char*>(der),
                                                    static_cast<std::size_t>(length)));
    }
  }
  OPENSSL_free(der);
  EVP_PKEY_free(key);
  return out;
}

std::optional<nlohmann::json> make_receipt(AuditLog& log, const std::vector<std::int64_t>& seqs,
                                           const std::string& public_pem, std::string& error) {
  const std::string fingerprint = key_fingerprint(public_pem);
  if (fingerprint.empty()) {
    error = "the public key is not an Ed25519 public key (PEM)";
    return std::nullopt;
  }
  if (seqs.empty()) {
    error = "no record to cover";
    return std::nullopt;
  }
  std::vector<std::int64_t> sorted = seqs;
  std::sort(sorted.begin(), sorted.end());
  if (sorted.front() < 1) {
    error = "there is no record " + std::to_string(sorted.front()) + " in the log";
    return std::nullopt;
  }
  nlohmann::json segments = nlohmann::json::array();
  std::int64_t covered = 0;  // the last segment's checkpoint
  for (const std::int64_t seq : sorted) {
    if (seq <= covered) {
      continue;  // a repeat, or a record inside the last segment
    }
    const std::string record = "record " + std::to_string(seq);
    const std::optional<AuditLog::StoredCheckpoint> checkpoint = log.first_checkpoint_from(seq);
    const std::optional<AuditLog::StoredCheckpoint> anchor = log.last_checkpoint_before(seq);
    // From the anchor's record on (from record 1 without one).
    const std::int64_t from = anchor ? anchor->seq + 1 : 1;
    const std::vector<Record> itself = log.records(seq, "", 1);
    if (seq >= 1 && seq <= log.start().seq) {
      error = record + " has been pruned from the log (an exported bundle holds it)";
      return std::nullopt;
    }
    if (itself.empty() || itself.front().seq != seq) {
      error = "there is no " + record + " in the log";
      return std::nullopt;
    }
    if (!checkpoint) {
      error = record +
              " is not covered by a signed checkpoint yet (one is signed within "
              "audit.checkpoint_every of every record)";
      return std::nullopt;
    }
    const std::vector<Record> chain =
        log.records(from, "", static_cast<std::size_t>(checkpoint->seq - from + 1));
    if (chain.empty() || chain.front().seq != from) {
      error =
          "no signed checkpoint is left before " + record +
          " (the log was pruned by an earlier version): its receipt cannot sign where it starts";
      return std::nullopt;
    }
    nlohmann::json texts = nlohmann::json::array();
    try {
      for (const Record& each : chain) {
        texts.push_back(canonical_json(each));
      }
    } catch (const std::exception& failure) {
      error = record + ": " + failure.what();
      return std::nullopt;
    }
    segments.push_back({{"anchor", anchor ? checkpoint_object(*anchor) : nlohmann::json()},
                        {"previous", chain.front().previous},
                        {"records", std::move(texts)},
                        {"checkpoint", checkpoint_object(*checkpoint)}});
    covered = checkpoint->seq;
  }
  nlohmann::json receipt = {{"format", kReceiptFormat},
                            {"public_key", public_pem},
                            {"key_fingerprint", fingerprint},
                            {"segments", std::move(segments)}};
  // Never hand out a receipt that does not verify: the log must match its checkpoints, and
  // they must be signed by this key.
  if (const ReceiptCheck checked = verify_receipt(receipt, public_pem); !checked.ok) {
    error = "the log does not match its signed checkpoints (see sekishoctl audit verify): " +
            checked.reason;
    return std::nullopt;
  }
  return receipt;
}

std::optional<nlohmann::json> parse_receipt(std::string_view text, std::string& error) {
  bool too_deep = false;
  std::optional<nlohmann::json> value =
      parse_json_nesting_at_most(text, kMaxAuditNesting, &too_deep);
  if (!value) {
    error = too_deep ? "not a receipt: it nests deeper than a receipt does" : "not JSON";
  }
  return value;
}

ReceiptCheck verify_receipt(const nlohmann::json& receipt, const std::string& pinned_public_pem) {
  try {
    return check(receipt, pinned_public_pem);
  } catch (const std::exception& failure) {
    // A JSON value built by a caller may hold what a parsed one cannot (invalid UTF-8).
    ReceiptCheck out;
    out.reason = std::string("not a receipt: ") + failure.what();
    return out;
  }
}

}  // namespace sekisho::audit
