// Makes exported audit bundles for the by-hand check (tests/audit/bundle_by_hand_test.sh):
//
//   sekisho_make_test_bundle DIR          writes into DIR (which must exist):
//     full.tar.gz   all 300 records (anchor: seq 0, the genesis hash)
//     tail.tar.gz   records 101..300 (anchor: record 100)
//     empty.tar.gz  no records (anchor and checkpoint: record 300)
//     broken.tar.gz all records, sealed by a device that found its log broken at record 42
//     first-form.tar.gz  records 101..300 as the first form had it: checkpoint.json a plain
//                   log checkpoint, signed by the device's key, the anchor not signed
//     pubkey.pem    the device key's public half; other.pem another key's
//
// The records are tests/audit/bundle_fixture.hpp's: non-ASCII user names, details with
// quotes, backslashes, newlines and look-alikes of a record's end.

#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "daemon/audit/bundle.hpp"
#include "daemon/audit/signer.hpp"
#include "daemon/common/sha256.hpp"
#include "tests/audit/bundle_fixture.hpp"

using namespace sekisho::audit;

namespace {

constexpr int kRecords = 300;

bool write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  return static_cast<bool>(out.flush());
}

bool export_bundle(AuditLog& log, const Signer& signer, std::int64_t since, const std::string& path,
                   std::optional<std::int64_t> log_first_bad = {}, bool first_form = false) {
  const std::vector<Record> records = log.records(since, "", 1000000);
  std::int64_t anchor_seq = since - 1;
  std::string anchor_hash = kGenesis;
  if (!records.empty()) {
    anchor_hash = records.front().previous;
  } else if (since > 1) {
    anchor_hash = log.records(since - 1, "", 1).at(0).hash;
  }
  BundleResult made = make_bundle(anchor_seq, anchor_hash, records, "2026-11-01T00:00:00Z",
                                  "2026-11-25T10:00:00Z", true, log_first_bad, signer);
  if (!made.bundle) {
    std::cerr << path << ": " << made.error << '\n';
    return false;
  }
  if (first_form) {
    const ExportSeal seal = *parse_export(made.bundle->checkpoint_json);
    made.bundle->checkpoint_json =
        checkpoint_json(seal.last.seq, seal.last.hash, seal.last.time, true);
    made.bundle->signature = *sekisho::from_hex(signer.sign_hex(made.bundle->checkpoint_json));
  }
  if (std::error_code error = write_bundle(path, *made.bundle)) {
    std::cerr << path << ": " << error.message() << '\n';
    return false;
  }
  return true;
}

int make(const std::string& dir) {
  AuditLog log;
  Signer signer, other;
  if (log.open(dir + "/audit.db") || !testing::fill_log(log, kRecords) ||
      signer.load_or_create(dir + "/key.pem") || other.load_or_create(dir + "/other-key.pem")) {
    std::cerr << "cannot make the audit log or the keys in " << dir << '\n';
    return 1;
  }
  const bool ok = export_bundle(log, signer, 1, dir + "/full.tar.gz") &&
                  export_bundle(log, signer, 101, dir + "/tail.tar.gz") &&
                  export_bundle(log, signer, kRecords + 1, dir + "/empty.tar.gz") &&
                  export_bundle(log, signer, 1, dir + "/broken.tar.gz", 42) &&
                  export_bundle(log, signer, 101, dir + "/first-form.tar.gz", {}, true) &&
                  write_text(dir + "/pubkey.pem", signer.public_pem()) &&
                  write_text(dir + "/other.pem", other.public_pem());
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2) {
    return make(argv[1]);
  }
  std::cerr << "usage: sekisho_make_test_bundle DIR\n";
  return 2;
}
