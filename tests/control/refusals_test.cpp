#include "daemon/sekishod/refusals.hpp"

#include <doctest/doctest.h>

using sekisho::daemon::RefusalCounter;
using namespace std::chrono_literals;

namespace {

struct Recorded {
  std::int64_t uid;
  std::string method;
  std::int64_t count;
};

}  // namespace

TEST_CASE("refusals: the first ones are records of their own, the rest a count per method") {
  std::vector<Recorded> records;
  RefusalCounter counter([&](const sekisho::audit::Actor& actor, const std::string& method,
                             std::int64_t, std::int64_t count) {
    records.push_back({actor.uid, method, count});
  });
  const auto start = RefusalCounter::Clock::time_point{} + 1h;
  const sekisho::audit::Actor mallory{1000, "mallory", "none"};
  const sekisho::audit::Actor alice{1001, "alice", "viewer"};
  int alone = 0;
  for (int i = 0; i < 1000; ++i) {
    alone += counter.refused(mallory, i % 2 ? "status" : "policy.apply", 7, start + 1ms * i);
  }
  CHECK(alone == RefusalCounter::kRecordsPerWindow);
  // Another caller is not held back by the first one.
  CHECK(counter.refused(alice, "policy.apply", 8, start + 2s));
  CHECK(records.size() == RefusalCounter::kRecordsPerWindow + 1);

  counter.flush(start + 5s);  // the window is not over yet
  CHECK(records.size() == RefusalCounter::kRecordsPerWindow + 1);
  counter.flush(start + RefusalCounter::kWindow + 2s);
  std::int64_t total = 0;
  for (const Recorded& record : records) {
    if (record.uid == mallory.uid) {
      total += record.count;
    }
  }
  CHECK(total == 1000);  // every refusal is in the log, as a record or in a count
  CHECK(records.size() == RefusalCounter::kRecordsPerWindow + 1 + 2);

  // A new window records again.
  CHECK(counter.refused(mallory, "status", 9, start + 1min));
}

TEST_CASE("refused connections are only counted: one record per caller, cap and window") {
  std::vector<Recorded> records;
  RefusalCounter counter(
      [&](const sekisho::audit::Actor& actor, const std::string& cap, std::int64_t,
          std::int64_t count) { records.push_back({actor.uid, cap, count}); },
      0);
  const auto start = RefusalCounter::Clock::time_point{} + 1h;
  const sekisho::audit::Actor mallory{1000, "mallory", "none"};
  for (int i = 0; i < 3000; ++i) {
    CHECK_FALSE(counter.refused(mallory, i < 2990 ? "per_uid" : "all", 7, start + 1ms * i));
  }
  CHECK(records.empty());
  counter.flush(start + RefusalCounter::kWindow + 1s);
  REQUIRE(records.size() == 2);
  CHECK(records[0].method == "all");
  CHECK(records[0].count == 10);
  CHECK(records[1].method == "per_uid");
  CHECK(records[1].count == 2990);
}
