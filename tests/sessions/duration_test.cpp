// policy::format_duration, which sessions use for deadlines, remaining time and refusals:
// as short as it gets, and what parse_duration reads back as the same number of seconds.
#include <cstdint>
#include <random>

#include <doctest/doctest.h>

#include "policy/units.hpp"

using sekisho::policy::format_duration;
using sekisho::policy::parse_duration;

TEST_CASE("durations are written with the largest units first, zero units left out") {
  CHECK(format_duration(0) == "0s");
  CHECK(format_duration(1) == "1s");
  CHECK(format_duration(59) == "59s");
  CHECK(format_duration(60) == "1m");
  CHECK(format_duration(61) == "1m1s");
  CHECK(format_duration(3600) == "1h");
  CHECK(format_duration(5400) == "1h30m");
  CHECK(format_duration(3601) == "1h1s");
  CHECK(format_duration(86400) == "1d");
  CHECK(format_duration(90061) == "1d1h1m1s");
  CHECK(format_duration(14400) == "4h");
  CHECK(format_duration(30 * 86400) == "30d");
  CHECK(format_duration(86400 + 59) == "1d59s");
}

TEST_CASE("a negative duration is the positive one with a minus") {
  CHECK(format_duration(-1) == "-1s");
  CHECK(format_duration(-5400) == "-1h30m");
  CHECK_FALSE(parse_duration(format_duration(-5400)));
}

TEST_CASE("parse_duration reads every written duration back as the same seconds") {
  std::vector<std::int64_t> values;
  for (std::int64_t x = 0; x <= 4000; ++x) {
    values.push_back(x);
  }
  for (std::int64_t unit : {60, 3600, 86400}) {
    for (std::int64_t k = 1; k <= 100; ++k) {
      values.push_back(k * unit - 1);
      values.push_back(k * unit);
      values.push_back(k * unit + 1);
    }
  }
  std::mt19937_64 random(20260101);
  std::uniform_int_distribution<std::int64_t> any_second(0, 4294967295);
  for (int i = 0; i < 20000; ++i) {
    values.push_back(any_second(random));
  }
  values.push_back(4294967295);
  int checked = 0;
  for (std::int64_t x : values) {
    const std::string text = format_duration(x);
    const std::optional<std::int64_t> back = parse_duration(text);
    if (!back || *back != x) {
      FAIL_CHECK(x << " is written '" << text << "', which reads back as "
                   << (back ? std::to_string(*back) : "nothing"));
    }
    ++checked;
  }
  CHECK(checked == static_cast<int>(values.size()));
}
