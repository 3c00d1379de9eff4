// `sekishoctl decommission [--yes] [--out FILE] [--state-dir DIR] [--config-dir DIR]
// [--broker-store DIR]`: the data disposal of the JPCERT/CC guide (P-5) for a gateway that
// leaves service. The audit log leaves the box first, as a signed bundle that is read back
// and verified before anything goes; then every file of the configuration and the state is
// destroyed, keys overwritten before they are unlinked. The local broker's store is
// another user's directory: listed as left, with how to remove it.
//
// A local command: it works on the directories themselves and refuses while sekishod runs
// (it holds the state lock, or its control socket answers), because a running daemon
// would keep writing the files being destroyed. Without --yes it only says what it would
// do.

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include <date/date.h>
#include <fcntl.h>
#include <nlohmann/json.hpp>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/audit/audit_log.hpp"
#include "daemon/audit/bundle.hpp"
#include "daemon/audit/signer.hpp"
#include "daemon/common/clock.hpp"
#include "daemon/common/exit_codes.hpp"
#include "daemon/common/files.hpp"
#include "daemon/common/sha256.hpp"
#include "daemon/common/state_lock.hpp"
#include "daemon/control/roles.hpp"
#include "daemon/sekishoctl/commands.hpp"
#include "daemon/sekishoctl/decommission_destroy.hpp"
#include "daemon/sekishoctl/decommission_plan.hpp"

namespace sekisho::ctl {

namespace {

namespace fs = std::filesystem;

constexpr const char* kDefaultStateDir = "/var/lib/sekisho";
constexpr const char* kDefaultConfigDir = "/etc/sekisho";
constexpr const char* kDefaultBrokerStore = "/var/lib/sekisho-broker";
constexpr std::size_t kMaxBundleBytes = 4ull << 30;

constexpr const char* kFlashWarning =
    "flash storage (SSD, eMMC, SD cards) remaps writes, so overwriting a file does not reach "
    "every copy the device may keep; for certain disposal erase the whole device with its "
    "secure-erase command (e.g. `blkdiscard --secure`, `nvme format --ses=1`) or destroy it "
    "physically";

using decommission::check_access;
using decommission::destroy;
using decommission::Destroyed;
using decommission::errno_code;
using decommission::exists_no_follow;
using decommission::Failure;
using decommission::io_failure;
using decommission::is_under;
using decommission::make_plan;
using decommission::Plan;
using decommission::real_dir;
using decommission::Result;
using decommission::Settings;
using decommission::system_directory_in;
using decommission::Target;

struct Export {
  std::string path;
  std::string sha256;
  std::int64_t records = 0;
  std::string public_pem;
};

std::string how_text(bool key) {
  return key ? "overwritten+unlinked" : "unlinked";
}

nlohmann::json left_json(const Plan& plan) {
  nlohmann::json left = nlohmann::json::array();
  for (const decommission::Left& file : plan.left) {
    left.push_back({{"path", file.path}, {"reason", file.reason}});
  }
  return left;
}

// What stays, and why: said before and after, so nobody takes it for destroyed.
void print_left(const Plan& plan, std::string_view verb, std::ostream& out) {
  if (plan.left.empty()) {
    return;
  }
  out << verb << ' ' << plan.left.size() << " untouched:\n";
  for (const decommission::Left& file : plan.left) {
    out << "  " << file.path << ": " << file.reason << '\n';
  }
}

std::string host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') {
    return "localhost";
  }
  return name;
}

