// Supervisor: a plugin's child process started with nothing of sekishod's but stdout and
// stderr, restarted after its backoff, stopped within its grace, gone with sekishod. Real
// processes (/bin/sleep, /bin/sh scripts writing to a temporary directory), test-sized
// backoffs.

#include "daemon/sekishod/supervisor.hpp"

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon/common/clock.hpp"

using sekisho::ChildCommand;
using sekisho::daemon::RestartBackoff;
using sekisho::daemon::Supervisor;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

const std::vector<std::string> kEnvironment = {"PATH=/usr/bin:/bin", "LANG=C.UTF-8"};

struct TempDir {
  fs::path path;
  TempDir() {
    char name[] = "/tmp/sekisho-supervisor-XXXXXX";
    path = ::mkdtemp(name);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::size_t line_count(const std::string& path) {
  const std::string text = read_text(path);
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

// A record as the Supervisor gave it, with the status at that moment and its time.
struct Recorded {
  std::string kind;
  nlohmann::json details;
  nlohmann::json status;
  Clock::time_point at;
};

// The records of `supervisor` (set after it is made: the callback asks it for its status).
struct Records {
  std::vector<Recorded> all;
  const Supervisor* supervisor = nullptr;

  Supervisor::Record callback() {
    return [this](std::string_view kind, nlohmann::json details) {
      all.push_back({std::string(kind), std::move(details),
                     supervisor ? supervisor->status() : nlohmann::json(), Clock::now()});
    };
  }
  std::vector<Recorded> of(const std::string& kind) const {
    std::vector<Recorded> found;
    for (const Recorded& record : all) {
      if (record.kind == kind) {
        found.push_back(record);
      }
    }
    return found;
  }
};

// Runs the loop (at most `limit`) until `done`.
template <typename Done>
bool run_until(boost::asio::io_context& io, Done done, std::chrono::milliseconds limit = 5s) {
  const auto deadline = Clock::now() + limit;
  while (!done() && Clock::now() < deadline) {
    io.restart();
    if (io.run_one_for(10ms) == 0) {
      std::this_thread::sleep_for(1ms);
    }
  }
  return done();
}

bool process_exists(pid_t pid) {
  return ::kill(pid, 0) == 0;
}

int pidfd_of(pid_t pid) {
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}

// Whether the process of `pidfd` ends within `limit` (it need not be our child).
bool ends_within(int pidfd, std::chrono::milliseconds limit) {
  pollfd ended{pidfd, POLLIN, 0};
  return ::poll(&ended, 1, static_cast<int>(limit.count())) == 1;
}

ChildCommand sleeper(std::vector<std::string> environment = kEnvironment) {
  return ChildCommand{"/bin/sleep", {"30"}, std::move(environment)};
}

// /bin/sh -c SCRIPT with the directory as $1.
ChildCommand script(const std::string& text, const TempDir& dir) {
  return ChildCommand{"/bin/sh", {"-c", text, "sh", dir.path.string()}, kEnvironment};
}

// A field of /proc/PID/status ("SigBlk", "SigIgn").
std::string proc_status_field(pid_t pid, const std::string& name) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(name + ":", 0) == 0) {
      std::string value = line.substr(name.size() + 1);
      value.erase(0, value.find_first_not_of(" \t"));
      return value;
    }
  }
  return "";
}

// The restart delays the Supervisor chose, as status() said when each exit was recorded
// (next_start_in_ms, a moment after the timer was armed).
std::vector<long long> restart_delays(const Records& records) {
  std::vector<long long> delays;
  for (const Recorded& exit : records.of("plugin.child_exit")) {
    delays.push_back(exit.status["next_start_in_ms"].get<long long>());
  }
  return delays;
}

// `got` matches the `expected` delays: each was read less than half of it after it was
// chosen (a delay is twice or half the one before, so no other delay fits the same range).
void check_delays(const std::vector<long long>& got, const std::vector<long long>& expected) {
  REQUIRE(got.size() >= expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    CAPTURE(i);
    CHECK(got[i] <= expected[i]);
    CHECK(got[i] > expected[i] / 2);
  }
}

}  // namespace

