// The WAN power hook (daemon/wan/power_hook): the trust check against files made for it in
// a temporary directory, and real hooks run on an io_context: argv, environment,
// descriptors, exit status, the timeout killing the hook's whole process group, the
// queue of runs, and a PowerHook destroyed while its hook runs.
//
// Hooks must be owned by root, so most cases need root (as the CI runs them); without
// root they say so (MESSAGE) and stop. The lexical refusals run as anyone.
#include "daemon/wan/power_hook.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace sekisho::wan;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// A temporary root-owned tree: ROOT (0700, from mkdtemp) and ROOT/hooks (0755), the
// hooks directory of the tests. /tmp above it is root's.
struct Sandbox {
  fs::path root;
  fs::path hooks;
  Sandbox() {
    char name[] = "/tmp/sekisho-wan-XXXXXX";
    REQUIRE(::mkdtemp(name) != nullptr);
    root = name;
    hooks = root / "hooks";
    REQUIRE(::mkdir(hooks.c_str(), 0755) == 0);
    REQUIRE(::chmod(hooks.c_str(), 0755) == 0);  // whatever the umask
  }
  ~Sandbox() {
    std::error_code ignored;
    fs::remove_all(root, ignored);
  }
  std::string dir() const { return hooks.string(); }
  // A file in the hooks directory (or below it) with exactly `mode`.
  std::string file(const std::string& name, const std::string& text, mode_t mode = 0755) const {
    const fs::path path = hooks / name;
    {
      std::ofstream out(path, std::ios::trunc);
      out << text;
      REQUIRE(out.good());
    }
    REQUIRE(::chmod(path.c_str(), mode) == 0);
    return path.string();
  }
  // A shell script hook; OUT in `body` stands for ROOT, where hooks write what they saw.
  std::string script(const std::string& name, std::string body, mode_t mode = 0755) const {
    for (std::size_t at = body.find("OUT"); at != std::string::npos; at = body.find("OUT", at)) {
      body.replace(at, 3, root.string());
    }
    return file(name, "#!/bin/sh\n" + body, mode);
  }
  std::string read(const std::string& name) const {
    std::ifstream in(root / name);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  bool exists(const std::string& name) const { return fs::exists(root / name); }
};

bool as_root() {
  return ::geteuid() == 0;
}

#define REQUIRE_ROOT()                                                                   \
  if (!as_root()) {                                                                      \
    MESSAGE("skipped: hooks must be owned by root, and this test does not run as root"); \
    return;                                                                              \
  }

// One run on its own io_context, which runs until it has nothing left to do (the run's
// watch, its timer and its completion). `done` must be called once, and not inside run().
HookResult run_once(const std::string& path, const std::string& hooks_dir,
                    const std::string& argument, std::chrono::milliseconds timeout = 20s) {
  boost::asio::io_context io;
  PowerHook hook(io);
  int calls = 0;
  HookResult got;
  hook.run(path, hooks_dir, argument, timeout, [&](HookResult result) {
    ++calls;
    got = std::move(result);
  });
  CHECK(calls == 0);
  io.run_for(30s);
  CHECK(calls == 1);
  CHECK_FALSE(hook.running());
  return got;
}

std::vector<std::string> lines_of(const std::string& text, const std::string& prefix = "") {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(prefix, 0) == 0) {
      lines.push_back(line.substr(prefix.size()));
    }
  }
  return lines;
}

// Waits (at most `limit`) for a process orphaned into this one (a child subreaper) to end,
// and returns its wait status, or -1 if it did not end.
int wait_orphan(pid_t pid, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      return status;
    }
    std::this_thread::sleep_for(10ms);
  }
  return -1;
}

const std::vector<std::string> kMinimalEnvironment = {"LANG=C.UTF-8",
                                                      "PATH=/usr/sbin:/usr/bin:/sbin:/bin"};

}  // namespace

