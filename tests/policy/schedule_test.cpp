#include "policy/schedule.hpp"

#include <doctest/doctest.h>

using namespace sekisho::policy;
using namespace std::chrono;

namespace {

sys_seconds utc(int y, unsigned m, unsigned d, int h, int mi) {
  return date::sys_days{date::year{y} / date::month{m} / date::day{d}} + hours{h} + minutes{mi};
}

Schedule make(std::initializer_list<const char*> weekly,
              std::initializer_list<const char*> closed = {}) {
  Schedule schedule;
  schedule.name = "test";
  std::string error;
  for (const char* text : weekly) {
    auto window = parse_weekly_window(text, error);
    REQUIRE_MESSAGE(window, error);
    schedule.weekly.push_back(*window);
  }
  for (const char* text : closed) {
    auto range = parse_date_range(text, error);
    REQUIRE_MESSAGE(range, error);
    schedule.closed.push_back(*range);
  }
  return schedule;
}

const date::time_zone& zone(const char* name) {
  return *date::locate_zone(name);
}

}  // namespace

TEST_CASE("weekly windows in Asia/Tokyo") {
  auto s = make({"mon-fri 07:30-20:00", "sat 08:00-12:00"});
  const auto& tokyo = zone("Asia/Tokyo");
  // Wednesday 2026-11-25, JST = UTC+9.
  CHECK(is_open(s, tokyo, utc(2026, 11, 25, 1, 0)));          // 10:00
  CHECK_FALSE(is_open(s, tokyo, utc(2026, 11, 24, 22, 29)));  // 07:29
  CHECK(is_open(s, tokyo, utc(2026, 11, 24, 22, 30)));        // 07:30
  CHECK_FALSE(is_open(s, tokyo, utc(2026, 11, 25, 11, 0)));   // 20:00 (end excluded)
  CHECK(is_open(s, tokyo, utc(2026, 11, 28, 2, 0)));          // Sat 11:00
  CHECK_FALSE(is_open(s, tokyo, utc(2026, 11, 28, 3, 0)));    // Sat 12:00
  CHECK_FALSE(is_open(s, tokyo, utc(2026, 11, 29, 2, 0)));    // Sun 11:00
}

TEST_CASE("a window across midnight belongs to the day it starts") {
  auto s = make({"fri 22:00-06:00"});
  const auto& berlin = zone("Europe/Berlin");                 // CET = UTC+1 in November
  CHECK(is_open(s, berlin, utc(2026, 11, 27, 22, 0)));        // Fri 23:00
  CHECK(is_open(s, berlin, utc(2026, 11, 28, 4, 59)));        // Sat 05:59
  CHECK_FALSE(is_open(s, berlin, utc(2026, 11, 28, 5, 0)));   // Sat 06:00
  CHECK_FALSE(is_open(s, berlin, utc(2026, 11, 26, 22, 0)));  // Thu 23:00
  CHECK_FALSE(is_open(s, berlin, utc(2026, 11, 27, 4, 0)));   // Fri 05:00: Thursday has no window
  CHECK_FALSE(is_open(s, berlin, utc(2026, 11, 29, 0, 0)));   // Sun 01:00
}

TEST_CASE("Europe/Berlin: windows follow the wall clock across the spring DST change") {
  // DST starts Sunday 2026-03-29 02:00 CET -> 03:00 CEST.
  auto s = make({"mon-fri 07:30-20:00"});
  const auto& berlin = zone("Europe/Berlin");
  // Friday before: 07:30 CET = 06:30 UTC.
  CHECK_FALSE(is_open(s, berlin, utc(2026, 3, 27, 6, 29)));
  CHECK(is_open(s, berlin, utc(2026, 3, 27, 6, 30)));
  // Monday after: 07:30 CEST = 05:30 UTC. A ruleset that converted once at load would be
  // an hour late here.
  CHECK_FALSE(is_open(s, berlin, utc(2026, 3, 30, 5, 29)));
  CHECK(is_open(s, berlin, utc(2026, 3, 30, 5, 30)));
  CHECK(is_open(s, berlin, utc(2026, 3, 30, 17, 59)));  // 19:59 CEST
  CHECK_FALSE(is_open(s, berlin, utc(2026, 3, 30, 18, 0)));
}

TEST_CASE("Europe/Berlin: a night window over the spring gap is shorter in real time") {
  auto s = make({"sat 22:00-06:00"});
  const auto& berlin = zone("Europe/Berlin");
  CHECK(is_open(s, berlin, utc(2026, 3, 28, 21, 0)));       // Sat 22:00 CET
  CHECK(is_open(s, berlin, utc(2026, 3, 29, 1, 30)));       // Sun 03:30 CEST
  CHECK(is_open(s, berlin, utc(2026, 3, 29, 3, 59)));       // Sun 05:59 CEST
  CHECK_FALSE(is_open(s, berlin, utc(2026, 3, 29, 4, 0)));  // Sun 06:00 CEST
}