TEST_CASE("a started child runs, is recorded and in the status; stop() ends it") {
  boost::asio::io_context io;
  Records records;
  Supervisor supervisor(io, "probe", sleeper(), records.callback());
  records.supervisor = &supervisor;
  CHECK(supervisor.status()["running"] == false);
  CHECK(supervisor.status()["restarts"] == 0);

  const auto before = std::chrono::system_clock::now();
  supervisor.start();
  REQUIRE(supervisor.running());
  const pid_t pid = supervisor.pid();
  CHECK(process_exists(pid));
  CHECK(read_text("/proc/" + std::to_string(pid) + "/comm") == "sleep\n");

  REQUIRE(records.all.size() == 1);
  CHECK(records.all[0].kind == "plugin.child_start");
  CHECK(records.all[0].details ==
        nlohmann::json{{"plugin", "probe"}, {"program", "/bin/sleep"}, {"pid", pid}});

  const nlohmann::json status = supervisor.status();
  CHECK(status["program"] == "/bin/sleep");
  CHECK(status["running"] == true);
  CHECK(status["pid"] == pid);
  CHECK(status["restarts"] == 0);
  CHECK(status["last_exit"].is_null());
  CHECK(status["next_start_in_ms"].is_null());
  const auto since = sekisho::parse_utc_text(status["since"].get<std::string>());
  REQUIRE(since);
  CHECK(*since >= std::chrono::floor<std::chrono::seconds>(before));
  CHECK(*since <= std::chrono::system_clock::now());

  // sleep ends at SIGTERM: long before the grace.
  const auto stopping = Clock::now();
  supervisor.stop(5s);
  CHECK(Clock::now() - stopping < 2s);
  CHECK_FALSE(supervisor.running());
  // Reaped, not a zombie.
  CHECK_FALSE(process_exists(pid));
  REQUIRE(records.all.size() == 2);
  CHECK(records.all[1].kind == "plugin.child_exit");
  const nlohmann::json& exit = records.all[1].details;
  CHECK(exit["plugin"] == "probe");
  CHECK(exit["pid"] == pid);
  CHECK(exit["signal"] == SIGTERM);
  CHECK_FALSE(exit.contains("exit_code"));
  CHECK(exit["ran_seconds"] == 0);
  CHECK(exit["restart_in_seconds"].is_null());
  CHECK(exit["stopped"] == true);

  const nlohmann::json stopped = supervisor.status();
  CHECK(stopped["running"] == false);
  CHECK(stopped["pid"].is_null());
  CHECK(stopped["since"].is_null());
  CHECK(stopped["last_exit"]["signal"] == SIGTERM);
  CHECK(stopped["next_start_in_ms"].is_null());
  // Stopped: nothing starts it again.
  io.restart();
  io.run_for(100ms);
  CHECK_FALSE(supervisor.running());
  CHECK(records.all.size() == 2);
}

TEST_CASE("a crash is restarted after the backoff, which doubles up to the longest") {
  TempDir dir;
  boost::asio::io_context io;
  Records records;
  Supervisor supervisor(io, "probe", script("echo x >> \"$1/starts\"; exit 3", dir),
                        records.callback(), RestartBackoff{100ms, 400ms, 10s});
  records.supervisor = &supervisor;
  supervisor.start();
  REQUIRE(run_until(io, [&] { return records.of("plugin.child_start").size() >= 6; }));

  const auto starts = records.of("plugin.child_start");
  const auto exits = records.of("plugin.child_exit");
  REQUIRE(exits.size() >= 5);
  check_delays(restart_delays(records), {100, 200, 400, 400, 400});
  // Never sooner than the delay.
  const long long delays[] = {100, 200, 400, 400, 400};
  for (std::size_t i = 0; i < 5; ++i) {
    CAPTURE(i);
    CHECK(starts[i + 1].at - exits[i].at >= std::chrono::milliseconds(delays[i]) - 1ms);
    CHECK(exits[i].details["exit_code"] == 3);
    CHECK(exits[i].details["stopped"] == false);
    CHECK(exits[i].details["restart_in_seconds"] == 1);  // 100 to 400 ms, rounded up
    CHECK(exits[i].details["pid"] == starts[i].details["pid"]);
    CHECK(exits[i].status["running"] == false);
    CHECK(exits[i].status["last_exit"]["exit_code"] == 3);
  }
  CHECK(starts[5].status["restarts"] == 5);
  // The five that exited ran the script (the sixth may not have written yet).
  CHECK(line_count(dir.file("starts")) >= 5);
}

