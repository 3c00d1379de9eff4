#include "daemon/common/clock.hpp"

#include <cstdio>

#include <date/date.h>
#include <sys/timex.h>

#include "daemon/common/test_hooks.hpp"

namespace sekisho {

bool clock_synchronised() {
  if (std::optional<bool> forced = test_hooks::clock_synchronised()) {
    return *forced;
  }
  timex state{};
  const int result = ntp_adjtime(&state);
  // -1: the kernel would not say (a sandbox without @clock); then it is not known to be.
  return result >= 0 && result != TIME_ERROR && (state.status & STA_UNSYNC) == 0;
}

std::chrono::system_clock::time_point schedule_clock_now() {
  const auto now = std::chrono::system_clock::now();
  if (std::optional<long long> seconds = test_hooks::clock_offset_seconds()) {
    return now + std::chrono::seconds(*seconds);
  }
  return now;
}

std::string utc_text(std::chrono::system_clock::time_point time) {
  return date::format("%FT%TZ", std::chrono::time_point_cast<std::chrono::seconds>(time));
}

std::optional<std::chrono::sys_seconds> parse_utc_text(const std::string& text) {
  int year = 0;
  unsigned month = 0, day = 0, hour = 0, minute = 0, second = 0;
  char zone = 0;
  int consumed = 0;
  if (text.size() != 20 ||
      std::sscanf(text.c_str(), "%4d-%2u-%2uT%2u:%2u:%2u%c%n", &year, &month, &day, &hour, &minute,
                  &second, &zone, &consumed) != 7 ||
      consumed != 20 || zone != 'Z' || hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  const date::year_month_day ymd{date::year{year}, date::month{month}, date::day{day}};
  if (!ymd.ok()) {
    return std::nullopt;
  }
  return date::sys_days{ymd} + std::chrono::hours{hour} + std::chrono::minutes{minute} +
         std::chrono::seconds{second};
}

}  // namespace sekisho
