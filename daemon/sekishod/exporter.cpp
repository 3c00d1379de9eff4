#include "daemon/sekishod/exporter.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iterator>
#include <vector>

#include <boost/asio/post.hpp>
#include <date/date.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/audit/audit_log.hpp"
#include "daemon/common/files.hpp"
#include "daemon/common/log.hpp"

namespace sekisho::daemon {

namespace {

// What the audit log keeps free beside an export.
constexpr std::uint64_t kReserveBytes = 64ull << 20;

// A bundle of ours in exports/: audit-FIRST-LAST-STAMP.tar.gz.
struct Kept {
  std::string name;
  std::int64_t first = 0;
  std::int64_t last = 0;
  std::string stamp;
};

std::optional<Kept> parse_name(const std::string& name) {
  long long first = 0, last = 0;
  char stamp[32] = {};
  int consumed = 0;
  if (std::sscanf(name.c_str(), "audit-%lld-%lld-%16[0-9TZ].tar.gz%n", &first, &last, stamp,
                  &consumed) == 3 &&
      static_cast<std::size_t>(consumed) == name.size() && first >= 1 && last >= first - 1) {
    return Kept{name, first, last, stamp};
  }
  return std::nullopt;
}

std::vector<Kept> kept_in(const std::string& dir) {
  std::vector<Kept> out;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    if (entry.is_regular_file(error) && !entry.is_symlink(error)) {
      if (auto kept = parse_name(entry.path().filename().string())) {
        out.push_back(*kept);
      }
    }
  }
  return out;
}

// Beside a bundle a client downloaded to its last byte (Exporter::mark_copied).
constexpr const char* kCopiedSuffix = ".copied";

bool is_copied(const std::string& dir, const std::string& bundle) {
  struct stat status {};
  return ::lstat((dir + "/" + bundle + kCopiedSuffix).c_str(), &status) == 0 &&
         S_ISREG(status.st_mode);
}

// Whether every record first..last is in one of `bundles`.
bool held_by(std::int64_t first, std::int64_t last, std::vector<Kept> bundles) {
  std::sort(bundles.begin(), bundles.end(),
            [](const Kept& a, const Kept& b) { return a.first < b.first; });
  std::int64_t next = first;  // the first record not yet found held
  for (const Kept& bundle : bundles) {
    if (bundle.first > next) {
      break;
    }
    next = std::max(next, bundle.last + 1);
  }
  return next > last;
}

// Whether `bundle` holds a record retention removed or may remove from the log (seq <=
// `exported_through`) that none of `others` (which may list `bundle` itself) holds too.
bool only_copy(const Kept& bundle, std::int64_t exported_through, std::vector<Kept> others) {
  const std::int64_t pruned_last = std::min(bundle.last, exported_through);
  std::erase_if(others, [&bundle](const Kept& other) { return other.name == bundle.name; });
  return bundle.first <= pruned_last && !held_by(bundle.first, pruned_last, others);
}

}  // namespace

Exporter::Exporter(boost::asio::io_context& io)
    : io_(io),
      progress_(std::make_shared<audit::ExportProgress>()),
      alive_(std::make_shared<bool>(true)) {}

Exporter::~Exporter() {
  *alive_ = false;
  progress_->cancel = true;
  if (worker_.joinable()) {
    worker_.join();
  }
}

void Exporter::open(const std::string& state_dir) {
  dir_ = state_dir + "/exports";
  if (::mkdir(dir_.c_str(), 0700) < 0 && errno != EEXIST) {
    log_warning("cannot make " + dir_ + ": " +
                std::error_code(errno, std::generic_category()).message());
  }
  std::error_code error;
  std::vector<std::string> marks;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, error)) {
    const std::string name = entry.path().filename().string();
    if (name.ends_with(".new") || name.ends_with(".tmp")) {
      std::filesystem::remove(entry.path(), error);
    }
    if (name.ends_with(kCopiedSuffix)) {
      marks.push_back(name);
    }
  }
  // A mark whose bundle is gone (removed by hand) must not vouch for a later one.
  for (const std::string& mark : marks) {
    const std::string bundle = mark.substr(0, mark.size() - std::strlen(kCopiedSuffix));
    struct stat status {};
    if (!parse_name(bundle) || ::lstat((dir_ + "/" + bundle).c_str(), &status) < 0) {
      ::unlink((dir_ + "/" + mark).c_str());
    }
  }
}