TEST_CASE("a program that keeps crashing starts no more often than the backoff allows") {
  TempDir dir;
  boost::asio::io_context io;
  Records records;
  Supervisor supervisor(io, "probe", script("echo x >> \"$1/starts\"; exit 1", dir),
                        records.callback(), RestartBackoff{50ms, 200ms, 10s});
  supervisor.start();
  io.run_for(1000ms);
  supervisor.stop(1s);
  // Starts at 0, 50, 150, 350, 550, 750 and 950 ms at the earliest: seven in a second.
  const std::size_t started = line_count(dir.file("starts"));
  CHECK(started <= 7);
  CHECK(started >= 3);
  CHECK(records.of("plugin.child_start").size() == started);
}

TEST_CASE("a run longer than `healthy` brings the delay back to the first") {
  TempDir dir;
  boost::asio::io_context io;
  Records records;
  // The third run lasts 400 ms, longer than the 300 ms that count as healthy.
  Supervisor supervisor(io, "probe",
                        script("echo x >> \"$1/starts\"; n=$(wc -l < \"$1/starts\");"
                               " [ \"$n\" -eq 3 ] && sleep 0.4; exit 1",
                               dir),
                        records.callback(), RestartBackoff{100ms, 800ms, 300ms});
  records.supervisor = &supervisor;
  supervisor.start();
  REQUIRE(run_until(io, [&] { return records.of("plugin.child_exit").size() >= 4; }));
  supervisor.stop(1s);
  check_delays(restart_delays(records), {100, 200, 100, 200});
}

TEST_CASE("stop() while a restart waits: nothing is started again") {
  TempDir dir;
  boost::asio::io_context io;
  Records records;
  Supervisor supervisor(io, "probe", script("exit 2", dir), records.callback(),
                        RestartBackoff{100ms, 400ms, 10s});
  records.supervisor = &supervisor;
  supervisor.start();
  REQUIRE(run_until(io, [&] { return !records.of("plugin.child_exit").empty(); }));
  CHECK(supervisor.status()["next_start_in_ms"].is_number());
  supervisor.stop(1s);
  CHECK(supervisor.status()["next_start_in_ms"].is_null());
  io.restart();
  io.run_for(300ms);
  CHECK(records.of("plugin.child_start").size() == 1);
  CHECK_FALSE(supervisor.running());
}

TEST_CASE("stop() kills a child that ignores SIGTERM after the grace, and its process group") {
  TempDir dir;
  boost::asio::io_context io;
  Records records;
  Supervisor supervisor(io, "probe",
                        script("trap '' TERM; sleep 30 & echo $! > \"$1/grandchild\";"
                               " echo ready > \"$1/ready\"; wait",
                               dir),
                        records.callback());
  supervisor.start();
  REQUIRE(run_until(io, [&] { return read_text(dir.file("ready")) == "ready\n"; }));
  const pid_t pid = supervisor.pid();
  const pid_t grandchild = std::stoi(read_text(dir.file("grandchild")));
  const int grandchild_fd = pidfd_of(grandchild);
  REQUIRE(grandchild_fd >= 0);
  CHECK(::getpgid(pid) == pid);
  CHECK(::getpgid(grandchild) == pid);

  const auto stopping = Clock::now();
  supervisor.stop(300ms);
  const auto took = Clock::now() - stopping;
  CHECK(took >= 300ms);
  CHECK(took < 3s);
  CHECK_FALSE(supervisor.running());
  CHECK_FALSE(process_exists(pid));
  CHECK(ends_within(grandchild_fd, 3s));
  ::close(grandchild_fd);
  const auto exits = records.of("plugin.child_exit");
  REQUIRE(exits.size() == 1);
  CHECK(exits[0].details["signal"] == SIGKILL);
  CHECK(exits[0].details["stopped"] == true);
}

