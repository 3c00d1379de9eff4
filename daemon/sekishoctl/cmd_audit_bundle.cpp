// `sekishoctl audit verify --bundle FILE --pubkey FILE`: an exported audit bundle checked
// offline, without the daemon (docs/audit-format.md, "Exported bundles").
//
// Exit codes: 0 intact; 1 not intact (tampered, corrupt or truncated gzip or tar, a
// signature that does not verify with this key); 2 bad command line, which includes a
// --bundle or --pubkey FILE that cannot be read (missing, permission, a directory) and a
// --pubkey FILE that is not an Ed25519 public key: nothing was checked then, so the answer
// is neither "intact" nor "tampered".

#include <optional>
#include <string>
#include <system_error>

#include <nlohmann/json.hpp>

#include "daemon/audit/bundle.hpp"
#include "daemon/audit/signer.hpp"
#include "daemon/common/exit_codes.hpp"
#include "daemon/common/files.hpp"
#include "daemon/sekishoctl/commands.hpp"

namespace sekisho::ctl {

namespace {

constexpr std::size_t kMaxPublicKeyBytes = 64 * 1024;

nlohmann::json json_or_null(const std::optional<std::int64_t>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

}  // namespace

std::optional<std::string> read_audit_public_key(const std::string& path, Io& io) {
  std::error_code error;
  std::optional<std::string> public_pem = read_small_file(path, kMaxPublicKeyBytes, error);
  if (!public_pem) {
    io.err << "sekishoctl audit verify: cannot read the public key " << path << ": "
           << (error == std::errc::file_too_large ? "larger than a public key can be"
                                                  : error.message())
           << '\n';
    return std::nullopt;
  }
  if (!audit::is_public_key(*public_pem)) {
    io.err << "sekishoctl audit verify: " << path
           << " is not an Ed25519 public key (PEM, as `sekishoctl audit pubkey` prints it)\n";
    return std::nullopt;
  }
  return public_pem;
}

int run_audit_verify_bundle(const Args& args, Io& io) {
  const char* usage = "usage: sekishoctl audit verify --bundle FILE --pubkey FILE [--json]\n";
  if (!(args.positional.empty() ||
        (args.positional.size() == 1 && args.positional[0] == "verify"))) {
    io.err << "sekishoctl audit verify: unexpected argument\n" << usage;
    return kExitUsage;
  }
  const std::string* bundle_path = args.value("bundle");
  const std::string* key_path = args.value("pubkey");
  if (!bundle_path || !key_path) {
    io.err << "sekishoctl audit verify: " << (bundle_path ? "--pubkey" : "--bundle")
           << " FILE is needed to check a bundle offline\n"
           << usage;
    return kExitUsage;
  }
  const std::optional<std::string> public_pem = read_audit_public_key(*key_path, io);
  if (!public_pem) {
    return kExitUsage;
  }
  const audit::BundleResult read = audit::read_bundle(*bundle_path);
  if (read.io_error) {
    io.err << "sekishoctl audit verify: cannot read the bundle " << *bundle_path << ": "
           << read.error << '\n';
    return kExitUsage;
  }

  audit::VerifyResult result;
  std::optional<audit::Anchor> anchor;
  std::optional<audit::ExportSeal> seal;
  if (read.bundle) {
    result = audit::verify_bundle(*read.bundle, *public_pem);
    anchor = audit::parse_anchor(read.bundle->anchor_json);
    seal = audit::parse_export(read.bundle->checkpoint_json);
  } else {
    result.ok = false;
    result.reason = read.error;
  }
  std::optional<std::int64_t> first_seq, last_seq;
  if (anchor && result.records > 0) {
    first_seq = anchor->seq + 1;
    if (result.ok) {
      last_seq = anchor->seq + result.records;
    }
  }

  if (args.json) {
    nlohmann::json out = {
        {"bundle", *bundle_path},
        {"pubkey", *key_path},
        {"ok", result.ok},
        {"records", result.records},
        {"first_seq", json_or_null(first_seq)},
        {"last_seq", json_or_null(last_seq)},
        {"first_bad", json_or_null(result.first_bad)},
        {"reason", result.reason},
        {"anchor", nullptr},
        {"since", nullptr},
        {"checkpoint", nullptr},
        {"log_first_bad", nullptr},
    };
    if (anchor) {
      out["anchor"] = {{"seq", anchor->seq}, {"hash", anchor->hash}};
    }
    if (seal) {
      out["since"] = seal->since;
      out["checkpoint"] = {{"seq", seal->last.seq},
                           {"hash", seal->last.hash},
                           {"time", seal->last.time},
                           {"clock_synchronised", seal->last.clock_synchronised}};
      out["log_first_bad"] = json_or_null(seal->log_first_bad);
    }
    io.out << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
  } else if (!result.ok) {
    io.out << "bundle " << *bundle_path << " TAMPERED: " << result.reason << '\n';
  } else {
    io.out << "bundle " << *bundle_path << ": ";
    if (result.records > 0) {
      io.out << result.records << (result.records == 1 ? " record" : " records") << " (seq "
             << *first_seq << ".." << *last_seq << ") since " << seal->since << ", chain intact, ";
    } else {
      io.out << "no records since " << seal->since << " (none after seq " << anchor->seq << "), ";
    }
    io.out << "sealed " << seal->last.time
           << (seal->last.clock_synchronised ? " (clock synchronised)"
                                             : " (clock NOT synchronised: that time may be wrong)")
           << ", anchor and since signed, verifies with " << *key_path << '\n';
  }
  return result.ok ? kExitOk : kExitNegative;
}

}  // namespace sekisho::ctl
