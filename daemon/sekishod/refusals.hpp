#pragma once
// Refused control requests and connections, counted so that nobody can fill the audit log
// with them (the socket is 0666: anyone on the box may knock, as many uids as a
// /etc/subuid range gives, and refusal records are kept as long as any other record).
// Every refusal is audited, but the records per day are bounded:
// - A caller with a role (a viewer trying an operator's method) gets a record of its own
//   for each of its first kRecordsPerWindow refusals in a window; the rest of the window
//   is one summary record with a count per method (or cap).
// - Callers without a role get no record of their own: all of them together share one
//   summary per window (how many refusals of what, how many distinct uids, the first few).
// - A window is 10 s; one that opens after another (of the same caller, or of the callers
//   without a role) is twice as long as the one before, up to an hour; after an hour
//   without a refusal the next is 10 s again. So a steady flood leaves about 30 windows a
//   day (one an hour once they are long), and knocking in bursts gains little: pausing
//   under an hour does not shorten the windows, and whatever the pattern there are at most
//   150 windows a day (refusals_test.cpp tries the patterns).
// The daemon keeps one counter for requests refused for their role (by method) and one for
// connections refused over a cap (by cap: those are only ever counted, records_per_window
// 0).

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "daemon/audit/audit_log.hpp"

namespace sekisho::daemon {

class RefusalCounter {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::seconds kFirstWindow{10};
  static constexpr std::chrono::seconds kLongestWindow{3600};
  static constexpr std::chrono::seconds kForgetAfter{3600};  // quiet this long: 10 s again
  static constexpr int kRecordsPerWindow = 3;
  static constexpr std::size_t kCallersCounted = 1024;  // distinct uids without a role
  static constexpr std::size_t kCallersNamed = 16;

  // A window's refusals that were not recorded on their own.
  struct Summary {
    audit::Actor actor;  // the caller; for callers without a role, the window's first
    bool without_role = false;
    std::map<std::string, std::int64_t> counts;  // by method (or cap)
    std::chrono::seconds window{};
    std::int64_t callers = 0;        // without a role: distinct uids, up to kCallersCounted
    std::vector<std::int64_t> uids;  // ... the first kCallersNamed of them
  };
  // One refusal, recorded on its own (then log it too).
  using Record =
      std::function<void(const audit::Actor& actor, const std::string& what, std::int64_t pid)>;
  using Summarise = std::function<void(const Summary& summary)>;

  RefusalCounter(Record record, Summarise summarise, int records_per_window = kRecordsPerWindow)
      : record_(std::move(record)),
        summarise_(std::move(summarise)),
        records_per_window_(records_per_window) {}

  // A refusal now of `actor` (`has_role`: it holds some role). True when it was recorded on
  // its own.
  bool refused(const audit::Actor& actor, bool has_role, const std::string& what, std::int64_t pid,
               Clock::time_point now);
  // Ends the windows that are over (their summaries go out) and forgets callers quiet for
  // kForgetAfter; `all`: ends every window now (the daemon stops). Called every second.
  void flush(Clock::time_point now, bool all = false);

  std::size_t callers_tracked() const { return callers_.size(); }

 private:
  struct Caller {
    audit::Actor actor;  // as at the first refusal of the window
    int windows = 0;     // windows before this one since the caller was last forgotten
    std::optional<Clock::time_point> window_start;  // none: no window open
    Clock::time_point last;                         // the last refusal
    int recorded = 0;                               // in this window, on their own
    std::map<std::string, std::int64_t> counts;     // in this window, not on their own
    std::set<std::int64_t> uids;                    // without a role: in this window
    std::vector<std::int64_t> first_uids;
  };
  static std::chrono::seconds window_length(int windows_before);
  void close(std::int64_t key, Caller& caller);

  Record record_;
  Summarise summarise_;
  int records_per_window_;
  std::map<std::int64_t, Caller> callers_;  // by uid; kWithoutRole for all without a role
};

// A summary's record details (docs/audit-format.md): {"counts", "window_seconds"}, and for
// callers without a role also {"without_role": true, "callers", "uids"}.
nlohmann::json summary_details(const RefusalCounter::Summary& summary);
// For the log: "12 requests of alice (uid 1001) in 20 s: link.down 10, session.open 2";
// `what`: "requests", "connections".
std::string summary_text(const RefusalCounter::Summary& summary, const std::string& what);

}  // namespace sekisho::daemon
