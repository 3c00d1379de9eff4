// `sekishoctl audit export --since DATE --out FILE` (admin): the daemon signs a checkpoint
// and names the range; the records come page by page; the bundle is written here, as the
// caller, then read back and verified with the device's public key before the daemon
// records it as written (docs/audit-format.md, "Exported bundles").

#include "daemon/audit/bundle.hpp"
#include "daemon/common/exit_codes.hpp"
#include "daemon/common/files.hpp"
#include "daemon/common/sha256.hpp"
#include "daemon/sekishoctl/client.hpp"
#include "daemon/sekishoctl/commands.hpp"

namespace sekisho::ctl {

namespace {

constexpr std::size_t kPage = 1000;

audit::Record record_of(const nlohmann::json& json) {
  audit::Record record;
  record.seq = json.at("seq").get<std::int64_t>();
  record.time = json.at("time").get<std::string>();
  const nlohmann::json& actor = json.at("actor");
  record.actor = {actor.at("uid").get<std::int64_t>(), actor.at("user").get<std::string>(),
                  actor.at("role").get<std::string>()};
  record.kind = json.at("kind").get<std::string>();
  record.details = json.at("details");
  record.previous = json.at("previous").get<std::string>();
  record.hash = json.at("hash").get<std::string>();
  return record;
}

int fail(Io& io, const std::string& message, int code) {
  io.err << "sekishoctl audit export: " << message << '\n';
  return code;
}

}  // namespace

int run_audit_export(const Args& args, Io& io) {
  const std::string* since = args.value("since");
  const std::string* out = args.value("out");
  if (!since || !out) {
    return fail(io, "needs --since DATE (YYYY-MM-DD, UTC) and --out FILE", kExitUsage);
  }
  Reply range = call(args.control, "audit.export", {{"since", *since}});
  if (range.exit_code != kExitOk) {
    print_error(io.err, "audit export", range);
    return range.exit_code;
  }
  Reply key = call(args.control, "audit.pubkey");
  if (key.exit_code != kExitOk) {
    print_error(io.err, "audit export", key);
    return key.exit_code;
  }
  const nlohmann::json& r = range.result;
  const std::int64_t first = r.at("first_seq").get<std::int64_t>();
  const std::int64_t last = r.at("last_seq").get<std::int64_t>();
  std::vector<audit::Record> records;
  for (std::int64_t next = first; next <= last;) {
    Reply page = call(args.control, "audit.show", {{"since", next}, {"limit", kPage}});
    if (page.exit_code != kExitOk) {
      print_error(io.err, "audit export", page);
      return page.exit_code;
    }
    if (page.result.empty()) {
      return fail(io,
                  "records " + std::to_string(next) + ".." + std::to_string(last) +
                      " are missing from the log",
                  kExitNegative);
    }
    if (page.result.front().value("seq", std::int64_t{0}) != next) {
      return fail(io, "record " + std::to_string(next) + " is missing from the log", kExitNegative);
    }
    for (const nlohmann::json& json : page.result) {
      audit::Record record = record_of(json);
      if (record.seq > last) {
        break;
      }
      next = record.seq + 1;
      records.push_back(std::move(record));
    }
  }
  const nlohmann::json& checkpoint = r.at("checkpoint");
  audit::BundleResult made = audit::make_bundle(r.at("anchor").at("seq").get<std::int64_t>(),
                                                r.at("anchor").at("hash").get<std::string>(),
                                                records, checkpoint.at("time").get<std::string>(),
                                                checkpoint.at("clock_synchronised").get<bool>(),
                                                checkpoint.at("signature").get<std::string>());
  if (!made.bundle) {
    return fail(io, "cannot build the bundle: " + made.error, kExitNegative);
  }
  // What goes to the auditor must pass the auditor's check here first.
  const std::string public_pem = key.result.value("pem", "");
  audit::VerifyResult verified = audit::verify_bundle(*made.bundle, public_pem);
  if (!verified.ok) {
    return fail(io, "the exported records do not verify: " + verified.reason, kExitNegative);
  }
  if (std::error_code error = audit::write_bundle(*out, *made.bundle)) {
    return fail(io, "cannot write " + *out + ": " + error.message(), kExitNegative);
  }
  std::error_code error;
  std::optional<std::string> bytes = read_small_file(*out, 4ull << 30, error);
  audit::BundleResult reread = bytes ? audit::decode_bundle(*bytes) : audit::BundleResult{};
  if (!reread.bundle || !audit::verify_bundle(*reread.bundle, public_pem).ok) {
    return fail(io, *out + " does not read back as the bundle written", kExitNegative);
  }
  const std::string digest = sha256_hex(*bytes);
  // The daemon records the written bundle; retention may then remove what it covers.
  bool continues = true;
  if (!records.empty()) {
    Reply recorded = call(args.control, "audit.export",
                          {{"written", {{"through", last}, {"sha256", digest}, {"file", *out}}}});
    if (recorded.exit_code != kExitOk) {
      print_error(io.err, "audit export", recorded);
      return recorded.exit_code;
    }
    continues = recorded.result.value("continues_earlier_exports", false);
  }
  if (!continues) {
    io.err << "note: records before " << first
           << " are in no export yet, so retention keeps every record; export from an "
              "earlier date to cover them\n";
  }
  if (args.json) {
    io.out << nlohmann::json{{"file", *out},
                             {"sha256", digest},
                             {"records", records.size()},
                             {"first_seq", first},
                             {"last_seq", last},
                             {"checkpoint_time", checkpoint.at("time")}}
                  .dump(2)
           << '\n';
    return kExitOk;
  }
  io.out << "exported " << records.size() << " records (seq " << first << ".." << last << ") since "
         << r.value("since", "") << " to " << *out << "\n  sha256 " << digest
         << "\n  checkpoint signed " << checkpoint.at("time").get<std::string>()
         << (checkpoint.at("clock_synchronised").get<bool>() ? " (clock synchronised)"
                                                             : " (clock NOT synchronised)")
         << "\n  an auditor checks it with: sekishoctl audit verify --bundle " << *out
         << " --pubkey KEY.pem\n  (KEY.pem: 'sekishoctl audit pubkey', taken from the device "
            "itself)\n";
  return kExitOk;
}

}  // namespace sekisho::ctl
