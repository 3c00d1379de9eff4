#include "daemon/sekishod/refusals.hpp"

#include <algorithm>

namespace sekisho::daemon {

namespace {

constexpr std::int64_t kWithoutRole = -1;  // no uid is negative

}  // namespace

std::chrono::seconds RefusalCounter::window_length(int windows_before) {
  std::chrono::seconds length = kFirstWindow;
  for (int i = 0; i < windows_before && length < kLongestWindow; ++i) {
    length *= 2;
  }
  return std::min(length, kLongestWindow);
}

bool RefusalCounter::refused(const audit::Actor& actor, bool has_role, const std::string& what,
                             std::int64_t pid, Clock::time_point now) {
  const std::int64_t key = has_role ? actor.uid : kWithoutRole;
  auto found = callers_.find(key);
  if (found == callers_.end()) {
    found = callers_.emplace(key, Caller{}).first;
  }
  Caller& caller = found->second;
  if (caller.window_start && now - *caller.window_start >= window_length(caller.windows)) {
    close(key, caller);
  }
  if (!caller.window_start) {
    caller.window_start = now;
    caller.actor = actor;
  }
  caller.last = now;
  if (!has_role) {
    if (caller.uids.size() < kCallersCounted && caller.uids.insert(actor.uid).second &&
        caller.first_uids.size() < kCallersNamed) {
      caller.first_uids.push_back(actor.uid);
    }
  } else if (caller.recorded < records_per_window_) {
    ++caller.recorded;
    record_(actor, what, pid);
    return true;
  }
  ++caller.counts[what];
  return false;
}

void RefusalCounter::flush(Clock::time_point now, bool all) {
  for (auto it = callers_.begin(); it != callers_.end();) {
    Caller& caller = it->second;
    if (caller.window_start &&
        (all || now - *caller.window_start >= window_length(caller.windows))) {
      close(it->first, caller);
    }
    if (!caller.window_start && (all || now - caller.last >= kForgetAfter)) {
      it = callers_.erase(it);
    } else {
      ++it;
    }
  }
}

void RefusalCounter::close(std::int64_t key, Caller& caller) {
  if (!caller.counts.empty()) {
    Summary summary;
    summary.actor = caller.actor;
    summary.without_role = key == kWithoutRole;
    summary.counts = std::move(caller.counts);
    summary.window = window_length(caller.windows);
    summary.callers = static_cast<std::int64_t>(caller.uids.size());
    summary.uids = std::move(caller.first_uids);
    summarise_(summary);
  }
  if (window_length(caller.windows) < kLongestWindow) {
    ++caller.windows;
  }
  caller.window_start.reset();
  caller.recorded = 0;
  caller.counts.clear();
  caller.uids.clear();
  caller.first_uids.clear();
}

nlohmann::json summary_details(const RefusalCounter::Summary& summary) {
  nlohmann::json details = {{"counts", summary.counts}, {"window_seconds", summary.window.count()}};
  if (summary.without_role) {
    details["without_role"] = true;
    details["callers"] = summary.callers;
    details["uids"] = summary.uids;
  }
  return details;
}

std::string summary_text(const RefusalCounter::Summary& summary, const std::string& what) {
  std::int64_t total = 0;
  std::string counts;
  for (const auto& [name, count] : summary.counts) {
    total += count;
    counts += (counts.empty() ? "" : ", ") + name + " " + std::to_string(count);
  }
  const std::string who =
      summary.without_role
          ? std::to_string(summary.callers) +
                (summary.callers >= static_cast<std::int64_t>(RefusalCounter::kCallersCounted)
                     ? " or more"
                     : "") +
                " callers without a role"
          : summary.actor.user + " (uid " + std::to_string(summary.actor.uid) + ")";
  return std::to_string(total) + " " + what + " of " + who + " in " +
         std::to_string(summary.window.count()) + " s: " + counts;
}

}  // namespace sekisho::daemon
