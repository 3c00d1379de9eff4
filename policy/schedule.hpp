#pragma once
// Operating-hours schedules: weekly windows in the gateway's local wall-clock time, with
// closed dates. Pure: the instant to evaluate is a parameter, the time zone comes from the
// tz database through libhowardhinnant-date (GCC 12 has no C++20 time zones).

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <date/date.h>
#include <date/tz.h>

#include "policy/diagnostic.hpp"

namespace sekisho::policy {

// "mon-fri 07:30-20:00", "sat 08:00-12:00", "fri 22:00-06:00" (crosses midnight: it ends
// on Saturday 06:00), "daily 00:00-24:00", "mon,wed,fri 12:00-13:00".
struct WeeklyWindow {
  std::uint8_t days = 0;  // bit 0 = Monday ... bit 6 = Sunday: the days the window starts on
  int start_minute = 0;   // 0..1439
  int end_minute = 0;     // 1..1440; end <= start means the window ends the next day
  SourcePos pos;

  bool crosses_midnight() const { return end_minute <= start_minute; }
};

// Closed dates, first and last included: "2026-12-29..2027-01-03" or "2026-12-25".
struct DateRange {
  date::year_month_day first;
  date::year_month_day last;
  SourcePos pos;
};

struct Schedule {
  std::string name;
  SourcePos pos;
  std::vector<WeeklyWindow> weekly;
  std::vector<DateRange> closed;
};

std::optional<WeeklyWindow> parse_weekly_window(std::string_view text, std::string& error);
std::optional<DateRange> parse_date_range(std::string_view text, std::string& error);

// Whether the schedule is open at `instant`, judged by the wall clock of `zone` (so DST
// shortens or lengthens a window the way a plant's shift plan expects). A closed date
// closes the whole local day, including the part of a window that ran into it, and a
// window that starts on a closed day does not open after midnight either.
bool is_open(const Schedule& schedule, const date::time_zone& zone,
             std::chrono::sys_seconds instant);

// Monday = 0 ... Sunday = 6.
int weekday_index(date::weekday day);
std::string_view weekday_short_name(int index);

}  // namespace sekisho::policy