// The default --out: in the current directory, named after the host and the time.
std::string default_out(std::chrono::sys_seconds now) {
  std::string host = host_name();
  // A host name becomes part of a path: nothing but letters, digits, '-' and '.'.
  std::replace_if(
      host.begin(), host.end(),
      [](char c) { return !(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.'); },
      '_');
  return "./sekisho-audit-" + host + "-" + date::format("%Y%m%dT%H%M%SZ", now) + ".tar.gz";
}

// The caller as the control plane names an actor (SO_PEERCRED gives the effective ids):
// uid, user name, and the role their groups give.
audit::Actor calling_actor() {
  const uid_t uid = ::geteuid();
  std::string user = std::to_string(uid);
  passwd entry{};
  passwd* found = nullptr;
  std::vector<char> buffer(16384);
  if (::getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found) == 0 && found) {
    user = found->pw_name;
  }
  std::vector<gid_t> groups = {::getegid()};
  const int count = ::getgroups(0, nullptr);
  if (count > 0) {
    std::vector<gid_t> supplementary(static_cast<std::size_t>(count));
    const int got = ::getgroups(count, supplementary.data());
    groups.insert(groups.end(), supplementary.begin(), supplementary.begin() + std::max(got, 0));
  }
  const control::Role role = control::role_of(uid, groups, control::system_role_groups());
  return {static_cast<std::int64_t>(uid), user, std::string(control::role_name(role))};
}

// Whether something answers on the control socket: a daemon that runs with another state
// directory than the one named still uses the configuration being destroyed.
bool control_socket_answers(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof address.sun_path) {
    return false;
  }
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  Fd socket_fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  return socket_fd.get() >= 0 &&
         ::connect(socket_fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
}

Result refuse_while_running(const Settings& settings, const std::string& control, StateLock& lock) {
  if (std::error_code error = lock.acquire(settings.state_dir)) {
    if (StateLock::busy(error)) {
      return Failure{kExitInvalid, "sekishod is running (it holds " +
                                       StateLock::path_in(settings.state_dir) +
                                       "); stop it first: systemctl stop sekishod"};
    }
    // No state directory: no daemon keeps one there either.
    if (error != std::errc::no_such_file_or_directory) {
      return io_failure(StateLock::path_in(settings.state_dir), error, "lock");
    }
  }
  if (control_socket_answers(control)) {
    return Failure{kExitInvalid, "sekishod is running (it answers on " + control +
                                     "); stop it first: systemctl stop sekishod"};
  }
  return std::nullopt;
}

std::string cannot_export(const std::string& db) {
  return "; nothing was destroyed; " + db + " can be copied by hand";
}

// The audit log verified, closed with a `decommission` record and a signed checkpoint, and
// every record written to settings.out as a bundle that is read back and verified with the
// device's public key. `export_info` stays empty when there is no audit log.
Result export_audit(const Settings& settings, std::size_t file_count, std::chrono::sys_seconds now,
                    std::optional<Export>& export_info) {
  const std::string db = settings.state_dir + "/audit.db";
  const std::string key = settings.state_dir + "/audit-key.pem";
  if (!exists_no_follow(db)) {
    return std::nullopt;
  }
  // A key made now would sign a bundle that no earlier checkpoint vouches for.
  if (!exists_no_follow(key)) {
    return Failure{kExitNegative, key +
                                      " is missing: the export cannot be signed with the "
                                      "device's key" +
                                      cannot_export(db)};
  }
  audit::Signer signer;
  if (signer.load(key)) {
    return Failure{kExitNegative,
                   "cannot load the audit key: " + signer.problem() + cannot_export(db)};
  }
  const std::string public_pem = signer.public_pem();
  audit::AuditLog log;
  if (std::error_code error = log.open(db)) {
    return Failure{kExitNegative, "cannot open " + db + ": " + error.message() + cannot_export(db)};
  }
  // sekishod is stopped: records it left unsigned (a crash) are signed by the checkpoint
  // below, as its next start would.
  const audit::VerifyResult verified =
      log.verify(public_pem, {.now = std::nullopt, .daemon_stopped = true});
  if (!verified.ok) {
    return Failure{kExitNegative,
                   db + " does not verify (" + verified.reason + ")" + cannot_export(db)};
  }
  const std::optional<audit::AuditLog::StoredCheckpoint> last_signed = log.newest_checkpoint();
  const std::string time = utc_text(now);
  const nlohmann::json details = {{"host", host_name()},
                                  {"files", static_cast<std::int64_t>(file_count)}};
  if (std::error_code error = log.append(time, calling_actor(), "decommission", details)) {
    return Failure{kExitNegative, "cannot append the decommission record to " + db + ": " +
                                      error.message() + cannot_export(db)};
  }
  if (std::error_code error = log.add_checkpoint(signer, time, clock_synchronised(),
                                                 last_signed && last_signed->checkpoint_every
                                                     ? *last_signed->checkpoint_every
                                                     : audit::kDefaultCheckpointEverySeconds)) {
    return Failure{kExitNegative, "cannot sign a checkpoint in " + db + ": " + error.message() +
                                      cannot_export(db)};
  }
  const audit::AuditLog::Start start = log.start();
  const std::vector<audit::Record> records = log.records(
      start.seq + 1, "", static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max()));
  const std::optional<audit::AuditLog::StoredCheckpoint> checkpoint = log.newest_checkpoint();
  if (records.empty() || !checkpoint || checkpoint->seq != records.back().seq) {
    return Failure{kExitNegative,
                   "the newest record of " + db + " has no signed checkpoint" + cannot_export(db)};
  }
  // Everything the log holds: from its first record's time on.
  const audit::BundleResult made =
      audit::make_bundle(start.seq, start.hash, records, records.front().time, checkpoint->time,
                         checkpoint->clock_synchronised, std::nullopt, signer);
  const std::string bytes = made.bundle ? audit::encode_bundle(*made.bundle) : "";
  if (bytes.empty()) {
    return Failure{kExitNegative, "cannot build the bundle: " + made.error + cannot_export(db)};
  }
  if (std::error_code error = write_new_file(settings.out, bytes, 0600)) {
    Failure failure = io_failure(settings.out, error, "write");
    failure.message += cannot_export(db);
    return failure;
  }
  // What leaves the box must pass the auditor's check as it is on the disk.
  std::error_code error;
  const std::optional<std::string> written = read_small_file(settings.out, kMaxBundleBytes, error);
  const audit::BundleResult reread =
      written ? audit::decode_bundle(*written) : audit::BundleResult{};
  const audit::VerifyResult checked =
      reread.bundle ? audit::verify_bundle(*reread.bundle, public_pem) : audit::VerifyResult{};
  if (!reread.bundle || !checked.ok) {
    ::unlink(settings.out.c_str());
    return Failure{kExitNegative, settings.out + " does not read back as a bundle that verifies (" +
                                      (reread.bundle ? checked.reason : reread.error) +
                                      "); it was removed" + cannot_export(db)};
  }
  if (std::error_code failed = write_new_file(settings.public_out, public_pem, 0644)) {
    Failure failure = io_failure(settings.public_out, failed, "write");
    failure.message += cannot_export(db);
    return failure;
  }
  export_info = Export{settings.out, sha256_hex(*written), checked.records, public_pem};
  return std::nullopt;
}

