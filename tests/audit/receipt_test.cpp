// Session receipts (daemon/audit/receipt.hpp): made from a real log with real checkpoints,
// verified, and refused with a specific reason after every kind of tampering.

#include "daemon/audit/receipt.hpp"

#include <filesystem>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <unistd.h>

#include "daemon/audit/signer.hpp"
#include "daemon/common/sha256.hpp"

using namespace sekisho::audit;
using nlohmann::json;

namespace {

const Actor kOperator{1000, "山田太郎", "operator"};
const Actor kDaemon{-1, "sekishod", "daemon"};

// A log in a fresh directory, signed by `signer`:
//   1 daemon.start      checkpoint
//   2 session.open
//   3 policy.apply
//   4 control.refused   checkpoint (covers 2..4: the open's checkpoint came late)
//   5 session.extend    checkpoint
//   6 policy.apply      checkpoint (as sekishod signs before a session's close)
//   7 session.close     checkpoint
//   8 policy.apply      (no checkpoint yet)
struct Fixture {
  std::filesystem::path dir;
  AuditLog log;
  Signer signer, other;
  std::string pem;
  Fixture() {
    char name[] = "/tmp/sekisho-receipt-XXXXXX";
    dir = ::mkdtemp(name);
    REQUIRE_FALSE(log.open((dir / "audit.db").string()));
    REQUIRE_FALSE(signer.load_or_create((dir / "key.pem").string()));
    REQUIRE_FALSE(other.load_or_create((dir / "other-key.pem").string()));
    pem = signer.public_pem();
    append("2026-11-25T10:00:00Z", kDaemon, "daemon.start", {{"version", "0.1.0"}}, true);
    append("2026-11-25T10:01:00Z", kOperator, "session.open",
           {{"session", "s-1"},
            {"peer", "vendor-a"},
            {"target", "plc-1"},
            {"reason", "ticket 4711: \"firmware\" update"},
            {"deadline", "2026-11-25T11:01:00Z"}},
           false);
    append("2026-11-25T10:01:01Z", {0, "root", "admin"}, "policy.apply", {{"n", 3}}, false);
    append("2026-11-25T10:01:02Z", kDaemon, "control.refused", {{"method", "apply"}}, true);
    append("2026-11-25T10:30:00Z", kOperator, "session.extend",
           {{"session", "s-1"}, {"deadline", "2026-11-25T11:31:00Z"}}, true);
    append("2026-11-25T10:40:00Z", {0, "root", "admin"}, "policy.apply", {{"n", 6}}, true);
    append("2026-11-25T11:31:00Z", kDaemon, "session.close",
           {{"session", "s-1"},
            {"why", "expired"},
            {"closed", "2026-11-25T11:31:00Z"},
            {"bytes", {{"in", 123456}, {"out", 7890}}}},
           true);
    append("2026-11-25T11:32:00Z", {0, "root", "admin"}, "policy.apply", {{"n", 8}}, false);
  }
  ~Fixture() { std::filesystem::remove_all(dir); }

  void append(const std::string& time, const Actor& actor, const std::string& kind,
              const json& details, bool checkpoint) {
    REQUIRE_FALSE(log.append(time, actor, kind, details));
    if (checkpoint) {
      REQUIRE_FALSE(log.add_checkpoint(signer, time, kind != "session.extend"));
    }
  }

  json receipt(const std::vector<std::int64_t>& seqs) {
    std::string error;
    std::optional<json> made = make_receipt(log, seqs, pem, error);
    REQUIRE_MESSAGE(made, error);
    return *made;
  }

