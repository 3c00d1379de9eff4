#include "daemon/common/clock.hpp"

#include <date/date.h>
#include <sys/timex.h>

namespace sekisho {

bool clock_synchronised() {
  timex state{};
  const int result = ntp_adjtime(&state);
  // -1: the kernel would not say (a sandbox without @clock); then it is not known to be.
  return result >= 0 && result != TIME_ERROR && (state.status & STA_UNSYNC) == 0;
}

std::string utc_text(std::chrono::system_clock::time_point time) {
  return date::format("%FT%TZ", std::chrono::time_point_cast<std::chrono::seconds>(time));
}

}  // namespace sekisho