TEST_CASE("describe() and ok() say what happened") {
  HookResult result;
  result.argument = "off";
  result.exit_status = 0;
  result.took = 120ms;
  CHECK(result.ok());
  CHECK(result.describe() == "exited 0 after 120 ms");

  result.exit_status = 3;
  result.took = 2500ms;
  CHECK_FALSE(result.ok());
  CHECK(result.describe() == "exited 3 after 2.5 s");

  HookResult killed;
  killed.signal = SIGSEGV;
  killed.took = 40ms;
  CHECK_FALSE(killed.ok());
  CHECK(killed.describe() == "killed by SIGSEGV after 40 ms");

  HookResult late;
  late.signal = SIGKILL;
  late.timed_out = true;
  late.timeout = 30s;
  late.took = 30004ms;
  CHECK_FALSE(late.ok());
  CHECK(late.describe() == "killed after the 30 s timeout");

  HookResult refused;
  refused.exit_status = 0;  // never run: the error decides
  refused.error = "refused: /etc/sekisho/hooks/modem is not executable (mode 0644)";
  CHECK_FALSE(refused.ok());
  CHECK(refused.describe() ==
        "not run: refused: /etc/sekisho/hooks/modem is not executable (mode 0644)");
}

TEST_CASE("paths that are not plainly inside the hooks directory are refused as written") {
  // Decided from the names alone: no file is looked at (so this runs as anyone).
  const std::string dir = "/etc/sekisho/hooks";
  CHECK(untrusted_hook("hooks/modem", dir) == "\"hooks/modem\" is not an absolute path");
  CHECK(untrusted_hook("", dir) == "\"\" is not an absolute path");
  CHECK(untrusted_hook("/etc/sekisho/hooks/modem", "etc/sekisho/hooks") ==
        "hooks directory: \"etc/sekisho/hooks\" is not an absolute path");
  // Outside, also when the name only starts like the directory, and the directory itself.
  CHECK(untrusted_hook("/etc/sekisho/modem", dir) == "/etc/sekisho/modem is not inside " + dir);
  CHECK(untrusted_hook("/etc/sekisho/hooks-old/modem", dir) ==
        "/etc/sekisho/hooks-old/modem is not inside " + dir);
  CHECK(untrusted_hook(dir, dir) == dir + " is not inside " + dir);
  CHECK(untrusted_hook(dir + "/", dir) == dir + "/ is not inside " + dir);
  // ".." (and ".") are refused, not resolved: inside on paper, outside in fact.
  CHECK(untrusted_hook(dir + "/../modem", dir) == dir + "/../modem contains \"..\"");
  CHECK(untrusted_hook(dir + "/./modem", dir) == dir + "/./modem contains \".\"");
  CHECK(untrusted_hook("/etc/sekisho/hooks/modem", "/etc/sekisho/../sekisho/hooks") ==
        "hooks directory: /etc/sekisho/../sekisho/hooks contains \"..\"");
  CHECK(untrusted_hook(std::string("/etc/sekisho/hooks/mo\0dem", 25), dir) ==
        "the path \"/etc/sekisho/hooks/mo\" contains a NUL byte");
}

TEST_CASE("a trusted file outside the hooks directory is refused") {
  REQUIRE_ROOT();
  Sandbox box;
  // Files that would pass everything else: the refusal is where they are.
  for (const char* name : {"other", "hooks-old"}) {
    REQUIRE(::mkdir((box.root / name).c_str(), 0755) == 0);
  }
  const std::string other = box.script("../other/modem", "exit 0\n");
  const std::string old = box.script("../hooks-old/modem", "exit 0\n");
  const std::string other_plain = (box.root / "other" / "modem").string();
  REQUIRE(untrusted_hook(other_plain, (box.root / "other").string()) == std::nullopt);
  CHECK(untrusted_hook(other_plain, box.dir()) == other_plain + " is not inside " + box.dir());
  const std::string old_plain = box.dir() + "-old/modem";
  CHECK(untrusted_hook(old_plain, box.dir()) == old_plain + " is not inside " + box.dir());
  CHECK(untrusted_hook(other, box.dir()) == other + " contains \"..\"");
  CHECK(untrusted_hook(old, box.dir()) == old + " contains \"..\"");
  // And a run of one is refused before anything is started.
  CHECK(run_once(other, box.dir(), "off").error == "refused: " + other + " contains \"..\"");
}