  std::string make_error(const std::vector<std::int64_t>& seqs) {
    std::string error;
    CHECK_FALSE(make_receipt(log, seqs, pem, error));
    return error;
  }
};

std::vector<std::int64_t> seqs_of(const ReceiptCheck& check) {
  std::vector<std::int64_t> out;
  for (const Record& record : check.records) {
    out.push_back(record.seq);
  }
  return out;
}

// Verifies a receipt that must fail, and returns why.
std::string refused(const json& receipt, const std::string& pinned = "") {
  const ReceiptCheck check = verify_receipt(receipt, pinned);
  CHECK_FALSE(check.ok);
  CHECK(check.records.empty());
  CHECK(check.checkpoints.empty());
  return check.reason;
}

bool has(const std::string& text, const std::string& part) {
  INFO(text);
  return text.find(part) != std::string::npos;
}

// The text of segment `segment`'s record `index`.
std::string& text(json& receipt, std::size_t segment, std::size_t index) {
  return receipt["segments"][segment]["records"][index].get_ref<std::string&>();
}

// A checkpoint re-signed by `signer`, as a forger with that key would.
void resign(json& checkpoint, const Signer& signer) {
  checkpoint["signature"] = signer.sign_hex(checkpoint_json(
      checkpoint["seq"], checkpoint["hash"], checkpoint["time"], checkpoint["clock_synchronised"],
      checkpoint.contains("checkpoint_every")
          ? std::optional<std::int64_t>(checkpoint["checkpoint_every"].get<std::int64_t>())
          : std::nullopt));
}

}  // namespace

TEST_CASE("receipt: open, extend and close verify, each with the checkpoint that covers it") {
  Fixture fixture;
  const json receipt = fixture.receipt({2, 5, 7});
  CHECK(receipt["format"] == "sekisho-receipt/2");
  CHECK(receipt["public_key"] == fixture.pem);
  REQUIRE(receipt["segments"].size() == 3);
  CHECK(receipt["segments"][0]["records"].size() == 3);  // 2..4: the checkpoint came late
  CHECK(receipt["segments"][1]["records"].size() == 1);
  CHECK(receipt["segments"][2]["records"].size() == 1);
  const Record second = fixture.log.records(2, "", 1).at(0);
  CHECK(receipt["segments"][0]["previous"] == second.previous);
  // Each segment starts right after a signed checkpoint: its anchor.
  CHECK(receipt["segments"][0]["anchor"]["seq"] == 1);
  CHECK(receipt["segments"][0]["anchor"]["hash"] == second.previous);
  CHECK(receipt["segments"][0]["anchor"]["checkpoint_every"] == 600);
  CHECK(receipt["segments"][2]["anchor"]["seq"] == 6);
  CHECK(receipt["segments"][0]["records"][0] == canonical_json(second));
  CHECK(receipt["segments"][0]["checkpoint"]["seq"] == 4);
  CHECK(receipt["segments"][0]["checkpoint"]["hash"] == fixture.log.records(4, "", 1).at(0).hash);

  ReceiptCheck check = verify_receipt(receipt, fixture.pem);
  REQUIRE_MESSAGE(check.ok, check.reason);
  CHECK(check.reason.empty());
  CHECK(check.key_pinned);
  CHECK(check.key_fingerprint == key_fingerprint(fixture.pem));
  CHECK(seqs_of(check) == std::vector<std::int64_t>{2, 3, 4, 5, 7});
  CHECK(check.records[0].kind == "session.open");
  CHECK(check.records[0].actor.user == "山田太郎");
  CHECK(check.records[0].details["peer"] == "vendor-a");
  CHECK(check.records[4].kind == "session.close");
  CHECK(check.records[4].details["bytes"]["in"] == 123456);
  for (const Record& record : check.records) {  // as the log holds them
    const Record stored = fixture.log.records(record.seq, "", 1).at(0);
    CHECK(record.previous == stored.previous);
    CHECK(record.hash == stored.hash);
    CHECK(canonical_json(record) == canonical_json(stored));
  }
  REQUIRE(check.checkpoints.size() == 3);
  CHECK(check.checkpoints[0].seq == 4);
  CHECK(check.checkpoints[1].seq == 5);
  CHECK_FALSE(check.checkpoints[1].clock_synchronised);
  CHECK(check.checkpoints[2].time == "2026-11-25T11:31:00Z");

  // Without a pinned key: verified with the key it carries, and said so.
  check = verify_receipt(receipt, "");
  CHECK(check.ok);
  CHECK_FALSE(check.key_pinned);
  CHECK(check.key_fingerprint == key_fingerprint(fixture.pem));

  // Through its text, as a vendor gets it.
  std::string error;
  const std::optional<json> parsed = parse_receipt(receipt.dump(2), error);
  REQUIRE_MESSAGE(parsed, error);
  CHECK(verify_receipt(*parsed, fixture.pem).ok);
}

