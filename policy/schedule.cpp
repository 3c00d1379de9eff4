#include "policy/schedule.hpp"

#include <algorithm>
#include <array>

#include "policy/units.hpp"

namespace sekisho::policy {

namespace {

constexpr std::array<std::string_view, 7> kDayNames = {"mon", "tue", "wed", "thu",
                                                       "fri", "sat", "sun"};

std::optional<int> parse_day(std::string_view text) {
  for (std::size_t i = 0; i < kDayNames.size(); ++i) {
    if (kDayNames[i] == text) {
      return static_cast<int>(i);
    }
  }
  return std::nullopt;
}

// "mon", "mon-fri", "fri-mon" (wraps over the weekend), "mon,wed,fri", "daily".
std::optional<std::uint8_t> parse_days(std::string_view text, std::string& error) {
  if (text == "daily") {
    return std::uint8_t{0x7F};
  }
  std::uint8_t days = 0;
  while (!text.empty()) {
    auto comma = text.find(',');
    std::string_view part = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    auto dash = part.find('-');
    auto first = parse_day(part.substr(0, dash));
    auto last = dash == std::string_view::npos ? first : parse_day(part.substr(dash + 1));
    if (!first || !last) {
      error = "'" + std::string(part) + "' is not a day or day range; use mon..sun, " +
              "ranges such as mon-fri, lists such as mon,wed or 'daily'";
      return std::nullopt;
    }
    for (int day = *first;; day = (day + 1) % 7) {
      days = static_cast<std::uint8_t>(days | (1U << day));
      if (day == *last) {
        break;
      }
    }
    if (comma != std::string_view::npos && text.empty()) {
      error = "a day list may not end with ','";
      return std::nullopt;
    }
  }
  return days;
}

// "HH:MM", 00:00..23:59, or 24:00 when `end` is true.
std::optional<int> parse_clock(std::string_view text, bool end) {
  if (text.size() != 5 || text[2] != ':') {
    return std::nullopt;
  }
  auto hour = parse_fixed_digits(text.substr(0, 2), 24);
  auto minute = parse_fixed_digits(text.substr(3, 2), 59);
  if (!hour || !minute || (*hour == 24 && (!end || *minute != 0))) {
    return std::nullopt;
  }
  return *hour * 60 + *minute;
}

bool is_closed(const Schedule& schedule, date::local_days day) {
  for (const DateRange& range : schedule.closed) {
    if (day >= date::local_days{range.first} && day <= date::local_days{range.last}) {
      return true;
    }
  }
  return false;
}

// is_open for a local wall-clock time; next_transitions evaluates candidates with it, so
// the two agree by construction.
bool is_open_at_local(const Schedule& schedule, date::local_seconds local) {
  const auto today = date::floor<date::days>(local);
  if (is_closed(schedule, today)) {
    return false;
  }
  const auto minute =
      static_cast<int>(std::chrono::duration_cast<std::chrono::minutes>(local - today).count());
  const int weekday = weekday_index(date::weekday{today});
  const int yesterday = (weekday + 6) % 7;
  // A window that starts on a closed day never opens, not even its part after midnight.
  const bool yesterday_closed = is_closed(schedule, today - date::days{1});
  for (const WeeklyWindow& window : schedule.weekly) {
    const bool starts_today = window.days & (1U << weekday);
    const bool started_yesterday = !yesterday_closed && (window.days & (1U << yesterday));
    if (!window.crosses_midnight()) {
      if (starts_today && minute >= window.start_minute && minute < window.end_minute) {
        return true;
      }
      continue;
    }
    if ((starts_today && minute >= window.start_minute) ||
        (started_yesterday && minute < window.end_minute)) {
      return true;
    }
  }
  return false;
}

}  // namespace

int weekday_index(date::weekday day) {
  return static_cast<int>((day.c_encoding() + 6) % 7);
}

std::string_view weekday_short_name(int index) {
  return kDayNames.at(static_cast<std::size_t>(index));
}

std::optional<WeeklyWindow> parse_weekly_window(std::string_view text, std::string& error) {
  auto space = text.find(' ');
  if (space == std::string_view::npos) {
    error = "a window is '<days> <HH:MM>-<HH:MM>', e.g. 'mon-fri 07:30-20:00'";
    return std::nullopt;
  }
  auto days = parse_days(text.substr(0, space), error);
  if (!days) {
    return std::nullopt;
  }
  std::string_view times = text.substr(space + 1);
  while (!times.empty() && times.front() == ' ') {
    times.remove_prefix(1);
  }
  auto dash = times.find('-');
  if (dash == std::string_view::npos) {
    error = "'" + std::string(times) + "' is not a time range HH:MM-HH:MM";
    return std::nullopt;
  }
  auto start = parse_clock(times.substr(0, dash), false);
  auto end = parse_clock(times.substr(dash + 1), true);
  if (!start) {
    error = "'" + std::string(times.substr(0, dash)) + "' is not a time 00:00-23:59";
    return std::nullopt;
  }
  if (!end) {
    error = "'" + std::string(times.substr(dash + 1)) + "' is not a time 00:00-24:00";
    return std::nullopt;
  }
  if (*start == *end) {
    error = "the window starts and ends at the same time; for a whole day write 00:00-24:00";
    return std::nullopt;
  }
  return WeeklyWindow{*days, *start, *end, {}};
}

std::optional<DateRange> parse_date_range(std::string_view text, std::string& error) {
  auto dots = text.find("..");
  auto first = parse_date(text.substr(0, dots));
  auto last = dots == std::string_view::npos ? first : parse_date(text.substr(dots + 2));
  if (!first || !last) {
    error =
        "'" + std::string(text) + "' is not a date YYYY-MM-DD or a range YYYY-MM-DD..YYYY-MM-DD";
    return std::nullopt;
  }
  if (date::sys_days{*last} < date::sys_days{*first}) {
    error = "the range ends before it starts";
    return std::nullopt;
  }
  return DateRange{*first, *last, {}};
}

bool is_open(const Schedule& schedule, const date::time_zone& zone,
             std::chrono::sys_seconds instant) {
  return is_open_at_local(schedule, zone.to_local(instant));
}

std::vector<Transition> next_transitions(const Schedule& schedule, const date::time_zone& zone,
                                         std::chrono::sys_seconds after, std::size_t count,
                                         std::chrono::days horizon) {
  using std::chrono::seconds;
  std::vector<Transition> found;
  if (count == 0 || horizon <= std::chrono::days{0}) {
    return found;
  }
  // Within one UTC-offset period, local time is UTC shifted, and is_open_at_local changes
  // only where the local minute of day reaches a window's start or end, or at local
  // midnight (closed dates, the weekday). So those local times in each period, plus each
  // period's first second (where a gap or fold jumps the wall clock), are all the instants
  // at which is_open can change.
  std::vector<int> minutes{0};
  for (const WeeklyWindow& window : schedule.weekly) {
    minutes.push_back(window.start_minute);
    minutes.push_back(window.end_minute % 1440);
  }
  std::sort(minutes.begin(), minutes.end());
  minutes.erase(std::unique(minutes.begin(), minutes.end()), minutes.end());

  const std::chrono::sys_seconds last = after + horizon;
  bool open = is_open(schedule, zone, after);
  // Compares a candidate with the state before it; true once `count` changes are found.
  auto visit = [&](std::chrono::sys_seconds at, date::local_seconds local) {
    const bool now_open = is_open_at_local(schedule, local);
    if (now_open != open) {
      open = now_open;
      found.push_back(Transition{at, now_open});
    }
    return found.size() >= count;
  };

  std::chrono::sys_seconds from = after + seconds{1};
  while (from <= last) {
    const date::sys_info info = zone.get_info(from);
    // The period's end can be the end of time; clamp before adding the offset.
    const std::chrono::sys_seconds to = info.end <= last ? info.end : last + seconds{1};
    const date::local_seconds local_from{(from + info.offset).time_since_epoch()};
    const date::local_seconds local_to{(to + info.offset).time_since_epoch()};
    if (visit(from, local_from)) {
      return found;
    }
    for (auto day = date::floor<date::days>(local_from); day < local_to; day += date::days{1}) {
      for (int minute : minutes) {
        const date::local_seconds local = day + std::chrono::minutes{minute};
        if (local <= local_from) {
          continue;
        }
        if (local >= local_to) {
          break;
        }
        if (visit(std::chrono::sys_seconds{(local - info.offset).time_since_epoch()}, local)) {
          return found;
        }
      }
    }
    from = to;
  }
  return found;
}

}  // namespace sekisho::policy