TEST_CASE("a root-owned executable in a root-only directory is trusted") {
  REQUIRE_ROOT();
  Sandbox box;
  const std::string hook = box.script("modem", "exit 0\n", 0755);
  CHECK(untrusted_hook(hook, box.dir()) == std::nullopt);
  // Doubled and trailing slashes are only spelling.
  CHECK(untrusted_hook(box.root.string() + "//hooks/modem", box.dir() + "/") == std::nullopt);
  // Read and execute for the owner only, and a subdirectory.
  REQUIRE(::mkdir((box.hooks / "sub").c_str(), 0700) == 0);
  const std::string deep = box.script("sub/modem", "exit 0\n", 0500);
  CHECK(untrusted_hook(deep, box.dir()) == std::nullopt);
}

TEST_CASE("a hook file that others could change is refused") {
  REQUIRE_ROOT();
  Sandbox box;
  const std::string dir = box.dir();

  SUBCASE("writable by its group") {
    const std::string hook = box.script("modem", "exit 0\n", 0775);
    CHECK(untrusted_hook(hook, dir) == hook + " is writable by its group (mode 0775)");
  }
  SUBCASE("writable by others") {
    const std::string hook = box.script("modem", "exit 0\n", 0757);
    CHECK(untrusted_hook(hook, dir) == hook + " is writable by others (mode 0757)");
  }
  SUBCASE("writable by both") {
    const std::string hook = box.script("modem", "exit 0\n", 0777);
    CHECK(untrusted_hook(hook, dir) ==
          hook + " is writable by its group and by others (mode 0777)");
  }
  SUBCASE("owned by nobody") {
    const std::string hook = box.script("modem", "exit 0\n", 0755);
    REQUIRE(::chown(hook.c_str(), 65534, 65534) == 0);
    CHECK(untrusted_hook(hook, dir) == hook + " is owned by uid 65534, not root");
  }
  SUBCASE("owned by root but another group, without group write: trusted") {
    const std::string hook = box.script("modem", "exit 0\n", 0755);
    REQUIRE(::chown(hook.c_str(), 0, 65534) == 0);
    CHECK(untrusted_hook(hook, dir) == std::nullopt);
  }
  SUBCASE("not executable") {
    const std::string hook = box.script("modem", "exit 0\n", 0644);
    CHECK(untrusted_hook(hook, dir) == hook + " is not executable (mode 0644)");
  }
  SUBCASE("executable by group and others only") {
    const std::string hook = box.script("modem", "exit 0\n", 0655);
    CHECK(untrusted_hook(hook, dir) == hook + " is not executable (mode 0655)");
  }
  SUBCASE("a symbolic link, even to a trusted hook") {
    const std::string target = box.script("modem", "exit 0\n", 0755);
    REQUIRE(untrusted_hook(target, dir) == std::nullopt);
    const fs::path link = box.hooks / "link";
    fs::create_symlink(target, link);
    CHECK(untrusted_hook(link.string(), dir) == link.string() + " is a symbolic link");
  }
  SUBCASE("a directory") {
    REQUIRE(::mkdir((box.hooks / "modem").c_str(), 0755) == 0);
    CHECK(untrusted_hook(dir + "/modem", dir) == dir + "/modem is not a regular file");
  }
  SUBCASE("a FIFO") {
    REQUIRE(::mkfifo((box.hooks / "modem").c_str(), 0700) == 0);
    CHECK(untrusted_hook(dir + "/modem", dir) == dir + "/modem is not a regular file");
  }
  SUBCASE("missing") {
    CHECK(untrusted_hook(dir + "/modem", dir) == dir + "/modem does not exist");
    CHECK(untrusted_hook(dir + "/sub/modem", dir) == dir + "/sub does not exist");
  }
  SUBCASE("below a file") {
    const std::string hook = box.script("modem", "exit 0\n", 0755);
    CHECK(untrusted_hook(hook + "/x", dir) == hook + " is not a directory");
  }
}

