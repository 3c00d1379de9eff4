#pragma once
// What the lab test binaries in tests/net share: the guard that keeps them out of the
// machine's own network namespace, and running a command to read what it prints.

#include <cstdio>
#include <cstdlib>
#include <string>

#include <doctest/doctest.h>
#include <sys/stat.h>

namespace sekisho::testing {

// True when this process's network namespace is known not to be the machine's: not pid
// 1's (often unreadable, even for root, without CAP_SYS_PTRACE) and not the one
// netns_lab.sh started in ($SEKISHO_OUTER_NETNS, "net:[INODE]"). Unknown counts as no.
inline bool in_own_namespace() {
  struct stat own {};
  if (stat("/proc/self/ns/net", &own) != 0) {
    return false;
  }
  bool known = false;
  struct stat init {};
  if (stat("/proc/1/ns/net", &init) == 0) {
    if (own.st_ino == init.st_ino && own.st_dev == init.st_dev) {
      return false;
    }
    known = true;
  }
  if (const char* outer = std::getenv("SEKISHO_OUTER_NETNS"); outer != nullptr && *outer) {
    if (std::string(outer) == "net:[" + std::to_string(own.st_ino) + "]") {
      return false;
    }
    known = true;
  }
  return known;
}

// Runs `command` with sh and returns its standard output; a failing command fails the
// test case.
inline std::string run(const std::string& command) {
  std::string output;
  FILE* pipe = popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  char buffer[4096];
  std::size_t n = 0;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) {
    output.append(buffer, n);
  }
  const int status = pclose(pipe);
  REQUIRE_MESSAGE(status == 0, command << " (wait status " << status << "): " << output);
  return output;
}

}  // namespace sekisho::testing

// Every test case that changes the kernel starts with this: run directly in the machine's
// own namespace, it refuses.
#define REQUIRE_LAB()                                   \
  REQUIRE_MESSAGE(sekisho::testing::in_own_namespace(), \
                  "run me inside a throw-away namespace (tests/net/netns_lab.sh)")
