#include "daemon/sekishod/refusals.hpp"

#include <doctest/doctest.h>

using sekisho::daemon::RefusalCounter;
using namespace std::chrono_literals;

namespace {

using Summary = RefusalCounter::Summary;

struct Recorded {
  std::int64_t uid;
  std::string method;
};

// Everything a counter sent to the audit log.
struct Sink {
  std::vector<Recorded> records;
  std::vector<Summary> summaries;

  RefusalCounter counter(int records_per_window = RefusalCounter::kRecordsPerWindow) {
    return RefusalCounter(
        [this](const sekisho::audit::Actor& actor, const std::string& method, std::int64_t) {
          records.push_back({actor.uid, method});
        },
        [this](const Summary& summary) { summaries.push_back(summary); }, records_per_window);
  }
  std::int64_t counted(std::int64_t uid) const {
    std::int64_t total = 0;
    for (const Recorded& record : records) {
      total += record.uid == uid;
    }
    for (const Summary& summary : summaries) {
      if (summary.actor.uid == uid && !summary.without_role) {
        for (const auto& [method, count] : summary.counts) {
          total += count;
        }
      }
    }
    return total;
  }
};

const auto kStart = RefusalCounter::Clock::time_point{} + 1h;
const sekisho::audit::Actor kViewer{1001, "alice", "viewer"};
const sekisho::audit::Actor kNobody{65534, "nobody", "none"};

// Refusals at `times` (seconds from the start; `burst` at each, 1 ms apart), of a viewer
// (`has_role`) or of a caller without a role, for a day: the audit records they leave
// (records of their own plus summaries), and how many refusals they count.
struct Day {
  std::size_t records = 0;
  std::int64_t counted = 0;
  std::int64_t refusals = 0;
};
Day simulate_day(const std::vector<std::int64_t>& times, int burst, bool has_role) {
  Sink sink;
  RefusalCounter counter = sink.counter();
  Day day;
  std::size_t next = 0;
  for (std::int64_t second = 0; second < 86400; ++second) {
    const auto now = kStart + std::chrono::seconds(second);
    for (; next < times.size() && times[next] == second; ++next) {
      for (int i = 0; i < burst; ++i) {
        counter.refused(has_role ? kViewer : kNobody, has_role, "link.down", 7,
                        now + std::chrono::milliseconds(i));
        ++day.refusals;
      }
    }
    counter.flush(now + 999ms);
  }
  counter.flush(kStart + 24h, true);
  day.records = sink.records.size() + sink.summaries.size();
  day.counted = static_cast<std::int64_t>(sink.records.size());
  for (const Summary& summary : sink.summaries) {
    day.counted += summary.counts.at("link.down");
  }
  return day;
}

// Refusals every `period` seconds.
std::vector<std::int64_t> every(std::int64_t period) {
  std::vector<std::int64_t> times;
  for (std::int64_t t = 0; t < 86400; t += period) {
    times.push_back(t);
  }
  return times;
}

// A refusal at the start of each of `windows` windows in a row (10, 20, 40 s...), then an
// hour's quiet (the counter forgets the caller), again and again: the pattern that gets
// the most windows out of the counter.
std::vector<std::int64_t> ramp_and_rest(int windows) {
  std::vector<std::int64_t> times;
  for (std::int64_t base = 0; base < 86400;) {
    std::int64_t at = base;
    std::int64_t length = RefusalCounter::kFirstWindow.count();
    for (int i = 0; i < windows && at < 86400; ++i) {
      times.push_back(at);
      if (i + 1 < windows) {
        at += length;
        length = std::min<std::int64_t>(length * 2, RefusalCounter::kLongestWindow.count());
      }
    }
    base = at + RefusalCounter::kForgetAfter.count() + 1;
  }
  return times;
}

}  // namespace

