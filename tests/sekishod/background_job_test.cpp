// BackgroundJob: work off the loop (audit verify, session list), and what becomes of it
// when sekishod stops while it runs.

#include "daemon/sekishod/background_job.hpp"

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <doctest/doctest.h>

using sekisho::daemon::BackgroundJob;
using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;

// Waits (at most 10 s) for `flag`.
bool wait_for(const std::atomic<bool>& flag) {
  const auto deadline = Clock::now() + 10s;
  while (!flag && Clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  return flag;
}

// Runs the loop's handlers (at most 10 s) until `done`.
template <typename Done>
bool run_until(boost::asio::io_context& io, Done done) {
  const auto deadline = Clock::now() + 10s;
  while (!done() && Clock::now() < deadline) {
    io.restart();
    io.poll();
    std::this_thread::sleep_for(1ms);
  }
  return done();
}

}  // namespace

TEST_CASE("a job's answer comes on the loop; requests with the same key share the next run") {
  boost::asio::io_context io;
  BackgroundJob job(io, "test");
  std::atomic<bool> release = false;
  int runs = 0;
  std::vector<int> answers;
  auto prepare = [&] {
    const int run = ++runs;
    return BackgroundJob::Work([&release, run](std::stop_token) {
      while (!release) {
        std::this_thread::sleep_for(1ms);
      }
      return nlohmann::json(run);
    });
  };
  auto done = [&](const nlohmann::json& result, std::exception_ptr error) {
    CHECK_FALSE(error);
    answers.push_back(result.get<int>());
  };
  job.request("all", prepare, done);  // starts at once
  job.request("all", prepare, done);  // waits for the next run...
  job.request("all", prepare, done);  // ... and this one shares it
  CHECK(job.running());
  CHECK(answers.empty());  // not before the loop runs
  release = true;
  REQUIRE(run_until(io, [&] { return answers.size() == 3; }));
  CHECK(runs == 2);
  CHECK(answers == std::vector<int>{1, 2, 2});
  CHECK_FALSE(job.running());
}

TEST_CASE("stopping during a long work: it is asked to stop, nobody is answered, nothing hangs") {
  boost::asio::io_context io;
  auto job = std::make_unique<BackgroundJob>(io, "audit verify");
  std::atomic<bool> started = false;
  std::atomic<bool> stopped = false;
  bool answered = false;
  job->request(
      "verify",
      [&] {
        // A verify of a log that takes a minute, unless asked to stop.
        return BackgroundJob::Work([&](std::stop_token stop) {
          started = true;
          const auto end = Clock::now() + 60s;
          while (Clock::now() < end) {
            if (stop.stop_requested()) {
              stopped = true;
              return nlohmann::json("stopped");
            }
            std::this_thread::sleep_for(1ms);
          }
          return nlohmann::json("finished");
        });
      },
      [&](const nlohmann::json&, std::exception_ptr) { answered = true; });
  REQUIRE(wait_for(started));
  // sekishod stops: the Service, and its jobs with it, go while the work runs.
  const auto before = Clock::now();
  job.reset();
  const auto took = Clock::now() - before;
  MESSAGE("the job was gone " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                              << " ms after the stop");
  CHECK(stopped);
  CHECK(took < 2s);
  // What the work posted to the loop before it ended finds the job gone: no answer, no
  // use of freed memory.
  io.run();
  CHECK_FALSE(answered);
}

TEST_CASE("a job destroyed after its work ended, before the loop took the answer") {
  boost::asio::io_context io;
  auto job = std::make_unique<BackgroundJob>(io, "session list");
  std::atomic<bool> ended = false;
  bool answered = false;
  job->request(
      "all",
      [&] {
        return BackgroundJob::Work([&](std::stop_token) {
          ended = true;
          return nlohmann::json::array();
        });
      },
      [&](const nlohmann::json&, std::exception_ptr) { answered = true; });
  REQUIRE(wait_for(ended));
  std::this_thread::sleep_for(20ms);  // the thread posts its answer, then ends
  job.reset();
  io.run();
  CHECK_FALSE(answered);
}
