#pragma once
// Starting and ending one child process of sekishod (a plugin's data path, supervisor.hpp)
// without touching anyone else's child: it is watched through its pidfd and reaped by that
// pidfd only. sekishod has other children (the WAN power hook, wireguard-go), each reaped
// by its own owner by pid or pidfd; nothing in sekishod may call waitpid(-1) or set SIGCHLD
// to SIG_IGN (or SA_NOCLDWAIT), which would take their exit statuses away.

#include <chrono>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <sys/types.h>

namespace sekisho {

// Who the child runs as, instead of root with every capability: set in the child before
// it executes the program, each step checked (a step that fails is a failed start; the
// program never runs with more than this). The child gets exactly `groups` as its
// supplementary groups, `uid` and `gid` as its real, effective and saved ids, and the
// capabilities `capabilities` (CAP_* numbers) permitted, effective and ambient, so that
// they survive the exec of a program without file capabilities; its bounding set is those
// alone and no_new_privs is set, so that neither it nor what it runs can gain any other
// (set-user-id programs and file capabilities give nothing). The parent-death signal,
// which the kernel clears when credentials change, is set again after the drop.
struct ChildCredentials {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
  std::vector<int> capabilities;
};

struct ChildCommand {
  std::string program;                   // an absolute path, executed as is (no PATH search)
  std::vector<std::string> arguments;    // after argv[0], which is `program`
  std::vector<std::string> environment;  // "NAME=value" each: all the child gets
  // Unset: the child runs as sekishod does (root, every capability).
  std::optional<ChildCredentials> credentials = std::nullopt;
  // A channel to sekishod (daemon/sekishod/supervisor.hpp): a SOCK_SEQPACKET socket as
  // descriptor kChannelFd, named in its environment as SEKISHO_CHANNEL_FD=3.
  bool channel = false;
};

// The child's end of its channel, when ChildCommand::channel.
inline constexpr int kChannelFd = 3;

// A running child: its pid and its pidfd (readable once it has ended), which the caller
// owns and must pass to reap_child(). Until then the pid, and the number of the child's
// process group, cannot be anyone else's.
struct SpawnedChild {
  pid_t pid = -1;
  int pidfd = -1;
};

// How a reaped child ended: `exit_code` when it exited, else the `signal` that killed it.
struct ChildExit {
  int exit_code = -1;
  int signal = 0;
};

// Starts `command`, returning once the child has executed the program or failed to (then
// the child is reaped and the answer is why, for the log: "could not run /usr/lib/x: No
// such file or directory"). Never throws for a command that cannot run.
//
// The child: argv = [program, arguments...], exactly `environment`, stdin /dev/null,
// stdout and stderr sekishod's (the journal), no other descriptor, working directory "/",
// default signal dispositions and an empty signal mask, its own process group (numbered
// by its pid), and SIGKILL when the thread that started it (the io_context's) ends
// (PR_SET_PDEATHSIG; a child whose parent died before that took hold exits at once).
//
// With `credentials`, the child drops to them before exec (ChildCredentials). With
// `channel_fd` (>= 0, when command.channel), the child gets that descriptor as kChannelFd,
// and SEKISHO_CHANNEL_FD=3 after `environment`; the caller keeps and closes its own copy.
std::variant<SpawnedChild, std::string> spawn_child(const ChildCommand& command,
                                                    int channel_fd = -1);

// The pieces of spawn_child() for a caller that executes its program in another way (the
// WAN power hook runs it from a checked descriptor):
//
// fork() with every signal blocked, in the parent around the call and in the child until
// prepare_child() has reset them, as posix_spawn does: until then a signal would run one
// of sekishod's handlers in the child. Returns what fork() did, with errno.
pid_t fork_with_signals_blocked();
// In the child, between fork and exec, async-signal-safe: its own process group, SIGKILL
// when the forking thread of `parent` ends (and _exit(127) at once if `parent` is already
// gone), default signal dispositions and an empty mask, "/" as working directory, and
// `null_fd` (/dev/null, close-on-exec) as stdin. 0, or the errno of the step that failed.
int prepare_child(pid_t parent, int null_fd);

// In the parent, after fork_with_signals_blocked(): the child's group made, its pidfd
// opened, and a wait until the child has executed `program` or failed to, which it tells
// by writing its errno to the close-on-exec pipe read by `error_read` (whose writing end
// the parent has closed). The running child, or why not (the child reaped): "pidfd_open:
// ..." or "could not run PROGRAM: ...".
std::variant<SpawnedChild, std::string> await_exec(pid_t child, int error_read,
                                                   const std::string& program);

// Sends `signal` to the process group of an unreaped child.
void signal_child_group(pid_t pid, int signal);

// Waits at most `limit` for the child of `pidfd` to end, without reaping it: whether it
// has ended.
bool wait_for_child(int pidfd, std::chrono::milliseconds limit);

// SIGKILL to the child's process group (what the child left in it goes too, while its pid
// still numbers the group), then reaps it, waiting for it to end if it has not. Closes
// nothing: `pidfd` stays the caller's.
ChildExit reap_child(pid_t pid, int pidfd);

}  // namespace sekisho
