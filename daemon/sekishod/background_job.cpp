#include "daemon/sekishod/background_job.hpp"

#include <boost/asio/post.hpp>

#include "daemon/common/log.hpp"

namespace sekisho::daemon {

BackgroundJob::BackgroundJob(boost::asio::io_context& io, std::string name)
    : io_(io), name_(std::move(name)) {}

BackgroundJob::~BackgroundJob() {
  if (thread_.joinable()) {
    thread_.request_stop();
    thread_.join();
  }
}

void BackgroundJob::request(const std::string& key, Prepare prepare, Done done) {
  for (const std::unique_ptr<Run>& run : queued_) {
    if (run->key == key) {
      run->waiting.push_back(std::move(done));
      return;
    }
  }
  auto run = std::make_unique<Run>();
  run->key = key;
  run->prepare = std::move(prepare);
  run->waiting.push_back(std::move(done));
  queued_.push_back(std::move(run));
  if (!running_) {
    start_next();
  }
}

void BackgroundJob::start_next() {
  if (queued_.empty()) {
    return;
  }
  running_ = std::move(queued_.front());
  queued_.pop_front();
  Run* run = running_.get();
  try {
    Work work = run->prepare();
    // The thread writes only `run`'s result; the loop reads it after the post below.
    thread_ = std::jthread([this, run, work = std::move(work)](std::stop_token stop) {
      try {
        run->result = work(stop);
      } catch (...) {
        run->error = std::current_exception();
      }
      post_finished();
    });
  } catch (...) {
    // No work or no thread: answered as an error, from the loop, like any other result.
    run->error = std::current_exception();
    post_finished();
  }
}

void BackgroundJob::post_finished() {
  // The loop may run this after the job is gone (destroyed while the work ran): then not.
  boost::asio::post(io_, [this, alive = std::weak_ptr<bool>(alive_)] {
    if (!alive.expired()) {
      finished();
    }
  });
}

void BackgroundJob::finished() {
  if (thread_.joinable()) {
    thread_.join();  // it has posted this: its last step
  }
  std::unique_ptr<Run> run = std::move(running_);
  for (const Done& done : run->waiting) {
    try {
      done(run->result, run->error);
    } catch (const std::exception& error) {
      log_error(name_ + ": answering a caller failed: " + error.what());
    }
  }
  start_next();
}

}  // namespace sekisho::daemon