TEST_CASE("receipt: records in any order, repeated or inside an earlier segment, once each") {
  Fixture fixture;
  const json receipt = fixture.receipt({7, 3, 2, 7, 4});
  REQUIRE(receipt["segments"].size() == 2);
  const ReceiptCheck check = verify_receipt(receipt, fixture.pem);
  REQUIRE_MESSAGE(check.ok, check.reason);
  CHECK(seqs_of(check) == std::vector<std::int64_t>{2, 3, 4, 7});
  CHECK(fixture.receipt({1})["segments"][0]["previous"] == kGenesis);
  CHECK(fixture.receipt({1})["segments"][0]["anchor"].is_null());
}

TEST_CASE("receipt: the fingerprint is SHA-256 of the key's DER SubjectPublicKeyInfo") {
  Fixture fixture;
  // The PEM's body is the DER, base64-encoded.
  std::string base64;
  for (std::size_t at = 0, end; at < fixture.pem.size(); at = end + 1) {
    end = fixture.pem.find('\n', at);
    const std::string line = fixture.pem.substr(at, end - at);
    if (line.rfind("-----", 0) != 0) {
      base64 += line;
    }
  }
  std::string der(base64.size(), '\0');
  const int length =
      EVP_DecodeBlock(reinterpret_cast<unsigned char*>(der.data()),
                      reinterpret_cast<const unsigned char*>(base64.data()), (int)base64.size());
  REQUIRE(length >= 44);
  der.resize(44);  // EVP_DecodeBlock counts the padding too
  CHECK(sekisho::to_hex(der.data(), 12) == "302a300506032b6570032100");  // Ed25519 SPKI
  CHECK(key_fingerprint(fixture.pem) == "sha256:" + sekisho::sha256_hex(der));
  CHECK(key_fingerprint(fixture.other.public_pem()) != key_fingerprint(fixture.pem));
  CHECK(key_fingerprint("") == "");
  CHECK(key_fingerprint("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n") == "");
}

TEST_CASE("receipt: a changed byte in a record is found") {
  Fixture fixture;
  json receipt = fixture.receipt({2, 7});
  std::string& open = text(receipt, 0, 0);
  const std::size_t at = open.find("session.open");
  REQUIRE(at != std::string::npos);
  open[at + 11] = 'm';  // "session.opem": still a canonical record, another hash
  CHECK(has(refused(receipt, fixture.pem),
            "segment 1 (records 2..4) does not hash to its checkpoint's hash"));
  CHECK(has(refused(receipt), "does not hash to its checkpoint's hash"));

  // A byte that breaks the canonical form (a space) is named as such.
  receipt = fixture.receipt({2, 7});
  text(receipt, 1, 0).insert(1, " ");
  CHECK(has(refused(receipt, fixture.pem),
            "segment 2 record 1 is not an audit record in canonical form"));
  // Keys in another order, or a field more, are not canonical either.
  receipt = fixture.receipt({2, 7});
  json record = json::parse(text(receipt, 1, 0));
  record["extra"] = 1;
  text(receipt, 1, 0) = record.dump();
  CHECK(has(refused(receipt), "segment 2 record 1 is not an audit record in canonical form"));
  receipt = fixture.receipt({2, 7});
  text(receipt, 1, 0) = "[1,2]";
  CHECK(has(refused(receipt), "segment 2 record 1 is not an audit record in canonical form"));
  text(receipt, 1, 0) = "not json";
  CHECK(has(refused(receipt), "segment 2 record 1 is not JSON"));
  receipt["segments"][1]["records"][0] = 7;
  CHECK(has(refused(receipt), "segment 2 record 1 is not a string"));

  // The previous hash changed: it is no longer the one the anchor signs.
  receipt = fixture.receipt({2, 7});
  receipt["segments"][1]["previous"] = std::string(64, 'a');
  CHECK(has(refused(receipt),
            "segment 2 starts from the hash of record 6 its anchor signs, not from its previous "
            "hash"));
  receipt["segments"][1]["previous"] = std::string(64, 'A');
  CHECK(has(refused(receipt), "segment 2 has a previous hash that is not 64 lowercase hex"));
}