TEST_CASE(
    "a caller with a role: the first few refusals of a window on their own, the rest one summary") {
  Sink sink;
  RefusalCounter counter = sink.counter();
  const sekisho::audit::Actor operator_{1002, "bob", "operator"};
  int alone = 0;
  for (int i = 0; i < 1000; ++i) {
    alone +=
        counter.refused(kViewer, true, i % 2 ? "link.down" : "policy.apply", 7, kStart + 1ms * i);
  }
  CHECK(alone == RefusalCounter::kRecordsPerWindow);
  // Another caller is not held back by the first one.
  CHECK(counter.refused(operator_, true, "policy.apply", 8, kStart + 2s));
  CHECK(sink.records.size() == RefusalCounter::kRecordsPerWindow + 1);

  counter.flush(kStart + 5s);  // the window is not over yet
  CHECK(sink.summaries.empty());
  counter.flush(kStart + RefusalCounter::kFirstWindow + 2s);
  // One summary for the window, with a count per method; every refusal is in the log.
  REQUIRE(sink.summaries.size() == 1);
  const Summary& summary = sink.summaries[0];
  CHECK(summary.actor.uid == kViewer.uid);
  CHECK_FALSE(summary.without_role);
  CHECK(summary.window == 10s);
  CHECK(summary.counts.size() == 2);
  CHECK(sink.counted(kViewer.uid) == 1000);
  CHECK(sink.counted(operator_.uid) == 1);

  // The next window is twice as long, and records its first few again.
  CHECK(counter.refused(kViewer, true, "link.down", 9, kStart + 1min));
  counter.flush(kStart + 1min + 15s);
  CHECK(counter.refused(kViewer, true, "link.down", 9, kStart + 1min + 16s));
  CHECK(counter.refused(kViewer, true, "link.down", 9, kStart + 1min + 17s));
  CHECK_FALSE(counter.refused(kViewer, true, "link.down", 9, kStart + 1min + 18s));
  counter.flush(kStart + 1min + 19s);
  CHECK(sink.summaries.size() == 1);
  counter.flush(kStart + 1min + 20s);
  REQUIRE(sink.summaries.size() == 2);
  CHECK(sink.summaries[1].window == 20s);
}

TEST_CASE("callers without a role: no record of their own, one summary for all of them") {
  Sink sink;
  RefusalCounter counter = sink.counter();
  // One user as every uid of a subuid range, each refused ten times.
  for (std::int64_t uid = 100000; uid < 100000 + 65536; ++uid) {
    const sekisho::audit::Actor actor{uid, std::to_string(uid), "none"};
    for (int i = 0; i < 10; ++i) {
      CHECK_FALSE(counter.refused(actor, false, "status", uid, kStart + 100us * (uid - 100000)));
    }
  }
  CHECK(sink.records.empty());
  CHECK(counter.callers_tracked() == 1);
  counter.flush(kStart + 2min);
  REQUIRE(sink.summaries.size() == 1);
  const Summary& summary = sink.summaries[0];
  CHECK(summary.without_role);
  CHECK(summary.counts.at("status") == 655360);
  CHECK(summary.callers == static_cast<std::int64_t>(RefusalCounter::kCallersCounted));
  REQUIRE(summary.uids.size() == RefusalCounter::kCallersNamed);
  CHECK(summary.uids[0] == 100000);
  CHECK(summary.window == 10s);
  const nlohmann::json details = sekisho::daemon::summary_details(summary);
  CHECK(details["without_role"] == true);
  CHECK(details["counts"]["status"] == 655360);
  CHECK(details["window_seconds"] == 10);
  CHECK(details["callers"] == 1024);
  CHECK(sekisho::daemon::summary_text(summary, "requests") ==
        "655360 requests of 1024 or more callers without a role in 10 s: status 655360");
}

