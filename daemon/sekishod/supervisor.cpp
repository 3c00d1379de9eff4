#include "daemon/sekishod/supervisor.hpp"

#include <algorithm>
#include <csignal>
#include <cstring>
#include <exception>
#include <utility>
#include <variant>

#include <fcntl.h>
#include <sys/socket.h>
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
      restart_timer_(io),
      budget_timer_(io) {
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
  close_channel();
}

void Supervisor::on_message(Receive receive, ChannelBudget budget) {
  receive_ = std::move(receive);
  budget_ = budget;
  budget_.messages = std::max<std::size_t>(budget_.messages, 1);
}

bool Supervisor::send(std::string_view message) {
  if (!channel_ || !running() || message.empty() || message.size() > kMaxChannelMessage) {
    ++refused_sends_;
    return false;
  }
  const ssize_t sent = ::send(channel_->native_handle(), message.data(), message.size(),
                              MSG_DONTWAIT | MSG_NOSIGNAL);
  if (sent != static_cast<ssize_t>(message.size())) {
    ++refused_sends_;
    return false;
  }
  ++sent_;
  return true;
}

std::string Supervisor::open_channel(int& child_end) {
  int ends[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ends) != 0) {
    return "socketpair: " + std::string(std::strerror(errno));
  }
  // Non-blocking on the daemon's side only: the child's blocks when the loop is behind.
  if (::fcntl(ends[0], F_SETFL, ::fcntl(ends[0], F_GETFL) | O_NONBLOCK) != 0) {
    const std::string why = "channel: " + std::string(std::strerror(errno));
    ::close(ends[0]);
    ::close(ends[1]);
    return why;
  }
  try {
    channel_ = std::make_unique<boost::asio::posix::stream_descriptor>(io_, ends[0]);
  } catch (const std::exception& error) {
    ::close(ends[0]);
    ::close(ends[1]);
    return "channel: " + std::string(error.what());
  }
  if (!message_) {
    message_ = std::make_unique<char[]>(kMaxChannelMessage + 1);
  }
  child_end = ends[1];
  return {};
}

void Supervisor::close_channel() {
  budget_timer_.cancel();
  channel_.reset();
}

void Supervisor::await_messages() {
  auto take = [this, alive = std::weak_ptr<int>(alive_),
               watched = launches_](const boost::system::error_code& error) {
    if (error || alive.expired() || watched != launches_ || !channel_) {
      return;
    }
    if (take_messages() != Took::closed) {
      await_messages();
    }
  };
  if (taken_in_window_ >= budget_.messages) {
    ++budget_waits_;
    budget_timer_.expires_at(window_end_);
    budget_timer_.async_wait(std::move(take));
  } else {
    channel_->async_wait(boost::asio::posix::stream_descriptor::wait_read, std::move(take));
  }
}

Supervisor::Took Supervisor::take_messages() {
  const unsigned long long watched = launches_;
  const auto now = std::chrono::steady_clock::now();
  if (now >= window_end_) {
    window_end_ = now + budget_.window;
    taken_in_window_ = 0;
  }
  while (taken_in_window_ < budget_.messages) {
    iovec buffer{message_.get(), kMaxChannelMessage + 1};
    msghdr header{};
    header.msg_iov = &buffer;
    header.msg_iovlen = 1;
    // No room for ancillary data: descriptors a child sends are closed by the kernel, and
    // flagged (MSG_CTRUNC).
    const ssize_t got = ::recvmsg(channel_->native_handle(), &header, MSG_DONTWAIT);
    if (got < 0 && errno == EINTR) {
      continue;
    }
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return Took::all;
    }
    if (got <= 0) {
      return Took::closed;  // the child's end closed (or an empty message): no more
    }
    if ((header.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0 ||
        static_cast<std::size_t>(got) > kMaxChannelMessage) {
      ++protocol_errors_;
      log_error("plugin " + plugin_ + ": " + command_.program + " (pid " + std::to_string(pid_) +
                ") broke its channel's protocol (a message over " +
                std::to_string(kMaxChannelMessage) + " bytes, or with descriptors); killing it");
      signal_child_group(pid_, SIGKILL);
      close_channel();  // nothing more of it is taken, not even what it sent before dying
      return Took::closed;
    }
    ++taken_in_window_;
    ++received_;
    if (receive_) {
      try {
        receive_(std::string_view(message_.get(), static_cast<std::size_t>(got)));
      } catch (const std::exception& error) {
        log_error("plugin " + plugin_ + ": a message of its child: " + error.what());
      }
    }
    // The receiver may have stopped the child, or it may have been started again.
    if (!channel_ || watched != launches_) {
      return Took::closed;
    }
  }
  return Took::budget_spent;
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
  close_channel();
  int child_end = -1;
  std::string why = command_.channel ? open_channel(child_end) : std::string();
  auto spawned =
      why.empty() ? spawn_child(command_, child_end) : std::variant<SpawnedChild, std::string>(why);
  if (child_end >= 0) {
    ::close(child_end);  // the child's now, or no one's
  }
  why.clear();
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
    close_channel();
    last_exit_ = {{"error", why}, {"at", utc_text(started_wall_)}};
    restart_later(milliseconds::zero(), "plugin " + plugin_ + ": " + why);
    return;
  }
  // Watched before it is recorded: whoever takes the record may stop it.
  watch();
  if (channel_) {
    await_messages();
  }
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
  const unsigned long long watched = launches_;
  if (channel_) {
    // What it sent before it ended, within the budget; then its channel is gone.
    take_messages();
    if (watched != launches_ || pid_ != pid) {
      return;  // the receiver stopped it
    }
  }
  close_channel();
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
  close_channel();
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
  if (command_.channel) {
    out["channel"] = {{"open", channel_ != nullptr},
                      {"received", received_},
                      {"sent", sent_},
                      {"refused_sends", refused_sends_},
                      {"budget_waits", budget_waits_},
                      {"protocol_errors", protocol_errors_}};
  }
  if (restart_at_) {
    const auto left =
        std::chrono::ceil<milliseconds>(*restart_at_ - std::chrono::steady_clock::now());
    out["next_start_in_ms"] = std::max<long long>(left.count(), 0);
  }
  return out;
}

}  // namespace sekisho::daemon