// The audit log as it is, for the dry run: whether --yes could export it.
nlohmann::json audit_log_state(const Settings& settings) {
  const std::string db = settings.state_dir + "/audit.db";
  if (!exists_no_follow(db)) {
    return nullptr;
  }
  const std::string key = settings.state_dir + "/audit-key.pem";
  audit::Signer signer;
  if (!exists_no_follow(key) || signer.load(key)) {
    return {{"path", db},
            {"ok", false},
            {"records", 0},
            {"reason", exists_no_follow(key) ? signer.problem() : key + " is missing"}};
  }
  audit::AuditLog log;
  if (std::error_code error = log.open(db)) {
    return {{"path", db}, {"ok", false}, {"records", 0}, {"reason", error.message()}};
  }
  const audit::VerifyResult verified = log.verify(signer.public_pem());
  return {{"path", db},
          {"ok", verified.ok},
          {"records", verified.records},
          {"reason", verified.reason}};
}

int print_dry_run(const Settings& settings, const Plan& plan, const nlohmann::json& log,
                  const Args& args, Io& io) {
  const std::vector<std::string>& dirs = plan.dirs;
  if (args.json) {
    nlohmann::json files = nlohmann::json::array();
    for (const Target& file : plan.files) {
      files.push_back({{"path", file.path}, {"bytes", file.bytes}, {"how", how_text(file.key)}});
    }
    nlohmann::json export_json = nullptr;
    if (!log.is_null()) {
      export_json = {{"path", settings.out},
                     {"records", log.at("records").get<std::int64_t>() + 1},
                     {"audit_log", log}};
    }
    io.out << nlohmann::json{{"dry_run", true},         {"export", export_json},
                             {"destroy", files},        {"directories", dirs},
                             {"left", left_json(plan)}, {"notes", plan.notes}}
                  .dump(2, ' ', false, nlohmann::json::error_handler_t::replace)
           << '\n';
    return kExitOk;
  }
  io.out << "decommission of " << settings.config_dir << " and " << settings.state_dir
         << " (dry run)\n";
  if (log.is_null()) {
    io.out << "export: there is no audit log (" << settings.state_dir
           << "/audit.db): nothing to export\n";
  } else if (log.at("ok").get<bool>()) {
    io.out << "export: " << log.at("path").get<std::string>() << ", "
           << log.at("records").get<std::int64_t>()
           << " records and a decommission record, chain intact, to " << settings.out
           << " (signed with the device's audit key; its public key to " << settings.public_out
           << ")\n";
  } else {
    io.out << "export: " << log.at("path").get<std::string>()
           << " does NOT verify: " << log.at("reason").get<std::string>()
           << "\n  --yes would refuse and destroy nothing; copy it by hand to keep it\n";
  }
  io.out << "would destroy " << plan.files.size() << " files:\n";
  for (const Target& file : plan.files) {
    io.out << "  " << file.bytes << "  " << how_text(file.key) << "  " << file.path << '\n';
  }
  io.out << "and remove " << dirs.size() << " directories (";
  for (std::size_t i = 0; i < dirs.size(); ++i) {
    io.out << (i ? ", " : "") << dirs[i];
  }
  io.out << ")\n";
  print_left(plan, "would leave", io.out);
  for (const std::string& note : plan.notes) {
    io.err << "note: " << note << '\n';
  }
  io.out << "nothing was destroyed; run again with --yes to decommission\n";
  return kExitOk;
}

