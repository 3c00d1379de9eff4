#pragma once
// Refused control requests, counted so that a caller without a role cannot flood the
// audit log (the socket is 0666: anyone on the box may knock). Every refusal is audited:
// the first few of a caller in each window one record each (none for a counter made with
// records_per_window 0), the rest as one count per caller and method when the window ends.
// The daemon keeps one counter for requests refused for their role (by method) and one
// for connections refused over a cap (by cap: those are only ever counted).

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "daemon/audit/audit_log.hpp"

namespace sekisho::daemon {

class RefusalCounter {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::seconds kWindow{10};
  static constexpr int kRecordsPerWindow = 10;

  // What to audit: one refusal (`count` 1, with the caller's pid) or, at the end of a
  // window, how many more of `method` there were (`count` > 1, pid 0).
  using Sink = std::function<void(const audit::Actor& actor, const std::string& method,
                                  std::int64_t pid, std::int64_t count)>;
  explicit RefusalCounter(Sink sink, int records_per_window = kRecordsPerWindow)
      : sink_(std::move(sink)), records_per_window_(records_per_window) {}

  // A refusal now. Returns true when it was recorded on its own (then log it too).
  bool refused(const audit::Actor& actor, const std::string& method, std::int64_t pid,
               Clock::time_point now);
  // Ends the windows that are over: their counts go to the sink. Called every second.
  void flush(Clock::time_point now, bool all = false);

 private:
  struct Window {
    audit::Actor actor;
    Clock::time_point start;
    int recorded = 0;
    std::map<std::string, std::int64_t> suppressed;  // by method
  };
  void close(Window& window);

  Sink sink_;
  int records_per_window_;
  std::map<std::int64_t, Window> windows_;  // by uid
};

}  // namespace sekisho::daemon