TEST_CASE("a directory on the way that others could change is refused") {
  REQUIRE_ROOT();
  Sandbox box;
  const std::string dir = box.dir();
  const std::string hook = box.script("modem", "exit 0\n", 0755);
  REQUIRE(untrusted_hook(hook, dir) == std::nullopt);

  SUBCASE("the hooks directory writable by others") {
    REQUIRE(::chmod(dir.c_str(), 0757) == 0);
    CHECK(untrusted_hook(hook, dir) == dir + " is writable by others (mode 0757)");
  }
  SUBCASE("the hooks directory world-writable and sticky: still refused") {
    REQUIRE(::chmod(dir.c_str(), 01777) == 0);
    CHECK(untrusted_hook(hook, dir) == dir + " is writable by its group and by others (mode 1777)");
  }
  SUBCASE("the hooks directory writable by its group") {
    REQUIRE(::chmod(dir.c_str(), 0775) == 0);
    CHECK(untrusted_hook(hook, dir) == dir + " is writable by its group (mode 0775)");
  }
  SUBCASE("the hooks directory owned by nobody") {
    REQUIRE(::chown(dir.c_str(), 65534, 65534) == 0);
    CHECK(untrusted_hook(hook, dir) == dir + " is owned by uid 65534, not root");
  }
  SUBCASE("a world-writable directory below the hooks directory") {
    REQUIRE(::mkdir((box.hooks / "sub").c_str(), 0755) == 0);
    const std::string deep = box.script("sub/modem", "exit 0\n", 0755);
    REQUIRE(untrusted_hook(deep, dir) == std::nullopt);
    REQUIRE(::chmod((box.hooks / "sub").c_str(), 0777) == 0);
    CHECK(untrusted_hook(deep, dir) ==
          dir + "/sub is writable by its group and by others (mode 0777)");
  }
  SUBCASE("a directory above the hooks directory writable by others") {
    REQUIRE(::chmod(box.root.c_str(), 0777) == 0);
    CHECK(untrusted_hook(hook, dir) ==
          box.root.string() + " is writable by its group and by others (mode 0777)");
  }
  SUBCASE("a sticky directory above the hooks directory (like /tmp): accepted") {
    // Only root may rename or remove root's entries in it, so the path still cannot change.
    REQUIRE(::chmod(box.root.c_str(), 01777) == 0);
    CHECK(untrusted_hook(hook, dir) == std::nullopt);
  }
  SUBCASE("a directory above the hooks directory owned by nobody") {
    REQUIRE(::chown(box.root.c_str(), 65534, 65534) == 0);
    CHECK(untrusted_hook(hook, dir) == box.root.string() + " is owned by uid 65534, not root");
  }
  SUBCASE("the hooks directory reached through a symbolic link") {
    const fs::path link = box.root / "hooks-link";
    fs::create_directory_symlink(box.hooks, link);
    CHECK(untrusted_hook(link.string() + "/modem", link.string()) ==
          link.string() + " is a symbolic link");
  }
}

TEST_CASE("a trusted binary hook gets argv [path, off], two variables and stdin, stdout, stderr") {
  REQUIRE_ROOT();
  Sandbox box;
  const std::string hook = (box.hooks / "probe").string();
  fs::copy_file(SEKISHO_WAN_HOOK_PROBE, hook);
  REQUIRE(::chmod(hook.c_str(), 0755) == 0);
  REQUIRE(untrusted_hook(hook, box.dir()) == std::nullopt);

  // What sekishod has and the hook must not: a variable, an inheritable descriptor, an
  // ignored signal, a blocked one.
  REQUIRE(::setenv("SEKISHO_TEST_SECRET", "hunter2", 1) == 0);
  const int leaked = ::open("/dev/null", O_RDONLY);  // no O_CLOEXEC on purpose
  REQUIRE(leaked > 2);
  struct sigaction ignore {};
  struct sigaction old_pipe {};
  ignore.sa_handler = SIG_IGN;
  REQUIRE(::sigaction(SIGPIPE, &ignore, &old_pipe) == 0);
  sigset_t usr1;
  sigset_t old_mask;
  ::sigemptyset(&usr1);
  ::sigaddset(&usr1, SIGUSR1);
  REQUIRE(::sigprocmask(SIG_BLOCK, &usr1, &old_mask) == 0);

  const HookResult result = run_once(hook, box.dir(), "off");

  ::sigprocmask(SIG_SETMASK, &old_mask, nullptr);
  ::sigaction(SIGPIPE, &old_pipe, nullptr);
  ::close(leaked);
  ::unsetenv("SEKISHO_TEST_SECRET");

  CHECK(result.error == "");
  CHECK(result.argument == "off");
  CHECK(result.exit_status == 0);
  CHECK(result.ok());
  CHECK(result.describe().rfind("exited 0 after ", 0) == 0);
  const std::string seen = box.read("hooks/probe.out");
  REQUIRE_FALSE(seen.empty());
  CHECK(lines_of(seen, "argv ") == std::vector<std::string>{hook, "off"});
  std::vector<std::string> environment = lines_of(seen, "env ");
  std::sort(environment.begin(), environment.end());
  CHECK(environment == kMinimalEnvironment);
  CHECK(lines_of(seen, "fd ") == std::vector<std::string>{"0", "1", "2"});
  CHECK(lines_of(seen, "cwd ") == std::vector<std::string>{"/"});
  CHECK(lines_of(seen, "own_group ") == std::vector<std::string>{"1"});
  CHECK(lines_of(seen, "stdin_null ") == std::vector<std::string>{"1"});
  CHECK(lines_of(seen, "usr1_blocked ") == std::vector<std::string>{"0"});
  CHECK(lines_of(seen, "sigpipe_default ") == std::vector<std::string>{"1"});
}

