#pragma once
// Kernel changes that did not take and are tried again at every tick: a WAN gate, a
// schedule's sets and connections, a session's access, a restore. Each is to be recorded
// when it first fails and once it takes, never at every retry, so a kernel that refuses
// for hours fills neither the audit log nor the disk.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace sekisho::daemon {

class Retries {
 public:
  using Clock = std::chrono::steady_clock;

  struct Episode {
    Clock::time_point since;  // the first failure
    std::uint64_t failures = 0;
  };

  // `change` (a key such as "wan-gate") failed: true when that starts an episode.
  bool failed(const std::string& change, Clock::time_point now);
  // `change` took: the episode it ends, if one was open.
  std::optional<Episode> took(const std::string& change);
  // The change is no longer wanted (the decision turned before it took).
  void forget(const std::string& change);
  bool failing(const std::string& change) const { return open_.contains(change); }

 private:
  std::map<std::string, Episode> open_;
};

}  // namespace sekisho::daemon
