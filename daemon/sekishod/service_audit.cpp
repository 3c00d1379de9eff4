// The audit log over the control socket: show, verify, export.
//
// An export has two steps on one method, so that the daemon never writes into users'
// homes and a reply never has to hold months of records:
//   1. {"since": DATE}: the export is recorded, a checkpoint signs the newest record, and
//      the reply names the range (first..last seq), the hash it continues from (anchor)
//      and the signed checkpoint. The client pages the records with audit.show, writes
//      the bundle (docs/audit-format.md) and checks it.
//   2. {"written": {"through": SEQ, "sha256": HEX, "file": NAME}}: the bundle exists; its
//      hash is recorded. Retention prunes only records a written export covers.

#include <date/tz.h>

#include "daemon/common/clock.hpp"
#include "daemon/sekishod/service.hpp"
#include "policy/explain.hpp"
#include "policy/units.hpp"

namespace sekisho::daemon {

namespace {

using control::ControlError;
using control::ErrorCode;

nlohmann::json record_json(const audit::Record& record) {
  return {{"seq", record.seq},
          {"time", record.time},
          {"actor",
           {{"uid", record.actor.uid}, {"user", record.actor.user}, {"role", record.actor.role}}},
          {"kind", record.kind},
          {"details", record.details},
          {"previous", record.previous},
          {"hash", record.hash}};
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

nlohmann::json Service::audit_verify_json() {
  audit::VerifyResult result = auditor_.log().verify(auditor_.public_pem());
  return {{"ok", result.ok},
          {"records", result.records},
          {"first_bad", result.first_bad ? nlohmann::json(*result.first_bad) : nlohmann::json()},
          {"reason", result.reason}};
}

nlohmann::json Service::audit_export_json(const nlohmann::json& params, const audit::Actor& by) {
  if (auto written = params.find("written"); written != params.end()) {
    if (!written->is_object() || !written->contains("through") ||
        !(*written)["through"].is_number_integer() || !written->contains("sha256") ||
        !(*written)["sha256"].is_string()) {
      throw ControlError(ErrorCode::Invalid,
                         "\"written\" needs \"through\" (a seq) and \"sha256\" (of the bundle)");
    }
    const std::int64_t through = (*written)["through"].get<std::int64_t>();
    // Only the range this daemon handed out, and only records it held, count as exported.
    if (!issued_export_ || issued_export_->second != through) {
      throw ControlError(ErrorCode::Conflict,
                         "no export up to record " + std::to_string(through) +
                             " was started here: run 'sekishoctl audit export' again");
    }
    const auto [first, last] = *std::exchange(issued_export_, std::nullopt);
    audit::AuditLog& log = auditor_.log();
    // Retention may remove what a written export covers: that needs its record first.
    if (!auditor_.record_or_refuse(by, "audit.exported",
                                   {{"first", first},
                                    {"through", last},
                                    {"sha256", (*written)["sha256"]},
                                    {"file", written->value("file", "")}})) {
      throw ControlError(ErrorCode::AuditUnavailable,
                         "the audit log cannot be written; the export is not recorded");
    }
    // A bundle that starts later leaves a gap: what it skipped is not exported.
    const bool continues = first <= std::max(log.exported_through(), log.start().seq) + 1;
    if (continues) {
      if (std::error_code error = log.set_exported_through(last)) {
        throw std::runtime_error("cannot note the export in the audit log: " + error.message());
      }
    }
    return {{"recorded", true},
            {"exported_through", log.exported_through()},
            {"continues_earlier_exports", continues}};
  }
  const std::string since = since_time(params.value("since", nlohmann::json()));
  audit::AuditLog& log = auditor_.log();
  // The export is itself evidence: recorded first, so the checkpoint covers it.
  auditor_.record(by, "audit.export", {{"since", since}});
  auditor_.checkpoint();
  std::optional<audit::AuditLog::StoredCheckpoint> checkpoint = log.newest_checkpoint();
  if (!checkpoint) {
    throw ControlError(ErrorCode::NotFound,
                       "no signed checkpoint yet: the audit log or its key is not working");
  }
  // Records after the checkpoint (the log could not sign them) wait for the next export.
  std::int64_t first = log.first_seq_since(since).value_or(checkpoint->seq + 1);
  first = std::min(first, checkpoint->seq + 1);
  std::optional<std::string> anchor = log.hash_before(first);
  if (first <= checkpoint->seq) {
    issued_export_ = {first, checkpoint->seq};
  } else {
    issued_export_.reset();  // no records: nothing to count as exported
  }
  if (!anchor) {
    throw ControlError(ErrorCode::NotFound, "the record before " + std::to_string(first) +
                                                " is no longer in the log (pruned)");
  }
  return {{"since", since},
          {"first_seq", first},
          {"last_seq", checkpoint->seq},
          {"anchor", {{"seq", first - 1}, {"hash", *anchor}}},
          {"checkpoint",
           {{"seq", checkpoint->seq},
            {"hash", checkpoint->hash},
            {"time", checkpoint->time},
            {"clock_synchronised", checkpoint->clock_synchronised},
            {"signature", checkpoint->signature}}}};
}

}  // namespace sekisho::daemon
