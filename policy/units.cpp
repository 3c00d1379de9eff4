#include "policy/units.hpp"

#include <array>
#include <charconv>
#include <limits>
#include <string>

namespace sekisho::policy {

std::optional<std::uint64_t> parse_unsigned(std::string_view text, std::uint64_t max) {
  if (text.empty() || text.size() > 20 || (text.size() > 1 && text[0] == '0')) {
    return std::nullopt;
  }
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value > max) {
    return std::nullopt;
  }
  return value;
}

std::optional<int> parse_fixed_digits(std::string_view text, int max) {
  if (text.empty() || text.size() > 9) {
    return std::nullopt;
  }
  int value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    value = value * 10 + (c - '0');
  }
  if (value > max) {
    return std::nullopt;
  }
  return value;
}

namespace {

// Splits "123abc" into 123 and "abc"; nullopt when there is no leading number.
std::optional<std::pair<std::uint64_t, std::string_view>> split_number(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') {
    ++digits;
  }
  auto number = parse_unsigned(text.substr(0, digits), std::numeric_limits<std::uint32_t>::max());
  if (!number) {
    return std::nullopt;
  }
  return std::pair{*number, text.substr(digits)};
}

}  // namespace

std::optional<std::int64_t> parse_duration(std::string_view text) {
  if (auto plain = parse_unsigned(text, std::numeric_limits<std::uint32_t>::max())) {
    return static_cast<std::int64_t>(*plain);
  }
  constexpr std::array<std::pair<char, std::int64_t>, 4> kUnits = {
      {{'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}}};
  std::int64_t total = 0;
  std::size_t next_unit = 0;
  std::string_view rest = text;
  if (rest.empty()) {
    return std::nullopt;
  }
  while (!rest.empty()) {
    auto part = split_number(rest);
    if (!part || part->second.empty()) {
      return std::nullopt;
    }
    char unit = part->second.front();
    std::size_t index = next_unit;
    while (index < kUnits.size() && kUnits[index].first != unit) {
      ++index;
    }
    if (index == kUnits.size()) {
      return std::nullopt;
    }
    total += static_cast<std::int64_t>(part->first) * kUnits[index].second;
    next_unit = index + 1;
    rest = part->second.substr(1);
  }
  return total;
}

std::string format_duration(std::int64_t seconds) {
  if (seconds <= 0) {
    return seconds == 0 ? "0s" : "-" + format_duration(-seconds);
  }
  std::string out;
  for (auto [unit, size] : {std::pair{'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}}) {
    if (seconds >= size) {
      out += std::to_string(seconds / size) + unit;
      seconds %= size;
    }
  }
  return out;
}

std::optional<std::uint64_t> parse_byte_size(std::string_view text) {
  auto part = split_number(text);
  if (!part) {
    return std::nullopt;
  }
  constexpr std::array<std::pair<std::string_view, std::uint64_t>, 10> kUnits = {{
      {"", 1},
      {"B", 1},
      {"KiB", 1ULL << 10},
      {"MiB", 1ULL << 20},
      {"GiB", 1ULL << 30},
      {"TiB", 1ULL << 40},
      {"kB", 1000ULL},
      {"MB", 1000ULL * 1000},
      {"GB", 1000ULL * 1000 * 1000},
      {"TB", 1000ULL * 1000 * 1000 * 1000},
  }};
  for (const auto& [suffix, factor] : kUnits) {
    if (part->second == suffix) {
      if (part->first > std::numeric_limits<std::uint64_t>::max() / factor) {
        return std::nullopt;  // would not fit in 64 bits
      }
      return part->first * factor;
    }
  }
  return std::nullopt;
}

std::optional<Rate> parse_rate(std::string_view text) {
  auto part = split_number(text);
  if (!part || part->first == 0) {
    return std::nullopt;
  }
  if (part->second == "/s")
    return Rate{part->first, 1};
  if (part->second == "/m")
    return Rate{part->first, 60};
  if (part->second == "/h")
    return Rate{part->first, 3600};
  return std::nullopt;
}

std::optional<date::year_month_day> parse_date(std::string_view text) {
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') {
    return std::nullopt;
  }
  auto year = parse_fixed_digits(text.substr(0, 4), 9999);
  auto month = parse_fixed_digits(text.substr(5, 2), 12);
  auto day = parse_fixed_digits(text.substr(8, 2), 31);
  if (!year || !month || !day || *year < 1970) {
    return std::nullopt;
  }
  date::year_month_day ymd{date::year{static_cast<int>(*year)},
                           date::month{static_cast<unsigned>(*month)},
                           date::day{static_cast<unsigned>(*day)}};
  if (!ymd.ok()) {
    return std::nullopt;
  }
  return ymd;
}

}  // namespace sekisho::policy