void print_report(const std::optional<Export>& export_info, const std::vector<Destroyed>& destroyed,
                  const std::vector<std::string>& dirs, const Plan& plan, const Settings& settings,
                  const Args& args, Io& io) {
  if (args.json) {
    nlohmann::json files = nlohmann::json::array();
    for (const Destroyed& file : destroyed) {
      files.push_back({{"path", file.path},
                       {"sha256", file.sha256},
                       {"bytes", file.bytes},
                       {"how", how_text(file.key)}});
    }
    nlohmann::json out = {{"export", nullptr},       {"public_key", nullptr},
                          {"destroyed", files},      {"directories", dirs},
                          {"left", left_json(plan)}, {"warning", kFlashWarning}};
    if (export_info) {
      out["export"] = {{"path", export_info->path},
                       {"sha256", export_info->sha256},
                       {"records", export_info->records}};
      out["public_key"] = export_info->public_pem;
    }
    io.out << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
    return;
  }
  if (export_info) {
    io.out << "exported the audit log: " << export_info->records << " records to "
           << export_info->path << "\n  sha256 " << export_info->sha256
           << "\nthe device's audit public key (also in " << settings.public_out << ", sha256 "
           << sha256_hex(export_info->public_pem) << "):\n"
           << export_info->public_pem
           << "whoever receives the bundle checks it with:\n  sekishoctl audit verify --bundle "
           << export_info->path << " --pubkey " << settings.public_out << '\n';
  } else {
    io.out << "there was no audit log (" << settings.state_dir
           << "/audit.db): nothing was exported\n";
  }
  io.out << "destroyed " << destroyed.size() << " files:\n";
  for (const Destroyed& file : destroyed) {
    io.out << file.sha256 << "  " << file.bytes << "  " << how_text(file.key) << "  " << file.path
           << '\n';
  }
  for (const std::string& dir : dirs) {
    io.out << "removed " << dir << '\n';
  }
  print_left(plan, "left", io.out);
  io.out << "WARNING: " << kFlashWarning << ".\n";
}

