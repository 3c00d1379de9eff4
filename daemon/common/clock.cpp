#include "daemon/common/clock.hpp"

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include <date/date.h>
#include <fcntl.h>
#include <sys/timex.h>
#include <unistd.h>

namespace sekisho {

#ifdef SEKISHO_TESTING
namespace {

// The number at the start of the file named by $`variable` (test builds only), read at
// every call; nullopt when the variable is not set or the file holds no number. While no
// descriptor is free (the lab fills the table) the last number read stands.
std::optional<long long> test_number(const char* variable, std::atomic<long long>& last,
                                     std::atomic<bool>& seen) {
  const char* path = std::getenv(variable);
  if (!path) {
    return std::nullopt;
  }
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 && (errno == EMFILE || errno == ENFILE)) {
    return seen ? std::optional<long long>(last.load()) : std::nullopt;
  }
  if (fd < 0) {
    return std::nullopt;
  }
  char text[32] = {};
  const ssize_t got = ::read(fd, text, sizeof text - 1);
  ::close(fd);
  char* end = nullptr;
  const long long number = got > 0 ? std::strtoll(text, &end, 10) : 0;
  if (got <= 0 || end == text) {
    return std::nullopt;
  }
  last = number;
  seen = true;
  return number;
}

}  // namespace
#endif

bool clock_synchronised() {
#ifdef SEKISHO_TESTING
  static std::atomic<long long> last{0};
  static std::atomic<bool> seen{false};
  if (auto forced = test_number("SEKISHO_TEST_CLOCK_SYNCHRONISED_FILE", last, seen)) {
    return *forced != 0;
  }
#endif
  timex state{};
  const int result = ntp_adjtime(&state);
  // -1: the kernel would not say (a sandbox without @clock); then it is not known to be.
  return result >= 0 && result != TIME_ERROR && (state.status & STA_UNSYNC) == 0;
}

std::chrono::system_clock::time_point schedule_clock_now() {
  const auto now = std::chrono::system_clock::now();
#ifdef SEKISHO_TESTING
  static std::atomic<long long> last{0};
  static std::atomic<bool> seen{false};
  if (auto seconds = test_number("SEKISHO_TEST_CLOCK_OFFSET_FILE", last, seen)) {
    return now + std::chrono::seconds(*seconds);
  }
#endif
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