TEST_CASE("a trusted script hook gets exactly its argument and the minimal environment") {
  REQUIRE_ROOT();
  Sandbox box;
  const std::string hook = box.script("modem",
                                      "printf '%s\\n' \"$0\" \"$#\" \"$@\" > OUT/args\n"
                                      "tr '\\0' '\\n' < /proc/$$/environ > OUT/env\n");
  REQUIRE(::setenv("SEKISHO_TEST_SECRET", "hunter2", 1) == 0);
  const HookResult result = run_once(hook, box.dir(), "on");
  ::unsetenv("SEKISHO_TEST_SECRET");

  CHECK(result.error == "");
  CHECK(result.ok());
  CHECK(result.argument == "on");
  // $0 is the descriptor the checked file was run from (power_hook.hpp), then one argument.
  CHECK(lines_of(box.read("args")) == std::vector<std::string>{"/dev/fd/3", "1", "on"});
  std::vector<std::string> environment = lines_of(box.read("env"));
  std::sort(environment.begin(), environment.end());
  CHECK(environment == kMinimalEnvironment);
}

TEST_CASE("the exit status is reported as it was") {
  REQUIRE_ROOT();
  Sandbox box;
  const std::string hook = box.script("modem", "exit 3\n");
  const HookResult result = run_once(hook, box.dir(), "off");
  CHECK(result.error == "");
  CHECK(result.exit_status == 3);
  CHECK(result.signal == 0);
  CHECK_FALSE(result.timed_out);
  CHECK_FALSE(result.ok());
  CHECK(result.describe().rfind("exited 3 after ", 0) == 0);
}

TEST_CASE("a hook killed by a signal of its own is reported as such") {
  REQUIRE_ROOT();
  Sandbox box;
  const std::string hook = box.script("modem", "kill -TERM $$\nsleep 5\n");
  const HookResult result = run_once(hook, box.dir(), "off");
  CHECK(result.error == "");
  CHECK(result.signal == SIGTERM);
  CHECK_FALSE(result.timed_out);
  CHECK_FALSE(result.ok());
  CHECK(result.describe().rfind("killed by SIGTERM after ", 0) == 0);
}