TEST_CASE("America/New_York: the repeated hour in autumn is inside the window twice") {
  // DST ends Sunday 2026-11-01 02:00 EDT -> 01:00 EST.
  auto s = make({"sun 01:00-03:00"});
  const auto& new_york = zone("America/New_York");
  CHECK_FALSE(is_open(s, new_york, utc(2026, 11, 1, 4, 59)));  // 00:59 EDT
  CHECK(is_open(s, new_york, utc(2026, 11, 1, 5, 30)));        // 01:30 EDT
  CHECK(is_open(s, new_york, utc(2026, 11, 1, 6, 30)));        // 01:30 EST
  CHECK(is_open(s, new_york, utc(2026, 11, 1, 7, 59)));        // 02:59 EST
  CHECK_FALSE(is_open(s, new_york, utc(2026, 11, 1, 8, 0)));   // 03:00 EST
}

TEST_CASE("America/New_York: spring forward moves the UTC opening an hour earlier") {
  // DST starts Sunday 2026-03-08 02:00 EST -> 03:00 EDT.
  auto s = make({"daily 08:00-09:00"});
  const auto& new_york = zone("America/New_York");
  CHECK(is_open(s, new_york, utc(2026, 3, 7, 13, 0)));        // Sat 08:00 EST
  CHECK_FALSE(is_open(s, new_york, utc(2026, 3, 7, 12, 0)));  // Sat 07:00 EST
  CHECK(is_open(s, new_york, utc(2026, 3, 9, 12, 0)));        // Mon 08:00 EDT
  CHECK_FALSE(is_open(s, new_york, utc(2026, 3, 9, 13, 0)));  // Mon 09:00 EDT
}

TEST_CASE("closed dates close whole local days") {
  auto s = make({"mon-fri 07:30-20:00"}, {"2026-12-29..2027-01-03", "2027-01-05"});
  const auto& tokyo = zone("Asia/Tokyo");
  CHECK(is_open(s, tokyo, utc(2026, 12, 28, 1, 0)));        // Mon 28 10:00
  CHECK_FALSE(is_open(s, tokyo, utc(2026, 12, 30, 1, 0)));  // Wed 30 10:00
  CHECK_FALSE(is_open(s, tokyo, utc(2027, 1, 1, 1, 0)));    // Fri 1 10:00
  CHECK(is_open(s, tokyo, utc(2027, 1, 4, 1, 0)));          // Mon 4 10:00
  CHECK_FALSE(is_open(s, tokyo, utc(2027, 1, 5, 1, 0)));    // Tue 5: closed single date
}

TEST_CASE("closed dates and windows across midnight") {
  const auto& berlin = zone("Europe/Berlin");
  // The part after midnight falls on a closed day: closed.
  auto into_closed = make({"thu 22:00-06:00"}, {"2026-11-27"});
  CHECK(is_open(into_closed, berlin, utc(2026, 11, 26, 22, 0)));       // Thu 23:00
  CHECK_FALSE(is_open(into_closed, berlin, utc(2026, 11, 27, 1, 0)));  // Fri 02:00
  // The window starts on a closed day: it does not open after midnight either.
  auto from_closed = make({"thu 22:00-06:00"}, {"2026-11-26"});
  CHECK_FALSE(is_open(from_closed, berlin, utc(2026, 11, 26, 22, 0)));
  CHECK_FALSE(is_open(from_closed, berlin, utc(2026, 11, 27, 1, 0)));
}

TEST_CASE("window syntax") {
  std::string error;
  auto all_day = parse_weekly_window("daily 00:00-24:00", error);
  REQUIRE(all_day);
  CHECK(all_day->days == 0x7F);
  CHECK(all_day->end_minute == 1440);
  auto weekend = parse_weekly_window("fri-mon 10:00-11:00", error);
  REQUIRE(weekend);
  CHECK(weekend->days == ((1 << 4) | (1 << 5) | (1 << 6) | (1 << 0)));
  CHECK(parse_weekly_window("mon,wed,fri 12:00-13:00", error)->days == 0b10101);
  CHECK_FALSE(parse_weekly_window("mon-fri", error));
  CHECK_FALSE(parse_weekly_window("mon-fry 07:30-20:00", error));
  CHECK_FALSE(parse_weekly_window("mon 24:00-06:00", error));
  CHECK_FALSE(parse_weekly_window("mon 07:60-08:00", error));
  CHECK_FALSE(parse_weekly_window("mon 7:30-08:00", error));
  CHECK_FALSE(parse_weekly_window("mon 08:00-08:00", error));
  CHECK(error.find("same time") != std::string::npos);
  CHECK_FALSE(parse_weekly_window("mon, 08:00-09:00", error));
  CHECK_FALSE(parse_date_range("2027-01-03..2026-12-29", error));
  CHECK(error.find("before") != std::string::npos);
}
