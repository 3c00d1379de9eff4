#include "daemon/sekishod/supervisor.hpp"

#include <algorithm>
#include <csignal>
#include <cstring>
#include <exception>
#include <utility>
#include <variant>

#include <unistd.h>

#include "daemon/common/clock.hpp"
#include "daemon/common/log.hpp"

namespace sekisho::daemon {
namespace {

using std::chrono::milliseconds;

// "4 s", "250 ms" (the test-sized backoffs), for the log.
std::string delay_text(milliseconds delay) {
  if (delay < std::chrono::seconds(1)) {
    return std::to_string(delay.count()) + " ms";
  }
  return std::to_string(std::chrono::ceil<std::chrono::seconds>(delay).count()) + " s";
}

// "exited with status 3", "was killed by SIGSEGV".
std::string exit_text(const ChildExit& exit) {
  if (exit.signal == 0) {
    return "exited with status " + std::to_string(exit.exit_code);
  }
  const char* name = ::sigabbrev_np(exit.signal);
  return "was killed by " +
         (name ? "SIG" + std::string(name) : "signal " + std::to_string(exit.signal));
}

// The exit's fields of the records and of status(): `exit_code` or `signal`.
void add_exit(nlohmann::json& details, const ChildExit& exit) {
  if (exit.signal == 0) {
    details["exit_code"] = exit.exit_code;
  } else {
    details["signal"] = exit.signal;
  }
}

}  // namespace

Supervisor::Supervisor(boost::asio::io_context& io, std::string plugin, ChildCommand command,
                       Record record, RestartBackoff backoff)
    : io_(io),
      plugin_(std::move(plugin)),
      command_(std::move(command)),
      record_(std::move(record)),
      backoff_(backoff),
      restart_timer_(io) {
  backoff_.first = std::max(backoff_.first, milliseconds(1));
  backoff_.longest = std::max(backoff_.longest, backoff_.first);
  delay_ = backoff_.first;
}

Supervisor::~Supervisor() {
  wanted_ = false;
  restart_timer_.cancel();
  if (running()) {
    end_child(kChildStopGrace, false);
  }
}

void Supervisor::start() {
  if (wanted_) {
    return;
  }
  wanted_ = true;
  delay_ = backoff_.first;
  launch();
}

void Supervisor::stop(milliseconds grace) {
  wanted_ = false;
  restart_timer_.cancel();
  restart_at_.reset();
  if (running()) {
    end_child(grace, true);
  }
}

void Supervisor::launch() {
  ++launches_;
  restart_at_.reset();
  started_ = std::chrono::steady_clock::now();
  started_wall_ = std::chrono::system_clock::now();
  auto spawned = spawn_child(command_);
  std::string why;
  if (auto* child = std::get_if<SpawnedChild>(&spawned)) {
    try {
      pidfd_ = std::make_unique<boost::asio::posix::stream_descriptor>(io_, child->pidfd);
      pid_ = child->pid;
    } catch (const std::exception& error) {
      // The loop cannot watch it: it may not run unwatched.
      reap_child(child->pid, child->pidfd);
      ::close(child->pidfd);
      why = "watching " + command_.program + ": " + error.what();
    }
  } else {
    why = std::get<std::string>(spawned);
  }
  if (!why.empty()) {
    last_exit_ = {{"error", why}, {"at", utc_text(started_wall_)}};
    restart_later(milliseconds::zero(), "plugin " + plugin_ + ": " + why);
    return;
  }
  // Watched before it is recorded: whoever takes the record may stop it.
  watch();
  log_notice("plugin " + plugin_ + ": started " + command_.program + " (pid " +
             std::to_string(pid_) + ")");
  if (record_) {
    record_("plugin.child_start",
            {{"plugin", plugin_}, {"program", command_.program}, {"pid", pid_}});
  }
}

void Supervisor::watch() {
  pidfd_->async_wait(boost::asio::posix::stream_descriptor::wait_read,
                     [this, alive = std::weak_ptr<int>(alive_),
                      watched = launches_](const boost::system::error_code& error) {
                       // A wait of an earlier child, or one that stop() has reaped since
                       // it completed, finds another launch or no child.
                       if (error || alive.expired() || watched != launches_ || !running()) {
                         return;
                       }
                       ended();
                     });
}

void Supervisor::ended() {
  const pid_t pid = pid_;
  const ChildExit exit = reap_child(pid_, pidfd_->native_handle());
  pid_ = -1;
  pidfd_.reset();
  const milliseconds ran = note_exit(exit);
  const auto ran_seconds = std::chrono::duration_cast<std::chrono::seconds>(ran).count();
  const milliseconds delay = restart_later(ran, "plugin " + plugin_ + ": " + command_.program +
                                                    " (pid " + std::to_string(pid) + ") " +
                                                    exit_text(exit) + " after " + delay_text(ran));
  if (record_) {
    nlohmann::json details{
        {"plugin", plugin_},
        {"pid", pid},
        {"ran_seconds", ran_seconds},
        {"restart_in_seconds", std::chrono::ceil<std::chrono::seconds>(delay).count()},
        {"stopped", false}};
    add_exit(details, exit);
    record_("plugin.child_exit", std::move(details));
  }
}

milliseconds Supervisor::note_exit(const ChildExit& exit) {
  const auto ran =
      std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - started_);
  last_exit_ = {{"ran_seconds", std::chrono::duration_cast<std::chrono::seconds>(ran).count()},
                {"at", utc_text(std::chrono::system_clock::now())}};
  add_exit(last_exit_, exit);
  return ran;
}