void Exporter::mark_copied(const Job& job) {
  if (job.file.empty() || is_copied(dir_, job.file)) {
    return;
  }
  const std::string mark = dir_ + "/" + job.file + kCopiedSuffix;
  const int fd = ::open(mark.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    log_warning("cannot mark " + job.file +
                " as downloaded: " + std::error_code(errno, std::generic_category()).message());
    return;
  }
  ::close(fd);
  sync_directory_of(mark);
  log_notice("audit export " + std::to_string(job.id) + ": " + job.file +
             " was downloaded to its end; it may be removed like any other");
}

std::vector<std::string> Exporter::held_back(std::int64_t exported_through) const {
  const std::vector<Kept> bundles = kept_in(dir_);
  std::vector<std::string> out;
  for (const Kept& bundle : bundles) {
    if (!is_copied(dir_, bundle.name) && only_copy(bundle, exported_through, bundles)) {
      out.push_back(bundle.name);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

void Exporter::remove_bundle(const std::string& name) {
  ::unlink((dir_ + "/" + name).c_str());
  ::unlink((dir_ + "/" + name + kCopiedSuffix).c_str());
}

std::int64_t Exporter::start(const std::string& since, const audit::Actor& by, Auditor& auditor,
                             std::function<void(Job&)> done) {
  if (worker_.joinable()) {
    worker_.join();  // the last job's thread: it has ended (its result was delivered)
  }
  Job job;
  job.id = next_id_++;
  job.since = since;
  job.by = by.user;
  job_ = job;
  progress_ = std::make_shared<audit::ExportProgress>();
  const std::string stamp = date::format(
      "%Y%m%dT%H%M%SZ", std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()));
  const std::string temporary = dir_ + "/export-" + std::to_string(job.id) + ".tmp";
  // The worker reads the log on a connection of its own and signs with the auditor's key
  // (Signer::sign_hex takes a lock).
  const audit::Signer& signer = auditor.signer();
  worker_ = std::thread([this, id = job.id, db_path = auditor.path(), since, stamp, temporary,
                         &signer, public_pem = auditor.public_pem(), by, &auditor,
                         progress = progress_, alive = alive_, done = std::move(done)]() mutable {
    audit::ExportOutcome outcome;
    std::string file;
    audit::AuditLog log;
    if (std::error_code error = log.open_read_only(db_path)) {
      outcome.error = "cannot open " + db_path + ": " + error.message();
    } else {
      outcome =
          audit::export_log(log, since, temporary, signer, public_pem, *progress, kReserveBytes);
    }
    if (outcome.error.empty()) {
      // Named by what it holds, for tidy().
      file = "audit-" + std::to_string(outcome.first_seq) + "-" +
             std::to_string(outcome.seal.last.seq) + "-" + stamp + ".tar.gz";
      if (::rename(temporary.c_str(), (directory_of(temporary) + "/" + file).c_str()) < 0) {
        outcome.error = "cannot name the export " + file + ": " +
                        std::error_code(errno, std::generic_category()).message();
      } else {
        sync_directory_of(temporary);
      }
    }
    if (!outcome.error.empty()) {
      ::unlink(temporary.c_str());
    }
    boost::asio::post(io_, [this, id, alive, outcome = std::move(outcome), file = std::move(file),
                            by, &auditor, done = std::move(done)]() mutable {
      if (!*alive || !job_ || job_->id != id) {
        return;
      }
      job_->running = false;
      job_->outcome = std::move(outcome);
      job_->file = std::move(file);
      take_in(*job_, by, auditor);
      if (done) {
        done(*job_);
      }
    });
  });
  return job.id;
}

void Exporter::take_in(Job& job, const audit::Actor& by, Auditor& auditor) {
  audit::ExportOutcome& outcome = job.outcome;
  if (!outcome.error.empty()) {
    log_warning("audit export " + std::to_string(job.id) + " (since " + job.since +
                ") failed: " + outcome.error);
    return;
  }
  const std::int64_t first = outcome.first_seq, last = outcome.seal.last.seq;
  audit::AuditLog& log = auditor.log();
  // Retention may remove what a written export covers: that needs its record first.
  if (!auditor.record_or_refuse(by, "audit.exported",
                                {{"first", first},
                                 {"through", last},
                                 {"records", outcome.records},
                                 {"since", job.since},
                                 {"file", job.file},
                                 {"bytes", static_cast<std::int64_t>(outcome.bytes)},
                                 {"sha256", outcome.sha256},
                                 {"log_first_bad", outcome.seal.log_first_bad
                                                       ? nlohmann::json(*outcome.seal.log_first_bad)
                                                       : nlohmann::json()}})) {
    outcome.error = "the audit log cannot be written: the export is not recorded, and removed";
    job.failure_code = "audit_unavailable";
    ::unlink(path_of(job).c_str());
    sync_directory_of(path_of(job));
    return;
  }
  // Counted only when it holds records, starts where the earlier exports ended (or
  // before), and the device found its log intact: a bundle of a broken log is evidence,
  // not leave to remove what is left.
  job.continues = first <= std::max(log.exported_through(), log.start().seq) + 1;
  if (outcome.records > 0 && job.continues && !outcome.seal.log_first_bad) {
    if (std::error_code error = log.set_exported_through(last)) {
      log_error("cannot note the export in the audit log: " + error.message());
    }
  }
  job.exported_through = log.exported_through();
  // Records retention may remove are those exported (it removes them once they are old):
  // a bundle that alone holds such records stays until downloaded, removed or not yet.
  tidy(job, std::max(log.exported_through(), log.start().seq));
  log_notice("audit export " + std::to_string(job.id) + ": " + std::to_string(outcome.records) +
             " records (" + std::to_string(first) + ".." + std::to_string(last) + ") in " +
             path_of(job));
}

void Exporter::tidy(const Job& kept, std::int64_t exported_through) {
  std::vector<Kept> bundles = kept_in(dir_);
  const std::int64_t first = kept.outcome.first_seq, last = kept.outcome.seal.last.seq;
  std::vector<Kept> left;
  for (const Kept& bundle : bundles) {
    if (bundle.name == kept.file) {
      continue;
    }
    if (first <= bundle.first && last >= bundle.last) {
      remove_bundle(bundle.name);
      log_notice("audit export: removed " + bundle.name + " (" + kept.file + " holds its records)");
    } else {
      left.push_back(bundle);
    }
  }
  // The oldest go first; the new one stays.
  std::sort(left.begin(), left.end(), [](const Kept& a, const Kept& b) {
    return std::tie(a.stamp, a.last) < std::tie(b.stamp, b.last);
  });
  // A bundle may go when a client downloaded it to its end, or when the records of it that
  // the log no longer holds are in another.
  const auto may_go = [&](const Kept& bundle) {
    std::vector<Kept> others{{kept.file, first, last, ""}};
    others.insert(others.end(), left.begin(), left.end());
    return is_copied(dir_, bundle.name) || !only_copy(bundle, exported_through, others);
  };
  while (left.size() + 1 > kKept) {
    const auto oldest = std::find_if(left.begin(), left.end(), may_go);
    if (oldest == left.end()) {
      log_warning("audit export: " + std::to_string(left.size() + 1) +
                  " exports are kept, more than " + std::to_string(kKept) +
                  ": the older ones hold the only copy of records retention removed from the "
                  "log and were never downloaded (copy them off the box)");
      break;
    }
    remove_bundle(oldest->name);
    log_notice("audit export: removed " + oldest->name + " (at most " + std::to_string(kKept) +
               " exports are kept)");
    left.erase(oldest);
  }
  sync_directory_of(dir_ + "/" + kept.file);
}

std::pair<std::size_t, std::uint64_t> Exporter::usage() const {
  std::pair<std::size_t, std::uint64_t> out{0, 0};
  for (const Kept& bundle : kept_in(dir_)) {
    struct stat status {};
    if (::lstat((dir_ + "/" + bundle.name).c_str(), &status) == 0) {
      ++out.first;
      out.second += static_cast<std::uint64_t>(status.st_size);
    }
  }
  return out;
}

}  // namespace sekisho::daemon
