#pragma once
// A plugin's data path in a process of its own (issue 21): sekishod starts it, notices its
// end through its pidfd on the event loop (no polling, no thread), and starts it again
// after a backoff. Its crash never takes the daemon down, and its restart needs no reload:
// the kernel holds the steering, and drops the steered flows while the child is down
// (fail closed).
//
// The child is started as daemon/common/child_process.hpp says (exactly the environment
// given, no descriptor but stdin /dev/null, stdout and stderr, its own process group,
// SIGKILL when sekishod dies). A program that cannot be started (missing, not executable)
// is a log line and the same backoff as a crash. Everything runs on the loop's thread;
// nothing here is safe to call from another.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "daemon/common/child_process.hpp"

namespace sekisho::daemon {

// When a child that ended is started again. The figures are those of wireguard-go's
// restarts (vpn/tunnel.cpp): the first restart comes soon enough that a one-off crash
// costs the steered flows about a second; a crash loop slows to one start a minute, so
// its records (one plugin.child_start and one plugin.child_exit per start) stay at one
// pair a minute; a child that ran a minute is taken to have been healthy, and its next
// crash starts from the short delay again.
struct RestartBackoff {
  std::chrono::milliseconds first{1'000};     // after the first end
  std::chrono::milliseconds longest{60'000};  // doubling stops here
  std::chrono::milliseconds healthy{60'000};  // a run this long resets the delay to `first`
};

// A child's channel (ChildCommand::channel): a SOCK_SEQPACKET socketpair made at each start,
// the child's end its descriptor 3, the other on the loop. A message either way is one
// datagram of 1 to kMaxChannelMessage bytes; what it holds is the plugin's business.
inline constexpr std::size_t kMaxChannelMessage = 64 * 1024;

// How many of the child's messages the loop takes in a window; the rest wait in the socket,
// and the child's sends block once it is full: a child that floods slows itself down, not
// the daemon, and costs no memory of sekishod's.
struct ChannelBudget {
  std::size_t messages = 256;
  std::chrono::milliseconds window{100};
};

// The grace stop() gives when none is said, and the destructor's: time for a data path to
// close its connections cleanly, well inside systemd's stop timeout.
inline constexpr std::chrono::milliseconds kChildStopGrace{5'000};

class Supervisor {
 public:
  // Called on the loop (also from inside start() and stop()) with the kind of the record
  // and its details: "plugin.child_start" {plugin, program, pid}, "plugin.child_exit"
  // {plugin, pid, exit_code or signal, ran_seconds, restart_in_seconds (null after stop()),
  // stopped (true after stop())}. docs/audit-format.md, Plugin child records.
  using Record = std::function<void(std::string_view kind, nlohmann::json details)>;

  // `plugin` names it in the records and the log. Nothing starts before start(). A backoff
  // whose `first` is under 1 ms is taken as 1 ms, and `longest` is at least `first`: no
  // restart loop runs without a pause.
  Supervisor(boost::asio::io_context& io, std::string plugin, ChildCommand command, Record record,
             RestartBackoff backoff = {});
  // stop(kChildStopGrace), without a record: the owner is going away.
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // Each message of the child, on the loop, for a command with a channel (set before
  // start()). A message larger than kMaxChannelMessage, or one carrying descriptors or
  // credentials, is a protocol error: logged, and the child is killed and started again
  // with the backoff (a child that breaks the protocol is not trusted to go on; nothing it
  // sent after the bad message is taken). An empty
  // message ends what the loop reads from this child until it is started again. What the
  // child sent before it ended is still taken (within the budget), then the socket closes.
  using Receive = std::function<void(std::string_view message)>;
  void on_message(Receive receive, ChannelBudget budget = {});
  // One message to the child running now, never blocking the loop: false when none runs,
  // the command has no channel, the message is empty or over kMaxChannelMessage, or the
  // socket is full.
  bool send(std::string_view message);

  // Starts the child now and keeps it running until stop(); nothing while it runs or waits
  // for its restart.
  void start();
  // SIGTERM to the child's process group, SIGKILL to it after `grace`, the child reaped,
  // and no restart. Blocks the loop until the child has ended: at most `grace` and the
  // moment the kernel takes to end a killed process.
  void stop(std::chrono::milliseconds grace = kChildStopGrace);

  // {"program", "running", "pid" (null when not running), "since" (UTC, when the running
  // child started; null), "restarts" (starts after the first, failed ones included),
  // "last_exit" (null, or {"exit_code" or "signal", "ran_seconds", "at"}, or {"error",
  // "at"} for a program that could not be started), "next_start_in_ms" (null unless a
  // restart waits)}; with a channel also "channel": {"open", "received", "sent",
  // "refused_sends", "budget_waits" (windows whose budget the child used up),
  // "protocol_errors"}.
  nlohmann::json status() const;
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

 private:
  void launch();
  void watch();
  // The child's pidfd became readable: it is reaped, recorded and started again later.
  void ended();
  // Keeps how it ended for status(): how long it ran.
  std::chrono::milliseconds note_exit(const ChildExit& exit);
  // Logs `what` and arms the restart after the backoff's next delay (from `first` again
  // when it `ran` long enough to count as healthy): that delay.
  std::chrono::milliseconds restart_later(std::chrono::milliseconds ran, const std::string& what);
  // SIGTERM, SIGKILL after `grace`, reaped; `record`: a plugin.child_exit with stopped.
  void end_child(std::chrono::milliseconds grace, bool record);
  // The daemon's end of a new channel, the child's end in `child_end`; empty, or why not.
  std::string open_channel(int& child_end);
  void close_channel();
  // Waits for the channel to be readable (or the budget's next window), then takes.
  void await_messages();
  enum class Took { all, budget_spent, closed };
  // Takes the waiting messages, at most what is left of the window's budget.
  Took take_messages();

  boost::asio::io_context& io_;
  std::string plugin_;
  ChildCommand command_;
  Record record_;
  RestartBackoff backoff_;

  bool wanted_ = false;  // between start() and stop()
  pid_t pid_ = -1;
  std::unique_ptr<boost::asio::posix::stream_descriptor> pidfd_;
  std::chrono::steady_clock::time_point started_;
  std::chrono::system_clock::time_point started_wall_;
  std::chrono::milliseconds delay_{};  // the next restart's
  boost::asio::steady_timer restart_timer_;
  std::optional<std::chrono::steady_clock::time_point> restart_at_;
  unsigned long long launches_ = 0;
  nlohmann::json last_exit_;
  // The channel's: the daemon's end while a child runs, and its figures since the start.
  Receive receive_;
  ChannelBudget budget_;
  std::unique_ptr<boost::asio::posix::stream_descriptor> channel_;
  std::unique_ptr<char[]> message_;  // kMaxChannelMessage + 1: a longer one shows
  boost::asio::steady_timer budget_timer_;
  std::chrono::steady_clock::time_point window_end_;
  std::size_t taken_in_window_ = 0;
  unsigned long long received_ = 0;
  unsigned long long sent_ = 0;
  unsigned long long refused_sends_ = 0;
  unsigned long long budget_waits_ = 0;
  unsigned long long protocol_errors_ = 0;
  // Handlers queued on the loop hold a weak copy: once the Supervisor is gone they do
  // nothing.
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace sekisho::daemon