TEST_CASE("receipt: a record removed from a segment, or a gap in its sequence numbers") {
  Fixture fixture;
  json receipt = fixture.receipt({2, 7});
  receipt["segments"][0]["records"].erase(2);  // record 4, the checkpoint's
  CHECK(has(refused(receipt, fixture.pem),
            "segment 1 ends at record 3 but its checkpoint is of record 4 (records removed or "
            "added)"));

  receipt = fixture.receipt({2, 7});
  receipt["segments"][0]["records"].erase(1);  // record 3
  CHECK(has(refused(receipt, fixture.pem),
            "segment 1 record 3 is missing before record 4 (removed or out of order)"));

  receipt = fixture.receipt({2, 7});
  receipt["segments"][0]["records"].erase(0);  // record 2, the session's open
  CHECK(has(refused(receipt, fixture.pem),
            "segment 1 starts at record 3, not right after its signed anchor, record 1"));
  // Records dropped from the front, and the segment made to start from the last one dropped:
  // the chain from there reaches the checkpoint, but the anchor signs where it started.
  receipt = fixture.receipt({2, 7});
  receipt["segments"][0]["records"].erase(0);
  receipt["segments"][0]["previous"] = fixture.log.records(2, "", 1).at(0).hash;
  CHECK(has(refused(receipt, fixture.pem),
            "segment 1 starts from the hash of record 1 its anchor signs, not from its "
            "previous hash"));
  receipt["segments"][0]["anchor"] = nullptr;  // no anchor then: it must start at record 1
  CHECK(has(refused(receipt, fixture.pem),
            "segment 1 has no signed anchor, so it must start at record 1 from the genesis hash "
            "(64 zeros); it starts at record 3 (records dropped from its front)"));

  // Records swapped, or one repeated.
  receipt = fixture.receipt({2, 7});
  std::swap(text(receipt, 0, 1), text(receipt, 0, 2));
  CHECK(has(refused(receipt),
            "segment 1 record 3 is missing before record 4 (removed or out of order)"));
  receipt = fixture.receipt({2, 7});
  receipt["segments"][0]["records"].insert(receipt["segments"][0]["records"].begin() + 1,
                                           text(receipt, 0, 0));
  CHECK(
      has(refused(receipt), "segment 1 record 2 comes after record 2 (repeated or out of order)"));

  // A whole segment removed still verifies: the receipt then covers less, which its records
  // show. Segments out of order or overlapping do not.
  receipt = fixture.receipt({2, 5, 7});
  std::swap(receipt["segments"][0], receipt["segments"][2]);
  CHECK(has(refused(receipt),
            "segment 2 starts at record 5, not after the previous segment's checkpoint of "
            "record 7"));
  receipt = fixture.receipt({2, 5, 7});
  receipt["segments"].erase(1);
  const ReceiptCheck check = verify_receipt(receipt, fixture.pem);
  CHECK(check.ok);
  CHECK(seqs_of(check) == std::vector<std::int64_t>{2, 3, 4, 7});
  receipt["segments"] = json::array();
  CHECK(has(refused(receipt), "segments not a list of at least one segment"));
  receipt = fixture.receipt({2});
  receipt["segments"][0]["records"] = json::array();
  CHECK(has(refused(receipt), "segment 1 holds no records"));
}