TEST_CASE("a hook over its timeout is killed, with what it started in its group") {
  REQUIRE_ROOT();
  // Orphans come here, so that this test can see how the hook's child ended. The hook
  // execs its last command, so that no shell reaps the child before the kill is seen (a
  // shell waiting for its foreground command could reap the killed background one first).
  REQUIRE(::prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
  Sandbox box;
  const std::string hook = box.script("modem",
                                      "sleep 60 &\n"
                                      "echo $! > OUT/child\n"
                                      "exec sleep 60\n");
  const auto began = std::chrono::steady_clock::now();
  const HookResult result = run_once(hook, box.dir(), "off", 1000ms);
  const auto elapsed = std::chrono::steady_clock::now() - began;
  CHECK(result.error == "");
  CHECK(result.timed_out);
  CHECK(result.signal == SIGKILL);
  CHECK_FALSE(result.ok());
  CHECK(result.timeout == 1000ms);
  CHECK(result.describe() == "killed after the 1 s timeout");
  CHECK(result.took >= 1000ms);
  CHECK(result.took < 10s);
  CHECK(elapsed < 10s);

  const pid_t child = std::atoi(box.read("child").c_str());
  REQUIRE(child > 0);
  const int status = wait_orphan(child, 5000ms);
  REQUIRE(status != -1);  // it ended (was not left sleeping)
  CHECK(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGKILL);
}

TEST_CASE("what a hook leaves running in its group ends with it") {
  REQUIRE_ROOT();
  REQUIRE(::prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
  Sandbox box;
  const std::string hook = box.script("modem",
                                      "sleep 60 &\n"
                                      "echo $! > OUT/child\n"
                                      "exit 0\n");
  const HookResult result = run_once(hook, box.dir(), "on");
  CHECK(result.ok());
  CHECK(result.took < 10s);
  const pid_t child = std::atoi(box.read("child").c_str());
  REQUIRE(child > 0);
  const int status = wait_orphan(child, 5000ms);
  REQUIRE(status != -1);
  CHECK(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGKILL);
}

TEST_CASE("an untrusted hook is not run, and done says why") {
  REQUIRE_ROOT();
  Sandbox box;
  const std::string hook = box.script("modem", "touch OUT/ran\n", 0775);
  const HookResult result = run_once(hook, box.dir(), "off");
  CHECK(result.error == "refused: " + hook + " is writable by its group (mode 0775)");
  CHECK(result.argument == "off");
  CHECK(result.exit_status == -1);
  CHECK_FALSE(result.ok());
  CHECK_FALSE(box.exists("ran"));

  // The same file once trusted runs: the refusal was the mode, not the script.
  REQUIRE(::chmod(hook.c_str(), 0755) == 0);
  CHECK(run_once(hook, box.dir(), "off").ok());
  CHECK(box.exists("ran"));
}

TEST_CASE("a missing hook and a hook that cannot be executed give a clear error") {
  REQUIRE_ROOT();
  Sandbox box;
  const std::string dir = box.dir();
  SUBCASE("missing") {
    const HookResult result = run_once(dir + "/modem", dir, "on");
    CHECK(result.error == "refused: " + dir + "/modem does not exist");
    CHECK(result.describe() == "not run: refused: " + dir + "/modem does not exist");
  }
  SUBCASE("an interpreter that does not exist") {
    const std::string hook = box.file("modem", "#!/nonexistent/shell\nexit 0\n");
    const HookResult result = run_once(hook, dir, "on");
    CHECK(result.error == "could not run " + hook + ": No such file or directory");
    CHECK(result.exit_status == -1);
  }
  SUBCASE("neither a binary nor a script") {
    const std::string hook = box.file("modem", "exit 0\n");
    const HookResult result = run_once(hook, dir, "on");
    CHECK(result.error == "could not run " + hook + ": Exec format error");
  }
}

TEST_CASE("only on and off, and a positive timeout") {
  REQUIRE_ROOT();
  Sandbox box;
  const std::string hook = box.script("modem", "touch OUT/ran\n");
  CHECK(run_once(hook, box.dir(), "reboot").error ==
        "the power hook's argument must be \"on\" or \"off\", not \"reboot\"");
  CHECK(run_once(hook, box.dir(), "on", 0ms).error == "the power hook's timeout must be positive");
  CHECK_FALSE(box.exists("ran"));
}

TEST_CASE("runs while one runs: one waits, the latest, and a later on is never overtaken") {
  REQUIRE_ROOT();
  Sandbox box;
  // Each run appends its argument when it starts and again when it ends, so overlapping
  // runs would show.
  const std::string hook = box.script("modem",
                                      "echo \"start $1\" >> OUT/log\n"
                                      "sleep 0.3\n"
                                      "echo \"end $1\" >> OUT/log\n");
  boost::asio::io_context io;
  PowerHook power(io);
  std::vector<HookResult> results;
  auto record = [&](HookResult result) { results.push_back(std::move(result)); };

  power.run(hook, box.dir(), "off", 10s, record);
  CHECK(power.running());
  power.run(hook, box.dir(), "on", 10s, record);   // waits
  power.run(hook, box.dir(), "off", 10s, record);  // replaces the waiting "on"
  power.run(hook, box.dir(), "on", 10s, record);   // replaces the waiting "off"
  CHECK(results.empty());                          // never from inside run()
  io.run_for(30s);
  CHECK_FALSE(power.running());

  REQUIRE(results.size() == 4);
  // The replaced ones first (at once), then the two that ran, in order.
  CHECK(results[0].argument == "on");
  CHECK(results[0].error == "superseded by a later \"off\" request");
  CHECK(results[1].argument == "off");
  CHECK(results[1].error == "superseded by a later \"on\" request");
  CHECK(results[2].argument == "off");
  CHECK(results[2].ok());
  CHECK(results[3].argument == "on");
  CHECK(results[3].ok());
  CHECK(lines_of(box.read("log")) ==
        std::vector<std::string>{"start off", "end off", "start on", "end on"});
}

TEST_CASE("a waiting run is checked when its turn comes") {
  REQUIRE_ROOT();
  Sandbox box;
  const std::string hook = box.script("modem", "sleep 0.3\necho \"ran $1\" >> OUT/log\n");
  boost::asio::io_context io;
  PowerHook power(io);
  std::vector<HookResult> results;
  auto record = [&](HookResult result) { results.push_back(std::move(result)); };
  power.run(hook, box.dir(), "off", 10s, record);
  power.run(hook, box.dir(), "on", 10s, record);
  // Made group-writable while the first runs: the second must not run.
  REQUIRE(::chmod(hook.c_str(), 0775) == 0);
  io.run_for(30s);
  REQUIRE(results.size() == 2);
  CHECK(results[0].ok());
  CHECK(results[1].argument == "on");
  CHECK(results[1].error == "refused: " + hook + " is writable by its group (mode 0775)");
  CHECK(lines_of(box.read("log")) == std::vector<std::string>{"ran off"});
}

TEST_CASE("the file checked is the file run, whatever the path names meanwhile") {
  REQUIRE_ROOT();
  Sandbox box;
  const std::string hook = box.script("modem", "sleep 0.3\necho \"first $1\" >> OUT/log\n");
  const std::string other = box.script("other", "echo \"replaced $1\" >> OUT/log\n");
  boost::asio::io_context io;
  PowerHook power(io);
  int calls = 0;
  power.run(hook, box.dir(), "off", 10s, [&](HookResult result) {
    ++calls;
    CHECK(result.ok());
  });
  // Renamed over the hook after it was checked and started: the running hook is the
  // file that was checked.
  REQUIRE(::rename(other.c_str(), hook.c_str()) == 0);
  io.run_for(30s);
  CHECK(calls == 1);
  CHECK(lines_of(box.read("log")) == std::vector<std::string>{"first off"});
}

TEST_CASE("a PowerHook destroyed while its hook runs kills and reaps it") {
  REQUIRE_ROOT();
  Sandbox box;
  const std::string hook = box.script("modem", "echo $$ > OUT/pid\nexec sleep 60\n");
  boost::asio::io_context io;
  bool called = false;
  pid_t pid = 0;
  {
    PowerHook power(io);
    power.run(hook, box.dir(), "off", 60s, [&](HookResult) { called = true; });
    power.run(hook, box.dir(), "on", 60s, [&](HookResult) { called = true; });
    REQUIRE(power.running());
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
      io.run_for(10ms);
      pid = std::atoi(box.read("pid").c_str());
      if (pid > 0) {
        break;
      }
    }
    REQUIRE(pid > 0);
    REQUIRE(::kill(pid, 0) == 0);  // running
  }
  // Gone entirely: not running, and no zombie left (this process was its parent).
  CHECK(::kill(pid, 0) == -1);
  CHECK(errno == ESRCH);
  CHECK(::waitpid(pid, nullptr, WNOHANG) == -1);
  io.run_for(200ms);
  CHECK_FALSE(called);
}
