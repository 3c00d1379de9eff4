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

// A change of is_open().
struct Transition {
  std::chrono::sys_seconds at;  // the first second of the new state
  bool opens = false;           // true: closed -> open; false: open -> closed
};

// The first `count` instants strictly after `after` and no later than `after + horizon` at
// which is_open() changes, in order; fewer, possibly none, when it does not change that
// often within the horizon ("daily 00:00-24:00", no window, every day closed). For each
// transition t: is_open(t.at) == t.opens and is_open(t.at - 1s) != t.opens, and is_open is
// constant from `after` to the first transition and between consecutive ones.
// is_open is the definition, so DST behaves as it does there. Spring gap: the skipped wall
// times never happen, so a window that starts inside the gap opens at the gap's end (the
// first second of the new UTC offset) if it is still open at that wall time, one wholly
// inside the gap does not open that day, and one that ends inside the gap closes at the
// gap's end. Autumn fold: the repeated wall times happen twice, so a window inside them
// opens and closes twice, and one across the fold is open an hour longer in real time.
// Cheap enough to call every second: a handful of evaluations per local day and one tz
// lookup per UTC-offset period, no minute-by-minute scan.
std::vector<Transition> next_transitions(const Schedule& schedule, const date::time_zone& zone,
                                         std::chrono::sys_seconds after, std::size_t count,
                                         std::chrono::days horizon = std::chrono::days{400});

// Monday = 0 ... Sunday = 6.
int weekday_index(date::weekday day);
std::string_view weekday_short_name(int index);

}  // namespace sekisho::policy