TEST_CASE("receipt: signatures by another key, a pinned key that differs, a wrong fingerprint") {
  Fixture fixture;
  const std::string other_pem = fixture.other.public_pem();

  // One checkpoint signed by another key.
  json receipt = fixture.receipt({2, 7});
  resign(receipt["segments"][1]["checkpoint"], fixture.other);
  CHECK(has(
      refused(receipt, fixture.pem),
      "segment 2 checkpoint of record 7 is not signed by the key " + key_fingerprint(fixture.pem)));
  CHECK(has(refused(receipt), "segment 2 checkpoint of record 7 is not signed by the key"));
  // A signature of another message, or one of the checkpoint's fields changed.
  receipt = fixture.receipt({2, 7});
  receipt["segments"][1]["checkpoint"]["signature"] =
      receipt["segments"][0]["checkpoint"]["signature"];
  CHECK(has(refused(receipt), "segment 2 checkpoint of record 7 is not signed by the key"));
  receipt = fixture.receipt({2, 7});
  receipt["segments"][1]["checkpoint"]["time"] = "2026-11-25T11:00:00Z";
  CHECK(has(refused(receipt), "segment 2 checkpoint of record 7 is not signed by the key"));
  receipt = fixture.receipt({2, 7});
  receipt["segments"][1]["checkpoint"]["clock_synchronised"] = false;
  CHECK(has(refused(receipt), "segment 2 checkpoint of record 7 is not signed by the key"));

  // Pinned to another device's key.
  receipt = fixture.receipt({2, 7});
  CHECK(has(refused(receipt, other_pem), "the receipt carries the key " +
                                             key_fingerprint(fixture.pem) +
                                             ", not the pinned key " + key_fingerprint(other_pem)));
  CHECK(has(refused(receipt, "not a key"), "the pinned key is not an Ed25519 public key"));

  // A forger's receipt: own key, everything re-signed with it. It verifies with the key it
  // carries (and says the key was not pinned); pinned to the device's key it does not.
  json forged = fixture.receipt({2, 7});
  text(forged, 1, 0).replace(text(forged, 1, 0).find("expired"), 7, "closed!");
  forged["segments"][1]["checkpoint"]["hash"] =
      record_hash(forged["segments"][1]["previous"], text(forged, 1, 0));
  forged["public_key"] = other_pem;
  forged["key_fingerprint"] = key_fingerprint(other_pem);
  resign(forged["segments"][0]["anchor"], fixture.other);
  resign(forged["segments"][0]["checkpoint"], fixture.other);
  resign(forged["segments"][1]["anchor"], fixture.other);
  resign(forged["segments"][1]["checkpoint"], fixture.other);
  const ReceiptCheck unpinned = verify_receipt(forged, "");
  CHECK(unpinned.ok);
  CHECK_FALSE(unpinned.key_pinned);
  CHECK(unpinned.key_fingerprint == key_fingerprint(other_pem));
  CHECK(has(refused(forged, fixture.pem), "not the pinned key"));

  // The fingerprint does not match the key the receipt carries.
  receipt = fixture.receipt({2, 7});
  receipt["key_fingerprint"] = key_fingerprint(other_pem);
  CHECK(has(refused(receipt, fixture.pem),
            "the receipt's key_fingerprint \"" + key_fingerprint(other_pem) +
                "\" is not that of its public_key (" + key_fingerprint(fixture.pem) + ")"));
  const std::string right = key_fingerprint(fixture.pem);
  receipt["key_fingerprint"] = right.substr(0, 70) + (right.back() == '0' ? "1" : "0");
  CHECK(has(refused(receipt), "is not that of its public_key"));
  receipt = fixture.receipt({2, 7});
  receipt["public_key"] = "-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n";
  CHECK(has(refused(receipt), "the receipt's public_key is not an Ed25519 public key"));
}

