// Retries: a kernel change that keeps failing is one episode, recorded at its start and at
// its end, never at each retry.

#include "daemon/sekishod/retries.hpp"

#include <doctest/doctest.h>

using sekisho::daemon::Retries;
using namespace std::chrono_literals;

TEST_CASE("an episode starts at the first failure and ends when the change takes") {
  Retries retries;
  const auto start = Retries::Clock::now();
  CHECK(!retries.took("wan-gate-close"));  // took without failing first: nothing to record
  CHECK(retries.failed("wan-gate-close", start));
  for (int second = 1; second < 60; ++second) {
    CHECK(!retries.failed("wan-gate-close", start + std::chrono::seconds(second)));
  }
  CHECK(retries.failing("wan-gate-close"));
  const auto episode = retries.took("wan-gate-close");
  REQUIRE(episode);
  CHECK(episode->failures == 60);
  CHECK(episode->since == start);
  CHECK(!retries.failing("wan-gate-close"));
  CHECK(!retries.took("wan-gate-close"));
  // A new failure later is a new episode.
  CHECK(retries.failed("wan-gate-close", start + 2min));
}

TEST_CASE("changes are told apart, and one no longer wanted is forgotten") {
  Retries retries;
  const auto now = Retries::Clock::now();
  CHECK(retries.failed("session s-1", now));
  CHECK(retries.failed("session s-2", now));
  CHECK(!retries.failed("session s-1", now + 1s));
  retries.forget("session s-2");
  CHECK(!retries.failing("session s-2"));
  CHECK(!retries.took("session s-2"));
  CHECK(retries.took("session s-1")->failures == 2);
}