TEST_CASE("the child gets stdin, stdout and stderr only, stdin being /dev/null") {
  // Descriptors sekishod might hold without close-on-exec.
  const int stray = ::open("/dev/null", O_RDONLY);
  int stray_pipe[2];
  REQUIRE(::pipe(stray_pipe) == 0);
  REQUIRE(stray >= 0);
  // And a stdin of its own, which the child must not get either.
  const int own_stdin = ::dup(STDIN_FILENO);
  REQUIRE(::dup2(stray_pipe[0], STDIN_FILENO) == STDIN_FILENO);

  boost::asio::io_context io;
  Supervisor supervisor(io, "probe", sleeper(), nullptr);
  supervisor.start();
  ::dup2(own_stdin, STDIN_FILENO);
  ::close(own_stdin);
  REQUIRE(supervisor.running());
  const std::string fd_dir = "/proc/" + std::to_string(supervisor.pid()) + "/fd";
  auto open_descriptors = [&fd_dir] {
    std::set<std::string> open;
    for (const auto& entry : fs::directory_iterator(fd_dir)) {
      open.insert(entry.path().filename().string());
    }
    return open;
  };
  // sleep's loader opens and closes a library or two as it starts: what stays open counts.
  const std::set<std::string> only_stdio{"0", "1", "2"};
  const auto deadline = Clock::now() + 3s;
  std::set<std::string> open = open_descriptors();
  while (open != only_stdio && Clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
    open = open_descriptors();
  }
  CHECK(open == only_stdio);
  CHECK(fs::read_symlink(fd_dir + "/0") == "/dev/null");
  supervisor.stop(1s);
  ::close(stray);
  ::close(stray_pipe[0]);
  ::close(stray_pipe[1]);
}

TEST_CASE("the child's environment, signals, group and directory are its own") {
  ::setenv("SEKISHO_SUPERVISOR_TEST_SECRET", "must-not-leak", 1);
  // sekishod's mask and ignored signals must not reach the child.
  sigset_t usr1;
  sigset_t old_mask;
  ::sigemptyset(&usr1);
  ::sigaddset(&usr1, SIGUSR1);
  ::pthread_sigmask(SIG_BLOCK, &usr1, &old_mask);
  auto* old_usr2 = ::signal(SIGUSR2, SIG_IGN);

  boost::asio::io_context io;
  Supervisor supervisor(io, "probe", sleeper({"A=1", "B=two words", "EMPTY="}), nullptr);
  supervisor.start();
  ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  ::signal(SIGUSR2, old_usr2);
  ::unsetenv("SEKISHO_SUPERVISOR_TEST_SECRET");
  REQUIRE(supervisor.running());
  const pid_t pid = supervisor.pid();
  const std::string proc = "/proc/" + std::to_string(pid);

  CHECK(read_text(proc + "/environ") == std::string("A=1\0B=two words\0EMPTY=\0", 23));
  CHECK(read_text(proc + "/cmdline") == std::string("/bin/sleep\0"
                                                    "30\0",
                                                    14));
  CHECK(proc_status_field(pid, "SigBlk") == "0000000000000000");
  CHECK(proc_status_field(pid, "SigIgn") == "0000000000000000");
  CHECK(::getpgid(pid) == pid);
  CHECK(fs::read_symlink(proc + "/cwd") == "/");
  supervisor.stop(1s);
}

TEST_CASE("the child dies with the process that supervises it") {
  ChildCommand command = sleeper();
  SUBCASE("as root") {}
  // Changing its credentials clears the child's parent-death signal: it must be set again.
  SUBCASE("as another user") {
    command.credentials = sekisho::ChildCredentials{4105, 4105, {}, {}};
  }
  int report[2];
  REQUIRE(::pipe(report) == 0);
  const pid_t supervising = ::fork();
  REQUIRE(supervising >= 0);
  if (supervising == 0) {
    // A small sekishod: the Supervisor on its loop, the child's pid told to the test.
    ::close(report[0]);
    try {
      boost::asio::io_context io;
      Supervisor supervisor(io, "probe", command, nullptr);
      supervisor.start();
      const pid_t child = supervisor.pid();
      if (::write(report[1], &child, sizeof child) != sizeof child) {
        ::_exit(1);
      }
      io.run_for(30s);
    } catch (...) {
    }
    ::_exit(1);
  }
  ::close(report[1]);
  pid_t child = -1;
  const bool told = ::read(report[0], &child, sizeof child) == sizeof child;
  ::close(report[0]);
  const int child_fd = told ? pidfd_of(child) : -1;
  ::kill(supervising, SIGKILL);
  ::waitpid(supervising, nullptr, 0);
  REQUIRE(told);
  REQUIRE(child_fd >= 0);
  const bool ended = ends_within(child_fd, 3s);
  CHECK(ended);
  if (!ended) {
    ::kill(child, SIGKILL);
  }
  ::close(child_fd);
}