milliseconds Supervisor::restart_later(milliseconds ran, const std::string& what) {
  if (ran >= backoff_.healthy) {
    delay_ = backoff_.first;
  }
  const milliseconds delay = delay_;
  delay_ = std::min(delay_ * 2, backoff_.longest);
  log_error(what + "; starting it again in " + delay_text(delay));
  restart_at_ = std::chrono::steady_clock::now() + delay;
  restart_timer_.expires_after(delay);
  restart_timer_.async_wait([this, alive = std::weak_ptr<int>(alive_),
                             armed = launches_](const boost::system::error_code& error) {
    if (error || alive.expired() || !wanted_ || armed != launches_ || running()) {
      return;
    }
    launch();
  });
  return delay;
}

void Supervisor::end_child(milliseconds grace, bool record) {
  const pid_t pid = pid_;
  const int pidfd = pidfd_->native_handle();
  pidfd_->cancel();
  signal_child_group(pid, SIGTERM);
  wait_for_child(pidfd, grace);
  const ChildExit exit = reap_child(pid, pidfd);
  pid_ = -1;
  pidfd_.reset();
  delay_ = backoff_.first;
  const milliseconds ran = note_exit(exit);
  const auto ran_seconds = std::chrono::duration_cast<std::chrono::seconds>(ran).count();
  log_notice("plugin " + plugin_ + ": stopped " + command_.program + " (pid " +
             std::to_string(pid) + "): it " + exit_text(exit));
  if (record && record_) {
    nlohmann::json details{{"plugin", plugin_},
                           {"pid", pid},
                           {"ran_seconds", ran_seconds},
                           {"restart_in_seconds", nullptr},
                           {"stopped", true}};
    add_exit(details, exit);
    record_("plugin.child_exit", std::move(details));
  }
}

nlohmann::json Supervisor::status() const {
  nlohmann::json out{{"program", command_.program},
                     {"running", running()},
                     {"pid", nullptr},
                     {"since", nullptr},
                     {"restarts", launches_ > 0 ? launches_ - 1 : 0},
                     {"last_exit", last_exit_},
                     {"next_start_in_ms", nullptr}};
  if (running()) {
    out["pid"] = pid_;
    out["since"] = utc_text(started_wall_);
  }
  if (restart_at_) {
    const auto left =
        std::chrono::ceil<milliseconds>(*restart_at_ - std::chrono::steady_clock::now());
    out["next_start_in_ms"] = std::max<long long>(left.count(), 0);
  }
  return out;
}

}  // namespace sekisho::daemon
