#include "daemon/sekishod/refusals.hpp"

namespace sekisho::daemon {

bool RefusalCounter::refused(const audit::Actor& actor, const std::string& method, std::int64_t pid,
                             Clock::time_point now) {
  auto found = windows_.find(actor.uid);
  if (found != windows_.end() && now - found->second.start >= kWindow) {
    close(found->second);
    windows_.erase(found);
    found = windows_.end();
  }
  if (found == windows_.end()) {
    found = windows_.emplace(actor.uid, Window{actor, now, 0, {}}).first;
  }
  Window& window = found->second;
  if (window.recorded < records_per_window_) {
    ++window.recorded;
    sink_(actor, method, pid, 1);
    return true;
  }
  ++window.suppressed[method];
  return false;
}

void RefusalCounter::flush(Clock::time_point now, bool all) {
  for (auto it = windows_.begin(); it != windows_.end();) {
    if (all || now - it->second.start >= kWindow) {
      close(it->second);
      it = windows_.erase(it);
    } else {
      ++it;
    }
  }
}

void RefusalCounter::close(Window& window) {
  for (const auto& [method, count] : window.suppressed) {
    sink_(window.actor, method, 0, count);
  }
  window.suppressed.clear();
}

}  // namespace sekisho::daemon