TEST_CASE("the destructor ends the child and records nothing") {
  Records records;
  pid_t pid = -1;
  {
    boost::asio::io_context io;
    Supervisor supervisor(io, "probe", sleeper(), records.callback());
    supervisor.start();
    pid = supervisor.pid();
    REQUIRE(process_exists(pid));
  }
  CHECK_FALSE(process_exists(pid));
  CHECK(records.all.size() == 1);  // the start
}

TEST_CASE("a program that cannot be started is tried again with the backoff") {
  TempDir dir;
  std::ofstream(dir.file("not-executable")) << "#!/bin/sh\n";
  fs::permissions(dir.file("not-executable"), fs::perms::owner_read | fs::perms::owner_write);
  struct Case {
    std::string program;
    std::string error;
  };
  // Mode 0600: refused even to root, which needs one x bit.
  const Case cases[] = {
      {"/nonexistent/sekisho-plugin", "could not run /nonexistent/sekisho-plugin: No such file"},
      {dir.file("not-executable"),
       "could not run " + dir.file("not-executable") + ": Permission denied"},
      {"bin/sleep", "the program \"bin/sleep\" is not an absolute path"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.program);
    boost::asio::io_context io;
    Records records;
    Supervisor supervisor(io, "probe", ChildCommand{c.program, {}, kEnvironment},
                          records.callback(), RestartBackoff{50ms, 100ms, 10s});
    CHECK_NOTHROW(supervisor.start());
    CHECK_FALSE(supervisor.running());
    nlohmann::json status = supervisor.status();
    CHECK(status["last_exit"]["error"].get<std::string>().rfind(c.error, 0) == 0);
    CHECK(status["next_start_in_ms"] <= 50);
    CHECK(status["next_start_in_ms"] > 20);
    CHECK_NOTHROW(io.run_for(400ms));
    status = supervisor.status();
    // Tries at 0, 50, 150, 250 and 350 ms at the earliest.
    CHECK(status["restarts"] >= 2);
    CHECK(status["restarts"] <= 4);
    CHECK(status["running"] == false);
    CHECK(records.all.empty());
  }
}

