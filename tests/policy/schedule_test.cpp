#include "policy/schedule.hpp"

#include <string>
#include <vector>

#include <doctest/doctest.h>

using namespace sekisho::policy;
using namespace std::chrono;

namespace {

sys_seconds utc(int y, unsigned m, unsigned d, int h, int mi) {
  return date::sys_days{date::year{y} / date::month{m} / date::day{d}} + hours{h} + minutes{mi};
}

Schedule make(const std::vector<const char*>& weekly, const std::vector<const char*>& closed = {}) {
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

namespace {

// "open 2026-11-25 22:30:00, close ..." in UTC: doctest shows both strings when they differ.
std::string describe(const std::vector<Transition>& transitions) {
  std::string text;
  for (const Transition& transition : transitions) {
    text += text.empty() ? "" : ", ";
    text += transition.opens ? "open " : "close ";
    text += date::format("%F %T", transition.at);
  }
  return text;
}

struct NextCase {
  const char* what;
  std::vector<const char*> weekly;
  std::vector<const char*> closed;
  const char* zone;
  sys_seconds after;
  std::size_t count;
  const char* expected;  // describe() of the transitions, UTC
};

void check_cases(const std::vector<NextCase>& cases) {
  for (const NextCase& c : cases) {
    INFO(std::string(c.what));
    const Schedule schedule = make(c.weekly, c.closed);
    CHECK(describe(next_transitions(schedule, zone(c.zone), c.after, c.count)) ==
          std::string(c.expected));
  }
}

}  // namespace

TEST_CASE("next schedule transitions: weekly windows in Asia/Tokyo (UTC+9, no DST)") {
  const std::vector<const char*> plant = {"mon-fri 07:30-20:00", "sat 08:00-12:00"};
  check_cases({
      {"Wed 10:00: closes at 20:00, opens Thu 07:30",
       plant,
       {},
       "Asia/Tokyo",
       utc(2026, 11, 25, 1, 0),
       3,
       "close 2026-11-25 11:00:00, open 2026-11-25 22:30:00, close 2026-11-26 11:00:00"},
      {"Wed 07:30 sharp: the opening is not strictly later, so the next is the close",
       plant,
       {},
       "Asia/Tokyo",
       utc(2026, 11, 24, 22, 30),
       1,
       "close 2026-11-25 11:00:00"},
      {"Wed 07:29:59: opens one second later",
       plant,
       {},
       "Asia/Tokyo",
       utc(2026, 11, 24, 22, 29) + 59s,
       1,
       "open 2026-11-24 22:30:00"},
      {"Fri 20:00 (closed, the end is excluded): Sat 08:00-12:00, then Mon 07:30",
       plant,
       {},
       "Asia/Tokyo",
       utc(2026, 11, 27, 11, 0),
       3,
       "open 2026-11-27 23:00:00, close 2026-11-28 03:00:00, open 2026-11-29 22:30:00"},
      {"Sun 11:00: opens Mon 07:30",
       plant,
       {},
       "Asia/Tokyo",
       utc(2026, 11, 29, 2, 0),
       1,
       "open 2026-11-29 22:30:00"},
      {"fri 22:00-06:00 from Wednesday: closes Saturday 06:00",
       {"fri 22:00-06:00"},
       {},
       "Asia/Tokyo",
       utc(2026, 11, 25, 0, 0),
       3,
       "open 2026-11-27 13:00:00, close 2026-11-27 21:00:00, open 2026-12-04 13:00:00"},
      {"fri 22:00-06:00 from Sat 01:00, inside it",
       {"fri 22:00-06:00"},
       {},
       "Asia/Tokyo",
       utc(2026, 11, 27, 16, 0),
       1,
       "close 2026-11-27 21:00:00"},
  });
}

TEST_CASE("next schedule transitions: closed dates and ranges") {
  check_cases({
      {"Mon 28 10:00: closed 29 Dec..3 Jan and 5 Jan; open Mon 4 and Wed 6",
       {"mon-fri 07:30-20:00"},
       {"2026-12-29..2027-01-03", "2027-01-05"},
       "Asia/Tokyo",
       utc(2026, 12, 28, 1, 0),
       4,
       "close 2026-12-28 11:00:00, open 2027-01-03 22:30:00, close 2027-01-04 11:00:00, "
       "open 2027-01-05 22:30:00"},
      {"thu 22:00-06:00 into a closed Friday: closes at local midnight",
       {"thu 22:00-06:00"},
       {"2026-11-27"},
       "Asia/Tokyo",
       utc(2026, 11, 26, 0, 0),
       3,
       "open 2026-11-26 13:00:00, close 2026-11-26 15:00:00, open 2026-12-03 13:00:00"},
      {"thu 22:00-06:00 from a closed Thursday: neither part opens",
       {"thu 22:00-06:00"},
       {"2026-11-26"},
       "Asia/Tokyo",
       utc(2026, 11, 25, 0, 0),
       2,
       "open 2026-12-03 13:00:00, close 2026-12-03 21:00:00"},
      {"daily 00:00-24:00 with one closed date: closed exactly that local day",
       {"daily 00:00-24:00"},
       {"2026-12-24"},
       "Europe/Berlin",
       utc(2026, 12, 1, 0, 0),
       5,
       "close 2026-12-23 23:00:00, open 2026-12-24 23:00:00"},
  });
}

TEST_CASE("next schedule transitions: Europe/Berlin DST") {
  // Spring: Sunday 2027-03-28 02:00 CET -> 03:00 CEST at 01:00 UTC.
  // Autumn: Sunday 2026-10-25 03:00 CEST -> 02:00 CET at 01:00 UTC.
  check_cases({
      {"sun 02:30-04:00 a week before the gap, CET",
       {"sun 02:30-04:00"},
       {},
       "Europe/Berlin",
       utc(2027, 3, 20, 0, 0),
       2,
       "open 2027-03-21 01:30:00, close 2027-03-21 03:00:00"},
      {"sun 02:30-04:00 on the gap day opens at the gap's end (03:00 CEST), then CEST",
       {"sun 02:30-04:00"},
       {},
       "Europe/Berlin",
       utc(2027, 3, 27, 0, 0),
       3,
       "open 2027-03-28 01:00:00, close 2027-03-28 02:00:00, open 2027-04-04 00:30:00"},
      {"sun 01:00-02:30 ends inside the gap: closes at the gap's end",
       {"sun 01:00-02:30"},
       {},
       "Europe/Berlin",
       utc(2027, 3, 27, 0, 0),
       3,
       "open 2027-03-28 00:00:00, close 2027-03-28 01:00:00, open 2027-04-03 23:00:00"},
      {"sun 02:10-02:50 lies wholly inside the gap: does not open that Sunday",
       {"sun 02:10-02:50"},
       {},
       "Europe/Berlin",
       utc(2027, 3, 27, 0, 0),
       1,
       "open 2027-04-04 00:10:00"},
      {"sun 02:15-02:45 in the repeated hour opens and closes twice",
       {"sun 02:15-02:45"},
       {},
       "Europe/Berlin",
       utc(2026, 10, 24, 0, 0),
       4,
       "open 2026-10-25 00:15:00, close 2026-10-25 00:45:00, open 2026-10-25 01:15:00, "
       "close 2026-10-25 01:45:00"},
      {"sun 01:00-03:30 across the fold: 3.5 wall hours, 4.5 real hours",
       {"sun 01:00-03:30"},
       {},
       "Europe/Berlin",
       utc(2026, 10, 24, 0, 0),
       2,
       "open 2026-10-24 23:00:00, close 2026-10-25 02:30:00"},
  });
}

TEST_CASE("next schedule transitions: America/New_York DST") {
  // Spring: Sunday 2027-03-14 02:00 EST -> 03:00 EDT at 07:00 UTC.
  // Autumn: Sunday 2026-11-01 02:00 EDT -> 01:00 EST at 06:00 UTC.
  check_cases({
      {"sun 02:30-04:00 opens at the gap's end (03:00 EDT)",
       {"sun 02:30-04:00"},
       {},
       "America/New_York",
       utc(2027, 3, 13, 0, 0),
       2,
       "open 2027-03-14 07:00:00, close 2027-03-14 08:00:00"},
      {"sun 01:00-02:30 ends inside the gap: closes at the gap's end",
       {"sun 01:00-02:30"},
       {},
       "America/New_York",
       utc(2027, 3, 13, 0, 0),
       2,
       "open 2027-03-14 06:00:00, close 2027-03-14 07:00:00"},
      {"sun 01:15-01:45 in the repeated hour opens and closes twice",
       {"sun 01:15-01:45"},
       {},
       "America/New_York",
       utc(2026, 10, 31, 0, 0),
       4,
       "open 2026-11-01 05:15:00, close 2026-11-01 05:45:00, open 2026-11-01 06:15:00, "
       "close 2026-11-01 06:45:00"},
      {"sun 00:30-01:30: closes at 01:30 EDT, reopens when the clock goes back to 01:00",
       {"sun 00:30-01:30"},
       {},
       "America/New_York",
       utc(2026, 10, 31, 0, 0),
       4,
       "open 2026-11-01 04:30:00, close 2026-11-01 05:30:00, open 2026-11-01 06:00:00, "
       "close 2026-11-01 06:30:00"},
      {"sun 00:00-03:00 across the fold: 3 wall hours, 4 real hours",
       {"sun 00:00-03:00"},
       {},
       "America/New_York",
       utc(2026, 10, 31, 0, 0),
       2,
       "open 2026-11-01 04:00:00, close 2026-11-01 08:00:00"},
      {"an offset that is not whole minutes (Liberia until 1972, UTC-0:44:30)",
       {"daily 08:00-09:00"},
       {},
       "Africa/Monrovia",
       utc(1971, 6, 1, 0, 0),
       2,
       "open 1971-06-01 08:44:30, close 1971-06-01 09:44:30"},
  });
}

TEST_CASE("next schedule transitions: the leap day 2028-02-29") {
  CHECK(date::weekday{date::year{2028} / 2 / 29} == date::Tuesday);
  check_cases({
      {"tue 10:00-11:00 opens on Tuesday 29 February",
       {"tue 10:00-11:00"},
       {},
       "Asia/Tokyo",
       utc(2028, 2, 27, 0, 0),
       3,
       "open 2028-02-29 01:00:00, close 2028-02-29 02:00:00, open 2028-03-07 01:00:00"},
      {"tue 10:00-11:00 with 29 February closed: the next Tuesday",
       {"tue 10:00-11:00"},
       {"2028-02-29"},
       "Asia/Tokyo",
       utc(2028, 2, 27, 0, 0),
       2,
       "open 2028-03-07 01:00:00, close 2028-03-07 02:00:00"},
      {"daily 00:00-24:00 with 29 February closed",
       {"daily 00:00-24:00"},
       {"2028-02-29"},
       "Asia/Tokyo",
       utc(2028, 2, 1, 0, 0),
       3,
       "close 2028-02-28 15:00:00, open 2028-02-29 15:00:00"},
      {"daily 09:00-17:00 closed 2028-02-28..2028-03-01: opens again on 2 March",
       {"daily 09:00-17:00"},
       {"2028-02-28..2028-03-01"},
       "Asia/Tokyo",
       utc(2028, 2, 27, 0, 0),
       3,
       "close 2028-02-27 08:00:00, open 2028-03-02 00:00:00, close 2028-03-02 08:00:00"},
  });
}

TEST_CASE("next schedule transitions: schedules that never change, and the horizon") {
  check_cases({
      {"daily 00:00-24:00 is always open",
       {"daily 00:00-24:00"},
       {},
       "Europe/Berlin",
       utc(2026, 3, 1, 0, 0),
       3,
       ""},
      {"no window at all is always closed",
       {},
       {},
       "America/New_York",
       utc(2026, 3, 1, 0, 0),
       3,
       ""},
      {"every day within the horizon closed by a range",
       {"mon-fri 07:30-20:00"},
       {"2026-01-01..2030-12-31"},
       "Europe/Berlin",
       utc(2026, 6, 1, 0, 0),
       3,
       ""},
  });
  const Schedule plant = make({"mon-fri 07:30-20:00", "sat 08:00-12:00"});
  const auto& tokyo = zone("Asia/Tokyo");
  // Sat 12:00 JST; the next opening is Mon 07:30 JST, 1 day 19.5 hours later.
  const sys_seconds saturday_noon = utc(2026, 11, 28, 3, 0);
  CHECK(next_transitions(plant, tokyo, saturday_noon, 1, days{1}).empty());
  CHECK(describe(next_transitions(plant, tokyo, saturday_noon, 3, days{2})) ==
        "open 2026-11-29 22:30:00");
  // No transition asked for, none given, even with one due a second later.
  CHECK(next_transitions(plant, tokyo, saturday_noon - 1s, 0).empty());
}

TEST_CASE("next schedule transitions agree with is_open (property check)") {
  const std::vector<const char*> zones = {"Asia/Tokyo", "Europe/Berlin", "America/New_York",
                                          // DST shifts by 30 minutes.
                                          "Australia/Lord_Howe",
                                          // DST changes at local midnight.
                                          "America/Santiago", "Asia/Kolkata"};
  const std::vector<Schedule> schedules = {
      make({"mon-fri 07:30-20:00", "sat 08:00-12:00"}, {"2026-12-29..2027-01-03", "2027-05-05"}),
      make({"fri 22:00-06:00", "sun 01:00-03:30"}, {"2027-03-05", "2026-10-24"}),
      make({"daily 02:15-02:45", "daily 00:00-00:30", "wed 23:30-24:00"}),
      make({"daily 23:30-00:30", "sat-sun 01:59-02:01"}, {"2027-04-04..2027-04-05"}),
      make({"daily 00:00-24:00"}, {"2026-03-29", "2026-11-01", "2027-09-05..2027-09-06"}),
      make({"tue,thu 12:00-13:00", "mon 00:00-02:30", "sun 02:30-03:30"}, {"2028-02-29"}),
  };
  const sys_seconds start = utc(2026, 1, 1, 0, 0);
  // 2,000 steps of 8 h 45 min 17 s: about two years, at times of day that keep moving.
  const seconds step = hours{8} + minutes{45} + seconds{17};
  for (const char* zone_name : zones) {
    const auto& tz = zone(zone_name);
    for (std::size_t index = 0; index < schedules.size(); ++index) {
      const Schedule& schedule = schedules[index];
      for (int i = 0; i < 2000; ++i) {
        const sys_seconds after = start + i * step;
        const auto found = next_transitions(schedule, tz, after, 3);
        sys_seconds from = after;
        bool state = is_open(schedule, tz, after);
        bool ok = true;
        // Instants that must all be in `state` (its ends are checked with the transitions):
        // points spread over the interval, and each UTC-offset change inside it and the
        // second before, where a missed DST candidate would show.
        auto constant_until = [&](sys_seconds until) {
          for (int part = 1; part < 16; ++part) {
            ok = ok && is_open(schedule, tz, from + (until - from) * part / 16) == state;
          }
          for (sys_seconds t = from; ok && t < until;) {
            const auto info = tz.get_info(t);
            if (info.end >= until) {
              break;
            }
            ok = is_open(schedule, tz, info.end) == state &&
                 is_open(schedule, tz, info.end - 1s) == state;
            t = info.end;
          }
        };
        for (const Transition& transition : found) {
          ok = ok && transition.at > from && transition.at <= after + days{400} &&
               transition.opens != state &&
               is_open(schedule, tz, transition.at) == transition.opens &&
               is_open(schedule, tz, transition.at - 1s) == state;
          constant_until(transition.at - 1s);
          from = transition.at;
          state = transition.opens;
        }
        if (found.size() < 3) {
          constant_until(after + days{400});
        }
        if (!ok) {
          FAIL_CHECK(zone_name << ", schedule " << index << ", after "
                               << date::format("%F %T", after) << ": " << describe(found));
        }
      }
    }
  }
}
