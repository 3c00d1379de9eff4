// The test hooks of the lab's programs (build/test-bin): each reads its $SEKISHO_TEST_*
// variable (test_hooks.hpp). Never linked into a shipped program.
#include <atomic>
#include <cerrno>
#include <cstdlib>

#include <fcntl.h>
#include <unistd.h>

#include "daemon/common/log.hpp"
#include "daemon/common/test_hooks.hpp"

namespace sekisho::test_hooks {

namespace {

// The number at the start of the file named by $`variable`, read at every call; nullopt
// when the variable is not set or the file holds no number. While no descriptor is free
// (the lab fills the table) the last number read stands.
std::optional<long long> number_in_file(const char* variable, std::atomic<long long>& last,
                                        std::atomic<bool>& seen) {
  const char* path = std::getenv(variable);
  if (!path) {
    return std::nullopt;
  }
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 && (errno == EMFILE || errno == ENFILE)) {
    return seen ? std::optional<long long>(last.load()) : std::nullopt;
  }
  if (fd < 0) {
    return std::nullopt;
  }
  char text[32] = {};
  const ssize_t got = ::read(fd, text, sizeof text - 1);
  ::close(fd);
  char* end = nullptr;
  const long long number = got > 0 ? std::strtoll(text, &end, 10) : 0;
  if (got <= 0 || end == text) {
    return std::nullopt;
  }
  last = number;
  seen = true;
  return number;
}

}  // namespace

std::optional<long long> clock_offset_seconds() {
  static std::atomic<long long> last{0};
  static std::atomic<bool> seen{false};
  return number_in_file("SEKISHO_TEST_CLOCK_OFFSET_FILE", last, seen);
}

std::optional<bool> clock_synchronised() {
  static std::atomic<long long> last{0};
  static std::atomic<bool> seen{false};
  if (auto forced = number_in_file("SEKISHO_TEST_CLOCK_SYNCHRONISED_FILE", last, seen)) {
    return *forced != 0;
  }
  return std::nullopt;
}

std::optional<int> event_buffer() {
  const char* bytes = std::getenv("SEKISHO_TEST_EVENT_BUFFER");
  if (!bytes) {
    return std::nullopt;
  }
  const int size = std::atoi(bytes);
  log_warning("test build: nftables event buffer of " + std::to_string(size) +
              " bytes ($SEKISHO_TEST_EVENT_BUFFER)");
  return size;
}

std::optional<std::string> hooks_dir() {
  if (const char* dir = std::getenv("SEKISHO_TEST_HOOKS_DIR")) {
    return dir;
  }
  return std::nullopt;
}

}  // namespace sekisho::test_hooks