Result read_settings(const Args& args, Io& io, Settings& settings) {
  if (!args.positional.empty()) {
    return Failure{kExitUsage, "unexpected argument '" + args.positional.front() + "'"};
  }
  const std::string* state = args.value("state-dir");
  const std::string* config = args.value("config-dir");
  const std::string* out = args.value("out");
  const std::string* broker_store = args.value("broker-store");
  settings.state_dir = real_dir(state ? *state : kDefaultStateDir);
  settings.config_dir = real_dir(config ? *config : kDefaultConfigDir);
  settings.broker_store = real_dir(broker_store ? *broker_store : kDefaultBrokerStore);
  settings.out = out ? *out : default_out(io.now);
  if (settings.out.empty() || settings.out.back() == '/') {
    return Failure{kExitUsage, "--out names a directory; it takes a file name"};
  }
  settings.public_out = settings.out + ".pub.pem";
  // A slip of the keyboard must not take the system with it: --config-dir /etc would
  // destroy every file below /etc.
  for (const std::string& dir : {settings.state_dir, settings.config_dir}) {
    if (std::optional<std::string> system = system_directory_in(dir)) {
      return Failure{kExitUsage, dir + " holds " + *system +
                                     ", a directory of the system, not only sekisho's: "
                                     "give the directory sekisho uses (e.g. " +
                                     kDefaultStateDir + ", " + kDefaultConfigDir + ")"};
    }
  }
  // The export would be destroyed with what it is the record of.
  std::error_code error;
  const fs::path where = fs::weakly_canonical(fs::absolute(settings.out, error), error);
  for (const std::string& dir : {settings.state_dir, settings.config_dir}) {
    if (is_under(where, dir)) {
      return Failure{kExitUsage, settings.out + " is inside " + dir +
                                     ", which is destroyed: give --out a place outside it"};
    }
  }
  for (const std::string& path : {settings.out, settings.public_out}) {
    if (exists_no_follow(path)) {
      return Failure{kExitInvalid,
                     path + " exists; decommission never overwrites a file: choose another --out"};
    }
  }
  return std::nullopt;
}

int fail(Io& io, const Failure& failure) {
  io.err << "sekishoctl decommission: " << failure.message << '\n';
  if (failure.code == kExitUsage) {
    io.err << "usage: sekishoctl decommission [--yes] [--out FILE] [--state-dir DIR] "
              "[--config-dir DIR] [--broker-store DIR] [--json]\n";
  }
  return failure.code;
}

}  // namespace

int run_decommission(const Args& args, Io& io) {
  Settings settings;
  if (Result failed = read_settings(args, io, settings)) {
    return fail(io, *failed);
  }
  // Held until the command returns: no sekishod may start on the state being destroyed.
  StateLock lock;
  if (Result failed = refuse_while_running(settings, args.control, lock)) {
    return fail(io, *failed);
  }
  Plan plan;
  Result failed = make_plan(settings, plan);
  if (!failed && !args.flag("yes")) {
    return print_dry_run(settings, plan, audit_log_state(settings), args, io);
  }
  if (!failed) {
    failed = check_access(settings, plan);
  }
  if (failed) {
    failed->message += "; nothing was destroyed";
    return fail(io, *failed);
  }
  std::optional<Export> export_info;
  if (Result not_exported = export_audit(settings, plan.files.size(), io.now, export_info)) {
    return fail(io, *not_exported);
  }
  for (const std::string& note : plan.notes) {
    io.err << "note: " << note << '\n';
  }
  std::vector<Destroyed> destroyed;
  std::vector<std::string> removed_dirs;
  failed = destroy(plan, destroyed, removed_dirs);
  // What is gone is said even when the rest could not go.
  print_report(export_info, destroyed, removed_dirs, plan, settings, args, io);
  if (failed) {
    return fail(io, *failed);
  }
  return kExitOk;
}

}  // namespace sekisho::ctl
