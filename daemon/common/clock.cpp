#include "daemon/common/clock.hpp"

#include <cstdlib>
#include <fstream>

#include <date/date.h>
#include <sys/timex.h>

namespace sekisho {

bool clock_synchronised() {
  timex state{};
  const int result = ntp_adjtime(&state);
  // -1: the kernel would not say (a sandbox without @clock); then it is not known to be.
  return result >= 0 && result != TIME_ERROR && (state.status & STA_UNSYNC) == 0;
}

std::chrono::system_clock::time_point schedule_clock_now() {
  const auto now = std::chrono::system_clock::now();
#ifdef SEKISHO_TESTING
  if (const char* path = std::getenv("SEKISHO_TEST_CLOCK_OFFSET_FILE")) {
    std::ifstream in(path);
    long long seconds = 0;
    if (in >> seconds) {
      return now + std::chrono::seconds(seconds);
    }
  }
#endif
  return now;
}

std::string utc_text(std::chrono::system_clock::time_point time) {
  return date::format("%FT%TZ", std::chrono::time_point_cast<std::chrono::seconds>(time));
}

}  // namespace sekisho
