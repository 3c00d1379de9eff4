// `sekishoctl audit export --since DATE --out FILE` (admin): sekishod writes the bundle in
// its state directory, fsyncs it, reads it back and verifies it, and records it (only then
// does it count for retention); this command waits for that, downloads the file over the
// control socket in pieces, checks it again with the offline verifier and the device's
// public key, and writes it to FILE as the caller (docs/audit-format.md, "Exported
// bundles").

#include <chrono>
#include <thread>

#include "daemon/audit/bundle.hpp"
#include "daemon/common/exit_codes.hpp"
#include "daemon/common/files.hpp"
#include "daemon/common/sha256.hpp"
#include "daemon/sekishoctl/client.hpp"
#include "daemon/sekishoctl/commands.hpp"

namespace sekisho::ctl {

namespace {

// A bundle is at most 2 GiB of records, compressed.
constexpr std::uint64_t kMaxBundleBytes = 3ull << 30;

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
  Reply started = call(args.control, "audit.export", {{"since", *since}});
  if (started.exit_code != kExitOk) {
    print_error(io.err, "audit export", started);
    return started.exit_code;
  }
  const std::int64_t job = started.result.value("job", std::int64_t{0});
  // The daemon works off its event loop; ask how far it is until it has ended.
  nlohmann::json state = started.result;
  while (state.value("state", "") == "running") {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    Reply polled = call(args.control, "audit.export", {{"job", job}});
    if (polled.exit_code != kExitOk) {
      print_error(io.err, "audit export", polled);
      return polled.exit_code;
    }
    state = polled.result;
  }
  if (state.value("state", "") != "done") {
    return fail(io, "sekishod could not export: " + state.value("error", std::string("?")),
                state.value("code", "") == "audit_unavailable" ? kExitAuditDown : kExitNegative);
  }
  Reply key = call(args.control, "audit.pubkey");
  if (key.exit_code != kExitOk) {
    print_error(io.err, "audit export", key);
    return key.exit_code;
  }
  const std::uint64_t size = state.value("bytes", std::uint64_t{0});
  if (size > kMaxBundleBytes) {
    return fail(io, "the daemon names a bundle of " + std::to_string(size) + " bytes",
                kExitNegative);
  }
  std::string bytes;
  while (bytes.size() < size) {
    Reply piece = call(args.control, "audit.export", {{"job", job}, {"offset", bytes.size()}});
    if (piece.exit_code != kExitOk) {
      print_error(io.err, "audit export", piece);
      return piece.exit_code;
    }
    const std::optional<std::string> data = from_hex(piece.result.value("data", ""));
    if (!data || data->empty() || piece.result.value("offset", std::uint64_t{0}) != bytes.size()) {
      return fail(io,
                  "the download of " + state.value("file", std::string()) + " broke off at byte " +
                      std::to_string(bytes.size()),
                  kExitNegative);
    }
    bytes += *data;
  }
  const std::string digest = sha256_hex(bytes);
  if (bytes.size() != size || digest != state.value("sha256", "")) {
    return fail(io, "the bundle downloaded is not the one sekishod wrote (size or SHA-256 differ)",
                kExitNegative);
  }
  // What goes to the auditor must pass the auditor's check here too.
  const std::string public_pem = key.result.value("pem", "");
  const audit::BundleResult read = audit::decode_bundle(bytes);
  const audit::VerifyResult verified =
      read.bundle ? audit::verify_bundle(*read.bundle, public_pem) : audit::VerifyResult{};
  if (!read.bundle || !verified.ok) {
    return fail(
        io, "the exported bundle does not verify: " + (read.bundle ? verified.reason : read.error),
        kExitNegative);
  }
  if (std::error_code error = write_file_atomically(*out, bytes, 0644)) {
    return fail(io, "cannot write " + *out + ": " + error.message(), kExitNegative);
  }
  const std::int64_t records = state.value("records", std::int64_t{0});
  const std::int64_t first = state.value("first_seq", std::int64_t{0});
  const std::int64_t last = state.value("last_seq", std::int64_t{0});
  const nlohmann::json checkpoint = state.value("checkpoint", nlohmann::json::object());
  if (records > 0 && !state.value("continues_earlier_exports", false)) {
    io.err << "note: records before " << first
           << " are in no export yet, so retention keeps every record; export from an "
              "earlier date to cover them\n";
  }
  if (args.json) {
    io.out << nlohmann::json{{"file", *out},
                             {"sha256", digest},
                             {"records", records},
                             {"first_seq", first},
                             {"last_seq", last},
                             {"since", state.value("since", "")},
                             {"checkpoint_time", checkpoint.value("time", "")},
                             {"exported_through", state.value("exported_through", 0)},
                             {"device_copy", state.value("file", "")}}
                  .dump(2)
           << '\n';
    return kExitOk;
  }
  io.out << "exported " << records << " records (seq " << first << ".." << last << ") since "
         << state.value("since", "") << " to " << *out << "\n  sha256 " << digest << "\n  sealed "
         << checkpoint.value("time", "")
         << (checkpoint.value("clock_synchronised", false) ? " (clock synchronised)"
                                                           : " (clock NOT synchronised)")
         << "; sekishod keeps a copy (" << state.value("file", "")
         << "), records are exported through seq " << state.value("exported_through", 0)
         << "\n  an auditor checks it with: sekishoctl audit verify --bundle " << *out
         << " --pubkey KEY.pem\n  (KEY.pem: 'sekishoctl audit pubkey', taken from the device "
            "itself)\n";
  return kExitOk;
}

}  // namespace sekisho::ctl
