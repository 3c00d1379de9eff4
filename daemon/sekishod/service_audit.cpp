// The audit log over the control socket: show, verify, export.
//
// An export is made by sekishod itself (issue 20): a client's word that it wrote a bundle
// never counts. One method, three steps:
//   1. {"since": DATE}: recorded (audit.export), the newest record signed, and a job started
//      that writes the bundle into STATE_DIR/exports/ off the event loop (exporter.hpp);
//      the reply names the job.
//   2. {"job": N}: its progress; once done, the bundle's range, anchor, seal and SHA-256.
//      When it is done the daemon has fsynced it, read it back and verified it, recorded it
//      (audit.exported) and, if it continues the earlier exports, counted it for retention.
//   3. {"job": N, "offset": BYTES}: the next piece of the file (hex), so that an admin who
//      may not read STATE_DIR gets it; the client checks it again.

#include <algorithm>

#include <date/tz.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/common/clock.hpp"
#include "daemon/common/log.hpp"
#include "daemon/common/sha256.hpp"
#include "daemon/sekishod/service.hpp"
#include "policy/explain.hpp"
#include "policy/units.hpp"

namespace sekisho::daemon {

namespace {

using control::ControlError;
using control::ErrorCode;

nlohmann::json record_json(const audit::Record& record) {
  nlohmann::json out = {
      {"seq", record.seq},
      {"time", record.time},
      {"actor",
       {{"uid", record.actor.uid}, {"user", record.actor.user}, {"role", record.actor.role}}},
      {"kind", record.kind},
      {"details", record.details.is_discarded() ? nlohmann::json() : record.details},
      {"previous", record.previous},
      {"hash", record.hash}};
  if (!record.unreadable.empty()) {
    out["unreadable"] = record.unreadable;  // `audit verify` reports it
  }
  return out;
}

// A date (midnight UTC) or a time as `explain --at` takes it (UTC unless it carries Z or
// an offset such as +09:00), as the log's UTC text.
std::string since_time(const nlohmann::json& since) {
  const std::string text = since.is_string() ? since.get<std::string>() : "";
  if (std::optional<date::year_month_day> day = policy::parse_date(text)) {
    return utc_text(date::sys_days(*day));
  }
  std::string error;
  if (auto instant = policy::parse_instant(text, *date::locate_zone("UTC"), error)) {
    return utc_text(*instant);
  }
  throw ControlError(ErrorCode::Invalid,
                     "\"since\" must be a date YYYY-MM-DD (UTC) or a time "
                     "YYYY-MM-DDTHH:MM[:SS][Z|+hh:mm]" +
                         (error.empty() ? std::string() : ": " + error));
}

}  // namespace

nlohmann::json Service::audit_show_json(const nlohmann::json& params) {
  const std::int64_t since = params.value("since", std::int64_t{1});
  const std::string kind = params.value("kind", "");
  // A page at a time: a client gets at most 1000 records per request (a few hundred KiB),
  // so a client that asks for more and never reads costs the daemon little.
  const std::size_t limit = std::min<std::size_t>(params.value("limit", 1000), 1000);
  nlohmann::json out = nlohmann::json::array();
  for (const audit::Record& record : auditor_.log().records(since, kind, limit)) {
    out.push_back(record_json(record));
  }
  return out;
}

BackgroundJob::Work Service::audit_verify_work() {
  // A million records take seconds: read on the job's thread through a connection of its
  // own, as the log is when the job starts.
  return [path = auditor_.path(), public_pem = auditor_.public_pem(),
          key_problem = auditor_.key_problem(),
          changed = auditor_.log_changed()](std::stop_token stop) -> nlohmann::json {
    audit::AuditLog log;
    std::error_code error = log.open_read_only(path);
    if (!error) {
      error = log.begin_snapshot();
    }
    if (error) {
      throw std::runtime_error("cannot read the audit log " + path + ": " + error.message());
    }
    audit::VerifyOptions options;
    options.stop = stop;  // sekishod stops: give up at once (nobody gets the answer)
    audit::VerifyResult result = log.verify(public_pem, options);
    log.end_snapshot();
    // What sekishod saw change under it, the chain may no longer show (a tail cut or
    // rewritten before it was signed): the log is not intact.
    if (!changed.empty() && result.ok) {
      result.ok = false;
      result.reason = changed;
    } else if (!changed.empty()) {
      result.notes.push_back(changed);
    }
    if (!key_problem.empty()) {
      result.notes.push_back("the device key cannot be used (" + key_problem +
                             "): signatures and the time rule were not checked");
    }
    return {{"ok", result.ok},
            {"records", result.records},
            {"first_bad", result.first_bad ? nlohmann::json(*result.first_bad) : nlohmann::json()},
            {"reason", result.reason},
            {"unsigned_from",
             result.unsigned_from ? nlohmann::json(*result.unsigned_from) : nlohmann::json()},
            {"unsigned_records", result.unsigned_records},
            {"notes", result.notes}};
  };
}

nlohmann::json Service::audit_export_json(const nlohmann::json& params, const audit::Actor& by) {
  if (params.contains("written")) {
    throw ControlError(ErrorCode::Invalid,
                       "\"written\" is no longer taken: sekishod writes, verifies and records the "
                       "bundle itself ('sekishoctl audit export' of this version)");
  }
  if (auto id = params.find("job"); id != params.end()) {
    if (!id->is_number_integer()) {
      throw ControlError(ErrorCode::Invalid, "\"job\" is the number of an export job");
    }
    Exporter::Job* job = exporter_.job(id->get<std::int64_t>());
    if (!job) {
      throw ControlError(ErrorCode::NotFound,
                         "no export job " + std::to_string(id->get<std::int64_t>()) +
                             " (only the last one is kept, and none survives a restart)");
    }
    if (auto offset = params.find("offset"); offset != params.end()) {
      return export_chunk_json(*job, *offset);
    }
    return export_job_json(*job);
  }
  const std::string since = since_time(params.value("since", nlohmann::json()));
  // The request is itself evidence: recorded first, and signed, so the export covers it.
  auditor_.record(by, "audit.export", {{"since", since}});
  auditor_.checkpoint();
  if (exporter_.busy()) {
    const Exporter::Job& running = *exporter_.last();
    throw ControlError(ErrorCode::Conflict,
                       "an export is running (job " + std::to_string(running.id) + ", since " +
                           running.since + ", asked by " + running.by + "): wait for it");
  }
  // Bundles that hold the only copy of pruned records stay until downloaded: while kKept of
  // them wait, no new one is made, so the state directory cannot fill with them.
  if (const std::vector<std::string> held = exporter_.held_back(
          std::max(auditor_.log().exported_through(), auditor_.log().start().seq));
      held.size() >= Exporter::kKept) {
    std::string names;
    for (const std::string& name : held) {
      names += (names.empty() ? "" : ", ") + name;
    }
    throw ControlError(ErrorCode::Conflict,
                       std::to_string(held.size()) + " bundles in " + exporter_.directory() +
                           " hold the only copy of records retention removed from the log and "
                           "were never downloaded (" +
                           names + "): copy them off the box and remove them, then export again");
  }
  // Sealed with the device's key: never over records someone else wrote under sekishod.
  if (const std::string& changed = auditor_.log_changed(); !changed.empty()) {
    throw ControlError(ErrorCode::AuditUnavailable, changed + ": nothing can be exported");
  }
  if (!auditor_.signer().ready()) {
    throw ControlError(
        ErrorCode::AuditUnavailable,
        "the audit key cannot be used (" + auditor_.key_problem() + "): nothing can be exported");
  }
  const std::int64_t id = exporter_.start(since, by, auditor_);
  return export_job_json(*exporter_.job(id));
}

nlohmann::json Service::export_job_json(const Exporter::Job& job) {
  nlohmann::json out = {{"job", job.id}, {"since", job.since}, {"by", job.by}};
  if (job.running) {
    static constexpr const char* kPhases[] = {"checking", "writing", "verifying"};
    const audit::ExportProgress& progress = exporter_.progress();
    out["state"] = "running";
    out["phase"] = kPhases[std::clamp(progress.phase.load(), 0, 2)];
    out["records_done"] = progress.records_done.load();
    out["records_total"] = progress.records_total.load();
    return out;
  }
  const audit::ExportOutcome& outcome = job.outcome;
  if (!outcome.error.empty()) {
    out["state"] = "failed";
    out["error"] = outcome.error;
    out["code"] = job.failure_code.empty() ? "failed" : job.failure_code;
    return out;
  }
  const audit::ExportSeal& seal = outcome.seal;
  out["state"] = "done";
  out["file"] = job.file;
  out["bytes"] = outcome.bytes;
  out["sha256"] = outcome.sha256;
  out["records"] = outcome.records;
  out["first_seq"] = outcome.first_seq;
  out["last_seq"] = seal.last.seq;
  out["anchor"] = {{"seq", seal.anchor.seq}, {"hash", seal.anchor.hash}};
  out["checkpoint"] = {{"seq", seal.last.seq},
                       {"hash", seal.last.hash},
                       {"time", seal.last.time},
                       {"clock_synchronised", seal.last.clock_synchronised}};
  out["log_first_bad"] =
      seal.log_first_bad ? nlohmann::json(*seal.log_first_bad) : nlohmann::json();
  out["log_problem"] = outcome.log_problem;
  out["exported_through"] = job.exported_through;
  out["continues_earlier_exports"] = job.continues;
  return out;
}

nlohmann::json Service::export_chunk_json(Exporter::Job& job, const nlohmann::json& offset) {
  // 192 KiB a piece: 384 KiB of hex in a reply, well within what a connection may buffer.
  constexpr std::size_t kChunk = 192 * 1024;
  if (job.running || !job.outcome.error.empty()) {
    throw ControlError(ErrorCode::Conflict, "export job " + std::to_string(job.id) +
                                                (job.running ? " is still running" : " failed"));
  }
  if (!offset.is_number_unsigned() &&
      !(offset.is_number_integer() && offset.get<std::int64_t>() == 0)) {
    throw ControlError(ErrorCode::Invalid, "\"offset\" is a byte offset into the bundle");
  }
  const std::string path = exporter_.path_of(job);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    throw ControlError(ErrorCode::NotFound, job.file +
                                                " is no longer kept (a newer export replaced "
                                                "it): export again");
  }
  struct stat status {};
  if (::fstat(fd, &status) < 0 || static_cast<std::uint64_t>(status.st_size) != job.outcome.bytes) {
    ::close(fd);
    throw ControlError(ErrorCode::Conflict,
                       job.file + " changed on the disk after sekishod verified it: export again");
  }
  std::string data(kChunk, '\0');
  ssize_t n = -1;
  do {
    n = ::pread(fd, data.data(), data.size(), static_cast<off_t>(offset.get<std::uint64_t>()));
  } while (n < 0 && errno == EINTR);
  ::close(fd);
  if (n < 0) {
    throw std::runtime_error("cannot read " + path);
  }
  data.resize(static_cast<std::size_t>(n));
  // Read from its start to its last byte without a gap: the evidence is off the box (a
  // piece asked for out of order, the last one say, proves nothing).
  if (const std::uint64_t from = offset.get<std::uint64_t>(); from <= job.read_through) {
    job.read_through = std::max(job.read_through, from + static_cast<std::uint64_t>(n));
    if (job.read_through == job.outcome.bytes) {
      exporter_.mark_copied(job);
    }
  }
  return {{"job", job.id},
          {"offset", offset},
          {"size", job.outcome.bytes},
          {"sha256", job.outcome.sha256},
          {"data", to_hex(data.data(), data.size())}};
}

}  // namespace sekisho::daemon
