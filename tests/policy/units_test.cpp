#include "policy/units.hpp"

#include <doctest/doctest.h>

using namespace sekisho::policy;

TEST_CASE("durations") {
  CHECK(parse_duration("90s") == 90);
  CHECK(parse_duration("90") == 90);
  CHECK(parse_duration("1h30m") == 5400);
  CHECK(parse_duration("4h") == 14400);
  CHECK(parse_duration("400d") == 400 * 86400);
  CHECK(parse_duration("1d2h3m4s") == 86400 + 7200 + 180 + 4);
  CHECK_FALSE(parse_duration(""));
  CHECK_FALSE(parse_duration("h"));
  CHECK_FALSE(parse_duration("30m1h"));  // largest unit first
  CHECK_FALSE(parse_duration("1h1h"));
  CHECK_FALSE(parse_duration("1w"));
  CHECK_FALSE(parse_duration("-5s"));
  CHECK_FALSE(parse_duration("1.5h"));
  CHECK_FALSE(parse_duration("01h"));
}

TEST_CASE("byte sizes") {
  CHECK(parse_byte_size("2GiB") == 2ULL << 30);
  CHECK(parse_byte_size("512MiB") == 512ULL << 20);
  CHECK(parse_byte_size("1GB") == 1000000000ULL);
  CHECK(parse_byte_size("4096") == 4096);
  CHECK_FALSE(parse_byte_size("2 GiB"));
  CHECK(parse_byte_size("16777215TiB") == 16777215ULL << 40);
  CHECK_FALSE(parse_byte_size("16777216TiB"));  // 2^64: does not fit
  CHECK_FALSE(parse_byte_size("16777217TiB"));
  CHECK_FALSE(parse_byte_size("2gib"));
  CHECK_FALSE(parse_byte_size("GiB"));
}

TEST_CASE("rates") {
  CHECK(parse_rate("200/s")->count == 200);
  CHECK(parse_rate("60/m")->per_seconds == 60);
  CHECK_FALSE(parse_rate("0/s"));
  CHECK_FALSE(parse_rate("200"));
  CHECK_FALSE(parse_rate("200/d"));
}

TEST_CASE("dates") {
  CHECK(parse_date("2030-03-31"));
  CHECK(parse_date("2028-02-29"));
  CHECK_FALSE(parse_date("2027-02-29"));
  CHECK_FALSE(parse_date("2026-13-01"));
  CHECK_FALSE(parse_date("2026-1-01"));
  CHECK_FALSE(parse_date("2026/01/01"));
}