TEST_CASE("receipt: the format is checked field by field") {
  Fixture fixture;
  const json good = fixture.receipt({7});
  json receipt = good;
  receipt["format"] = "sekisho-receipt/3";
  CHECK(has(refused(receipt), "not a receipt of format sekisho-receipt/2"));
  CHECK(has(refused(json::array()), "not a receipt of format sekisho-receipt/2"));
  // The first form signed only where its segments end: refused, and said why.
  receipt["format"] = "sekisho-receipt/1";
  CHECK(has(refused(receipt), "a receipt of the first form (sekisho-receipt/1)"));
  for (const char* field : {"public_key", "key_fingerprint", "segments"}) {
    receipt = good;
    receipt.erase(field);
    CHECK(has(refused(receipt), std::string("the receipt has no field \"") + field + "\""));
  }
  receipt = good;
  receipt["session"] = "s-1";  // unsigned: a verifier must not show it as verified
  CHECK(has(refused(receipt), "the receipt has an unknown field \"session\""));
  receipt = good;
  receipt["segments"][0]["note"] = "x";
  CHECK(has(refused(receipt), "segment 1 has an unknown field \"note\""));
  receipt = good;
  receipt["segments"][0].erase("previous");
  CHECK(has(refused(receipt), "segment 1 has no field \"previous\""));
  receipt = good;
  receipt["segments"][0].erase("anchor");
  CHECK(has(refused(receipt), "segment 1 has no field \"anchor\""));
  receipt = good;
  receipt["segments"][0]["anchor"]["seq"] = "6";
  CHECK(has(refused(receipt), "segment 1 anchor is not {checkpoint_every"));
  for (const char* field : {"clock_synchronised", "hash", "seq", "time", "signature"}) {
    receipt = good;
    receipt["segments"][0]["checkpoint"].erase(field);
    CHECK(has(refused(receipt), std::string("segment 1 checkpoint has no field \"") + field));
  }
  receipt = good;
  receipt["segments"][0]["checkpoint"]["seq"] = "7";
  CHECK(has(refused(receipt), "segment 1 checkpoint is not {checkpoint_every"));
  receipt = good;
  receipt["segments"][0]["checkpoint"]["signature"] = "ab";
  CHECK(has(refused(receipt), "segment 1 checkpoint is not {checkpoint_every"));
  receipt = good;
  receipt["segments"][0]["checkpoint"]["seq"] = 7.0;
  CHECK(has(refused(receipt), "segment 1 checkpoint is not {checkpoint_every"));
  // A caller's JSON value may hold invalid UTF-8, which no parsed text does: no exception.
  receipt = good;
  receipt["segments"][0]["checkpoint"]["time"] = "\xff";
  CHECK(has(refused(receipt), "not a receipt: "));

  // Record 1 follows the genesis hash, nothing else.
  receipt = fixture.receipt({1});
  receipt["segments"][0]["previous"] = std::string(64, '1');
  CHECK(has(refused(receipt),
            "segment 1 has no signed anchor, so it must start at record 1 from "
            "the genesis hash"));
}

TEST_CASE("receipt: hostile text is refused before anything recurses into it") {
  Fixture fixture;
  std::string error;
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  CHECK_FALSE(parse_receipt(deep, error));
  CHECK(error == "not a receipt: it nests deeper than a receipt does");
  CHECK_FALSE(parse_receipt("{\"format\":", error));
  CHECK(error == "not JSON");
  json receipt = fixture.receipt({7});
  text(receipt, 0, 0) = std::string(100000, '[') + std::string(100000, ']');
  CHECK(has(refused(receipt), "segment 1 record 1 nests too deep"));
}