namespace {

// The process has the capabilities of `mask` (as /proc shows them) in every set, its
// bounding set included, and no_new_privs.
void check_capabilities_only(pid_t pid, const std::string& mask) {
  for (const char* set : {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"}) {
    CAPTURE(set);
    CHECK(proc_status_field(pid, set) == mask);
  }
  CHECK(proc_status_field(pid, "NoNewPrivs") == "1");
}

}  // namespace

TEST_CASE("a child with credentials has their ids and groups, the kept capabilities only") {
  ChildCommand command = sleeper();
  command.credentials =
      sekisho::ChildCredentials{4105, 4100, {4106, 4107}, {CAP_NET_ADMIN, CAP_NET_BIND_SERVICE}};
  boost::asio::io_context io;
  Supervisor supervisor(io, "probe", command, nullptr);
  supervisor.start();
  REQUIRE(supervisor.running());
  const pid_t pid = supervisor.pid();
  CHECK(proc_status_field(pid, "Uid") == "4105\t4105\t4105\t4105");
  CHECK(proc_status_field(pid, "Gid") == "4100\t4100\t4100\t4100");
  CHECK(proc_status_field(pid, "Groups").rfind("4106 4107", 0) == 0);
  // CAP_NET_ADMIN (12) and CAP_NET_BIND_SERVICE (10), nothing else anywhere.
  check_capabilities_only(pid, "0000000000001400");
  supervisor.stop(1s);
}

TEST_CASE("a child with credentials and no capabilities has none, and no groups") {
  ChildCommand command = sleeper();
  command.credentials = sekisho::ChildCredentials{65534, 65534, {}, {}};
  boost::asio::io_context io;
  Supervisor supervisor(io, "probe", command, nullptr);
  supervisor.start();
  REQUIRE(supervisor.running());
  const pid_t pid = supervisor.pid();
  CHECK(proc_status_field(pid, "Uid") == "65534\t65534\t65534\t65534");
  CHECK(proc_status_field(pid, "Groups").empty());
  check_capabilities_only(pid, "0000000000000000");
  supervisor.stop(1s);
}

TEST_CASE("credentials the kernel cannot give are a failed start: the program never runs") {
  TempDir dir;
  ChildCommand command = script("touch \"$1/ran\"", dir);
  command.credentials = sekisho::ChildCredentials{4105, 4105, {}, {}};

  SUBCASE("a capability this kernel does not have") {
    command.credentials->capabilities = {63};
    const auto spawned = sekisho::spawn_child(command);
    REQUIRE(std::holds_alternative<std::string>(spawned));
    CHECK(std::get<std::string>(spawned) ==
          "the capability 63 of /bin/sh is not one this kernel has");
  }
  SUBCASE("a supervisor that may not change the user id") {
    // In a process of its own that has lost CAP_SETUID: the child's setresuid fails after
    // its groups and gid are set, and the program must not run.
    const pid_t tester = ::fork();
    REQUIRE(tester >= 0);
    if (tester == 0) {
      __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
      __user_cap_data_struct data[2]{};
      ::syscall(SYS_capget, &header, data);
      data[0].effective &= ~(1U << CAP_SETUID);
      data[0].permitted &= ~(1U << CAP_SETUID);
      if (::syscall(SYS_capset, &header, data) != 0) {
        ::_exit(3);
      }
      const auto spawned = sekisho::spawn_child(command);
      const auto* why = std::get_if<std::string>(&spawned);
      ::_exit(why && *why == "could not run /bin/sh: Operation not permitted" ? 0 : 1);
    }
    int status = 0;
    REQUIRE(::waitpid(tester, &status, 0) == tester);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
  // Without credentials, the same command runs: what stopped it was the drop.
  CHECK_FALSE(fs::exists(dir.file("ran")));
  command.credentials.reset();
  boost::asio::io_context io;
  Supervisor supervisor(io, "probe", command, nullptr);
  supervisor.start();
  CHECK(run_until(io, [&] { return fs::exists(dir.file("ran")); }));
  supervisor.stop(1s);
}

namespace {

// python3 -c PROGRAM, with `channel` as its socket on descriptor SEKISHO_CHANNEL_FD.
ChildCommand channel_child(const std::string& program) {
  ChildCommand command{"/usr/bin/python3",
                       {"-c",
                        "import os, socket, sys, time\n"
                        "channel = socket.socket(fileno=int(os.environ['SEKISHO_CHANNEL_FD']))\n" +
                            program},
                       kEnvironment};
  command.channel = true;
  return command;
}

const RestartBackoff kQuickRestart{50ms, 50ms, 60s};

}  // namespace

TEST_CASE("a child's channel carries messages both ways and is made again at each start") {
  boost::asio::io_context io;
  Supervisor supervisor(io, "probe",
                        channel_child("channel.send(b'hello %d' % os.getpid())\n"
                                      "while True:\n"
                                      "    m = channel.recv(70000)\n"
                                      "    if not m: break\n"
                                      "    channel.send(b'echo:' + m)\n"),
                        nullptr, kQuickRestart);
  std::vector<std::string> got;
  supervisor.on_message([&](std::string_view message) { got.emplace_back(message); });
  CHECK_FALSE(supervisor.send("before any start"));
  supervisor.start();
  REQUIRE(supervisor.running());
  const pid_t first = supervisor.pid();
  const std::string proc = "/proc/" + std::to_string(first);
  CHECK(read_text(proc + "/environ") ==
        std::string("PATH=/usr/bin:/bin\0LANG=C.UTF-8\0SEKISHO_CHANNEL_FD=3\0", 53));
  CHECK(fs::read_symlink(proc + "/fd/3").string().rfind("socket:", 0) == 0);

  REQUIRE(run_until(io, [&] { return got.size() == 1; }));
  // Started, python holds nothing else (its loader's descriptors are closed by now).
  CHECK_FALSE(fs::exists(proc + "/fd/4"));
  CHECK(got[0] == "hello " + std::to_string(first));
  CHECK(supervisor.send("ping"));
  REQUIRE(run_until(io, [&] { return got.size() == 2; }));
  CHECK(got[1] == "echo:ping");
  // Empty and too large are refused, not sent.
  CHECK_FALSE(supervisor.send(""));
  CHECK_FALSE(supervisor.send(std::string(sekisho::daemon::kMaxChannelMessage + 1, 'x')));
  CHECK(supervisor.send(std::string(100, 'y')));
  REQUIRE(run_until(io, [&] { return got.size() == 3; }));
  CHECK(got[2] == "echo:" + std::string(100, 'y'));

  // Killed: the new child has a new channel; nothing reaches the dead one's.
  ::kill(first, SIGKILL);
  REQUIRE(run_until(io, [&] { return !supervisor.running(); }));
  CHECK_FALSE(supervisor.send("to nobody"));
  REQUIRE(run_until(io, [&] { return got.size() == 4; }));
  const pid_t second = supervisor.pid();
  CHECK(second != first);
  CHECK(got[3] == "hello " + std::to_string(second));
  CHECK(supervisor.send("again"));
  REQUIRE(run_until(io, [&] { return got.size() == 5; }));
  CHECK(got[4] == "echo:again");

  const nlohmann::json channel = supervisor.status()["channel"];
  CHECK(channel["open"] == true);
  CHECK(channel["received"] == 5);
  CHECK(channel["sent"] == 3);
  CHECK(channel["refused_sends"] == 4);
  CHECK(channel["protocol_errors"] == 0);
  supervisor.stop(1s);
  CHECK(supervisor.status()["channel"]["open"] == false);
}

TEST_CASE("a message over 64 KiB or with descriptors: the child is killed and started again") {
  std::string bad;
  SUBCASE("too large") {
    bad = "channel.send(b'z' * 65537)\n";
  }
  SUBCASE("with a descriptor") {
    bad = "socket.send_fds(channel, [b'fd'], [0])\n";
  }
  boost::asio::io_context io;
  Records records;
  Supervisor supervisor(io, "probe",
                        channel_child("channel.send(b'y' * 65536)\n" + bad +
                                      "channel.send(b'after')\ntime.sleep(30)\n"),
                        records.callback(), kQuickRestart);
  std::vector<std::size_t> sizes;
  supervisor.on_message([&](std::string_view message) { sizes.push_back(message.size()); });
  supervisor.start();
  REQUIRE(run_until(io, [&] { return !records.of("plugin.child_exit").empty(); }));
  CHECK(records.of("plugin.child_exit")[0].details["signal"] == SIGKILL);
  // The message of exactly the largest size was taken; the bad one was not, nor what came
  // after it.
  REQUIRE(!sizes.empty());
  CHECK(sizes[0] == 65536);
  CHECK(sizes.size() == 1);
  CHECK(supervisor.status()["channel"]["protocol_errors"] == 1);
  REQUIRE(run_until(io, [&] { return records.of("plugin.child_start").size() == 2; }));
  supervisor.stop(1s);
}

TEST_CASE("a child that floods its channel is held to the budget, and nothing is lost") {
  boost::asio::io_context io;
  Supervisor supervisor(io, "probe",
                        channel_child("for i in range(200):\n"
                                      "    channel.send(b'%d' % i)\n"
                                      "time.sleep(30)\n"),
                        nullptr);
  std::vector<std::string> got;
  supervisor.on_message([&](std::string_view message) { got.emplace_back(message); },
                        sekisho::daemon::ChannelBudget{10, 100ms});
  supervisor.start();
  REQUIRE(run_until(io, [&] { return !got.empty(); }));
  // From the first message on, at most 10 in each window of 100 ms.
  const auto first = Clock::now();
  run_until(
      io, [&] { return Clock::now() - first >= 250ms; }, 1s);
  CHECK(got.size() <= 30);
  REQUIRE(run_until(
      io, [&] { return got.size() == 200; }, 5s));
  for (std::size_t i = 0; i < got.size(); ++i) {
    CAPTURE(i);
    CHECK(got[i] == std::to_string(i));
  }
  CHECK(supervisor.status()["channel"]["budget_waits"] >= 15);
  supervisor.stop(1s);
}

TEST_CASE("send() to a child that does not read: false once the socket is full, never blocking") {
  boost::asio::io_context io;
  Supervisor supervisor(io, "probe", channel_child("time.sleep(30)\n"), nullptr);
  supervisor.on_message([](std::string_view) {});
  supervisor.start();
  REQUIRE(supervisor.running());
  const std::string large(sekisho::daemon::kMaxChannelMessage, 'x');
  const auto sending = Clock::now();
  int sent = 0;
  while (sent < 1000 && supervisor.send(large)) {
    ++sent;
  }
  CHECK(Clock::now() - sending < 1s);
  // The socket's buffer holds a few; then it is full, not the loop stuck.
  CHECK(sent >= 1);
  CHECK(sent < 1000);
  CHECK(supervisor.status()["channel"]["refused_sends"] == 1);
  supervisor.stop(1s);
}
