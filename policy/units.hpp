#pragma once
// Scalar units shared by the policy file and the command line (docs/architecture.md, Conventions):
// durations "<int><s|m|h|d>" repeated ("1h30m") or plain seconds, byte sizes ("2GiB"),
// rates ("200/s"), calendar dates ("2026-12-29"), plain unsigned integers.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <date/date.h>

namespace sekisho::policy {

// Seconds. Units d, h, m, s, each at most once and largest first ("1d2h", not "2h1d").
std::optional<std::int64_t> parse_duration(std::string_view text);
// The inverse, as short as it gets: 5400 → "1h30m", 0 → "0s".
std::string format_duration(std::int64_t seconds);

// Bytes. A plain integer, or an integer with B, KiB, MiB, GiB, TiB (powers of 1024) or
// kB, MB, GB, TB (powers of 1000).
std::optional<std::uint64_t> parse_byte_size(std::string_view text);

// A rate: "N/s", "N/m" or "N/h" (N >= 1), kept as a count per period.
struct Rate {
  std::uint64_t count = 0;
  std::int64_t per_seconds = 1;
};
std::optional<Rate> parse_rate(std::string_view text);

std::optional<date::year_month_day> parse_date(std::string_view text);

// Exactly text.size() decimal digits (leading zeros allowed, as in "07" or "2026"), at
// most `max`: the fixed-width fields of dates and clock times.
std::optional<int> parse_fixed_digits(std::string_view text, int max);

// Decimal digits only, no sign, no leading zeros, at most `max`.
std::optional<std::uint64_t> parse_unsigned(std::string_view text, std::uint64_t max);

}  // namespace sekisho::policy