TEST_CASE("make_receipt: a record not yet checkpointed, pruned or never written") {
  Fixture fixture;
  CHECK(fixture.make_error({8}) ==
        "record 8 is not covered by a signed checkpoint yet (one is signed within "
        "audit.checkpoint_every of every record)");
  CHECK(fixture.make_error({2, 8}).rfind("record 8 is not covered", 0) == 0);
  CHECK(fixture.make_error({99}) == "there is no record 99 in the log");
  CHECK(fixture.make_error({0}) == "there is no record 0 in the log");
  CHECK(fixture.make_error({7, -1}) == "there is no record -1 in the log");
  CHECK(fixture.make_error({}) == "no record to cover");
  std::string error;
  CHECK_FALSE(make_receipt(fixture.log, {2}, "not a key", error));
  CHECK(error == "the public key is not an Ed25519 public key (PEM)");

  // Once checkpointed, record 8 has its receipt.
  REQUIRE_FALSE(fixture.log.add_checkpoint(fixture.signer, "2026-11-25T11:40:00Z", true));
  CHECK(verify_receipt(fixture.receipt({8}), fixture.pem).ok);

  // Records 1..4 pruned (as retention does, after audit.pruned, up to a signed record whose
  // checkpoint stays): gone from receipts; the later ones still have theirs.
  REQUIRE_FALSE(
      fixture.log.append("2026-11-25T12:00:00Z", kDaemon, "audit.pruned",
                         {{"through", 4}, {"hash", fixture.log.records(4, "", 1).at(0).hash}}));
  REQUIRE_FALSE(fixture.log.prune_through(4));
  CHECK(fixture.make_error({2}) ==
        "record 2 has been pruned from the log (an exported bundle holds it)");
  CHECK(fixture.make_error({1, 7}).rfind("record 1 has been pruned", 0) == 0);
  const ReceiptCheck check = verify_receipt(fixture.receipt({5, 7}), fixture.pem);
  CHECK(check.ok);
  CHECK(seqs_of(check) == std::vector<std::int64_t>{5, 7});
  CHECK(fixture.log.verify().ok);
}

TEST_CASE("make_receipt: records right after a start pruned without its checkpoint") {
  Fixture fixture;
  // As an earlier version pruned: through a record without a checkpoint, and every
  // checkpoint up to it removed. Nothing signs where record 3 starts.
  REQUIRE_FALSE(
      fixture.log.append("2026-11-25T12:00:00Z", kDaemon, "audit.pruned",
                         {{"through", 2}, {"hash", fixture.log.records(2, "", 1).at(0).hash}}));
  REQUIRE_FALSE(fixture.log.prune_through(2));
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open((fixture.dir / "audit.db").c_str(), &db) == SQLITE_OK);
  CHECK(sqlite3_exec(db, "DELETE FROM checkpoints WHERE seq <= 2", nullptr, nullptr, nullptr) ==
        SQLITE_OK);
  sqlite3_close(db);
  CHECK(has(fixture.make_error({3}), "no signed checkpoint is left before record 3"));
  CHECK(verify_receipt(fixture.receipt({5}), fixture.pem).ok);
}

TEST_CASE("make_receipt: a log that does not match its checkpoints gives no receipt") {
  Fixture fixture;
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open((fixture.dir / "audit.db").c_str(), &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db, "UPDATE records SET details = '{\"n\":4}' WHERE seq = 3", nullptr,
                       nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
  }
  const std::string error = fixture.make_error({2});
  CHECK(has(error,
            "the log does not match its signed checkpoints (see sekishoctl audit verify): "
            "segment 1 (records 2..4) does not hash to its checkpoint's hash"));
  CHECK(verify_receipt(fixture.receipt({5}), fixture.pem).ok);  // a segment after the edit

  // Signed by another key than the one named: no receipt either.
  std::string other_error;
  CHECK_FALSE(make_receipt(fixture.log, {7}, fixture.other.public_pem(), other_error));
  CHECK(has(other_error, "is not signed by the key"));
}
