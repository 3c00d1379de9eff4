#pragma once
// Work too long for the event loop (a viewer's `audit verify` of a million records, a
// `session list` with thousands of flows), run on a thread of its own while the loop goes
// on enforcing and answering. One job of a kind at a time, so that no caller can start
// threads without bound: a request that comes while one runs waits for it to end, and
// every request with the same key that waited meanwhile shares the next run (begun after
// each of them asked, so none gets an answer older than its question).
//
// The work must not touch the daemon's state: whatever it needs is copied on the loop,
// when the job starts, by `prepare`; the work then runs on the job's thread with that copy
// only (its own sqlite connection, its own netlink socket), and `done` runs on the loop.
//
// When the daemon stops, the job is destroyed: it asks the running work to stop (a long
// work checks its stop_token: an audit verify gives up at the next record), waits for it,
// and answers nobody (what the thread posted to the loop never reaches the gone job).

#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

namespace sekisho::daemon {

class BackgroundJob {
 public:
  // Runs on the job's thread; may throw (control::ControlError to answer with an error).
  // `stop`: the job is being destroyed; a long work returns early (its result goes
  // nowhere).
  using Work = std::function<nlohmann::json(std::stop_token stop)>;
  // Runs on the loop when the job starts: takes what the work needs, returns the work.
  using Prepare = std::function<Work()>;
  // Runs on the loop with the result, or with what the work threw.
  using Done = std::function<void(const nlohmann::json& result, std::exception_ptr error)>;

  BackgroundJob(boost::asio::io_context& io, std::string name);
  ~BackgroundJob();  // asks a running work to stop, and waits for it
  BackgroundJob(const BackgroundJob&) = delete;
  BackgroundJob& operator=(const BackgroundJob&) = delete;

  // Asks for a run with `key` (requests with the same key get the same answer): joins the
  // waiting run with that key, else waits for the running one, else starts now.
  void request(const std::string& key, Prepare prepare, Done done);

  bool running() const { return running_ != nullptr; }

 private:
  struct Run {
    std::string key;
    Prepare prepare;
    std::vector<Done> waiting;  // every request it answers
    nlohmann::json result;
    std::exception_ptr error;
  };
  void start_next();
  void post_finished();  // from the thread (or the loop): finished() on the loop
  void finished();

  boost::asio::io_context& io_;
  std::string name_;
  std::unique_ptr<Run> running_;
  std::deque<std::unique_ptr<Run>> queued_;  // at most one per key
  std::jthread thread_;
  // Shared with what the thread posts to the loop: gone, the job is gone too.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace sekisho::daemon