TEST_CASE(
    "windows lengthen while refusals keep coming, up to an hour, and start again after a quiet "
    "hour") {
  Sink sink;
  RefusalCounter counter = sink.counter(0);
  auto now = kStart;
  std::vector<std::int64_t> lengths;
  for (int second = 0; second < 6 * 3600; ++second) {
    now = kStart + std::chrono::seconds(second);
    counter.refused(kNobody, false, "all", 0, now);
    counter.flush(now);
  }
  for (const Summary& summary : sink.summaries) {
    lengths.push_back(summary.window.count());
  }
  const std::vector<std::int64_t> ramp = {10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600};
  REQUIRE(lengths.size() >= ramp.size());
  CHECK(std::vector<std::int64_t>(lengths.begin(), lengths.begin() + 11) == ramp);
  CHECK(lengths.size() <= 15);  // six hours of one refusal a second
  // The flood stops; the open window ends.
  sink.summaries.clear();
  auto ended = now;
  while (sink.summaries.empty()) {
    ended += 1s;
    counter.flush(ended);
  }
  // Quiet for less than an hour: still long windows.
  const auto again = ended + 60s;
  counter.refused(kNobody, false, "all", 0, again);
  counter.flush(again + 3599s);
  CHECK(sink.summaries.size() == 1);
  counter.flush(again + 3600s);
  REQUIRE(sink.summaries.size() == 2);
  CHECK(sink.summaries[1].window == 3600s);
  // Then an hour without a refusal: forgotten, 10 s again.
  CHECK(counter.callers_tracked() == 0);
  counter.refused(kNobody, false, "all", 0, again + 4000s);
  counter.flush(again + 4010s);
  REQUIRE(sink.summaries.size() == 3);
  CHECK(sink.summaries[2].window == 10s);
}

TEST_CASE(
    "over a simulated day, whatever the pattern, refusals leave a bounded number of records") {
  // Before: a caller's ten refusals every 10 s were ten records each time, 86,400 a day.
  std::size_t worst_with_role = 0;
  std::size_t worst_without_role = 0;
  std::string worst_pattern;
  auto check = [&](const std::string& pattern, const std::vector<std::int64_t>& times) {
    for (int burst : {1, 10}) {
      for (bool has_role : {true, false}) {
        const Day day = simulate_day(times, burst, has_role);
        CHECK(day.counted == day.refusals);  // every refusal is in the log
        std::size_t& worst = has_role ? worst_with_role : worst_without_role;
        if (day.records > worst) {
          worst = day.records;
          if (has_role) {
            worst_pattern = pattern + " bursts of " + std::to_string(burst);
          }
        }
      }
    }
  };
  for (std::int64_t period : {1,  2,  5,   9,   10,  11,  15,   20,   21,   30,   31,   45,  60,
                              61, 90, 120, 300, 600, 900, 1800, 3599, 3600, 3601, 5400, 7200}) {
    check("every " + std::to_string(period) + " s", every(period));
  }
  for (int windows = 1; windows <= 11; ++windows) {
    check("ramp of " + std::to_string(windows) + " windows then an hour's rest",
          ramp_and_rest(windows));
  }
  MESSAGE("most records a day: " << worst_with_role << " for a caller with a role ("
                                 << worst_pattern << "), " << worst_without_role
                                 << " for all callers without a role together");
  // At most 150 windows a day: a caller with a role up to three records of its own and a
  // summary in each, all callers without a role one summary each.
  CHECK(worst_with_role <= 600);
  CHECK(worst_without_role <= 150);
  // A steady flood: about 30 windows a day.
  CHECK(simulate_day(every(1), 10, false).records <= 35);
  CHECK(simulate_day(every(10), 10, false).records <= 35);
}

TEST_CASE("refused connections are only counted: one summary per caller and window") {
  Sink sink;
  RefusalCounter counter = sink.counter(0);
  const sekisho::audit::Actor mallory{1000, "mallory", "viewer"};
  for (int i = 0; i < 3000; ++i) {
    CHECK_FALSE(counter.refused(mallory, true, i < 2990 ? "per_uid" : "all", 7, kStart + 1ms * i));
  }
  CHECK(sink.records.empty());
  counter.flush(kStart + RefusalCounter::kFirstWindow + 1s);
  REQUIRE(sink.summaries.size() == 1);
  CHECK(sink.summaries[0].counts.at("all") == 10);
  CHECK(sink.summaries[0].counts.at("per_uid") == 2990);
}
