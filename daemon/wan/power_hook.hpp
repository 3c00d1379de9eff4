#pragma once
// The optional WAN power hook (policy `wan.power_hook`, issue 9): a program that powers
// the WAN modem off when sekishod takes the WAN link down outside operating hours, and on
// again at opening. It runs as root, so sekishod runs it only when nobody but root can
// have put it there or changed it (untrusted_hook), and it never waits for it on the event
// loop (PowerHook).

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>

namespace sekisho::wan {

// Where the packaging puts hooks; the policy parser accepts power_hook only below it.
inline constexpr const char* kHooksDir = "/etc/sekisho/hooks";
// How long a hook may run before its whole process group is killed.
inline constexpr std::chrono::milliseconds kPowerHookTimeout{30'000};

// Why `path` may not be run as the power hook, or nullopt when it may. Text for the log
// and the audit record, e.g. "/etc/sekisho/hooks/modem is writable by its group (mode 0775)".
//
// The names: `hooks_dir` and `path` must be absolute, without "." or ".." components, and
// `path` must name an entry below `hooks_dir` (compared component by component, so
// /etc/sekisho/hooks-old/x is outside /etc/sekisho/hooks).
//
// The files: `path` is resolved one component at a time from "/" with
// openat(O_PATH | O_NOFOLLOW), each step relative to the directory just checked, and
//  - no component may be a symbolic link (also none above hooks_dir: the daemon passes
//    /etc/sekisho/hooks, which has none);
//  - every directory, from "/" down to the one holding the hook, must be owned by root;
//  - hooks_dir and every directory below it must not be writable by group or others;
//  - a directory above hooks_dir may be writable by group or others only when it is
//    sticky (like /tmp): there only root may rename or remove the root-owned entry below
//    it, so what the path names still cannot change without root;
//  - the hook must be a regular file owned by root, not writable by group or others, and
//    executable by its owner.
// Group write in the mode also covers POSIX ACLs: a named entry with write access shows
// in the group bits (the ACL mask) and is refused the same way.
std::optional<std::string> untrusted_hook(const std::string& path, const std::string& hooks_dir);

struct HookResult {
  std::string argument;    // "on" / "off"
  int exit_status = -1;    // when it exited
  int signal = 0;          // when it was killed by a signal (SIGKILL after the timeout)
  bool timed_out = false;  // killed after the timeout
  std::string error;       // could not start (refused by the trust check, spawn failed,
                           // superseded by a later request): why
  std::chrono::milliseconds took{};
  std::chrono::milliseconds timeout{};  // the limit it ran under

  // Exited with status 0 (in time).
  bool ok() const;
  // "exited 0 after 120 ms", "exited 3 after 2.5 s", "killed by SIGSEGV after 40 ms",
  // "killed after the 30 s timeout", "not run: <error>".
  std::string describe() const;
};

// Runs the power hook as a child of sekishod, watched through a pidfd on the io_context.
//
// The hook is executed from the very descriptor untrusted_hook checked (execveat with
// AT_EMPTY_PATH on the O_PATH descriptor of the last component), so the file checked is
// the file run, whatever happens to the path in between. What that costs a script (a file
// starting with "#!"): the kernel hands the interpreter /dev/fd/N instead of the path, so
// the script sees $0 = /dev/fd/N (its arguments are as given), descriptor N (an O_PATH
// descriptor of the script itself) stays open in it, and /proc must be mounted. A binary
// gets argv[0] = path and no extra descriptor. The interpreter named after "#!" is found by
// the kernel as usual: it is the system's, not checked here.
//
// The child: argv = [path, argument] (no shell), stdin /dev/null, stdout and stderr
// sekishod's (the journal), no other descriptor, the environment exactly
// PATH=/usr/sbin:/usr/bin:/sbin:/bin and LANG=C.UTF-8, working directory "/", default
// signal dispositions and an empty signal mask, its own process group, and SIGKILL
// should sekishod die first (PR_SET_PDEATHSIG), so that no hook outlives its bound.
//
// The end: when the hook exits, or is killed after `timeout`, its process group is sent
// SIGKILL (before the hook is reaped, while its pid still holds the group's number), so
// nothing it started in its group outlives it; a child that made a session of its own
// escapes this, as from any supervisor but a cgroup. The hook is then reaped
// (waitid(P_PIDFD)): PowerHook leaves no zombie.
//
// Concurrency: one hook runs at a time, and a run() while one runs is queued; at most one
// run waits. A newer run() replaces the waiting one, whose `done` gets the error
// "superseded by a later \"on\" request" (or "off"). The running hook is not interrupted
// (a modem half powered off is worse than a late one), and the requests that do run, run
// in the order they were made: the latest request always runs last, so a later "on" is
// never overtaken by an earlier "off".
class PowerHook {
 public:
  explicit PowerHook(boost::asio::io_context& io);
  // Kills a running hook's process group and reaps it (waits for the kernel to end it,
  // which SIGKILL makes prompt). No `done` is called any more, not even one already
  // queued on the io_context: their owner is going away.
  ~PowerHook();
  PowerHook(const PowerHook&) = delete;
  PowerHook& operator=(const PowerHook&) = delete;

  // Runs `path argument` as described above; `argument` must be "on" or "off". The trust
  // check is made when the hook is started (so a queued run is checked when its turn
  // comes). Calls `done` exactly once, always from the io_context (never from inside
  // run()), with the outcome; a refusal, a failed start or a superseded run has `error`
  // set. Returns once the child has executed the hook (or failed to), which takes the
  // kernel a moment; the hook itself is never waited for.
  void run(const std::string& path, const std::string& hooks_dir, const std::string& argument,
           std::chrono::milliseconds timeout, std::function<void(HookResult)> done);
  // The same with the 30 s timeout.
  void run(const std::string& path, const std::string& hooks_dir, const std::string& argument,
           std::function<void(HookResult)> done) {
    run(path, hooks_dir, argument, kPowerHookTimeout, std::move(done));
  }
  // A hook process is running (a queued run alone does not count).
  bool running() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace sekisho::wan
