#include "daemon/vpn/key_file.hpp"

#include <cerrno>
#include <cstdio>
#include <system_error>

#include <fcntl.h>
#include <unistd.h>

#include "daemon/common/fd.hpp"

namespace sekisho::vpn {

namespace {

std::string octal(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

}  // namespace

std::string key_file_problem(const struct stat& st) {
  if (!S_ISREG(st.st_mode)) {
    return "not a regular file";
  }
  if (st.st_uid != 0) {
    return "owned by uid " + std::to_string(st.st_uid) +
           ", not root: a private key must be owned by root (chown root:root)";
  }
  if ((st.st_mode & 077) != 0) {
    return "mode " + octal(st.st_mode) +
           ": a private key must be readable by root only (chmod 600)";
  }
  return {};
}

std::optional<Key> read_private_key_file(const std::string& path, std::string& problem,
                                         std::error_code& error) {
  error.clear();
  // O_NOFOLLOW: a symlink could point the daemon at a key someone else controls.
  Fd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY));
  if (fd.get() < 0) {
    error = std::error_code(errno, std::generic_category());
    problem = error.message();
    return std::nullopt;
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    error = std::error_code(errno, std::generic_category());
    problem = error.message();
    return std::nullopt;
  }
  problem = key_file_problem(st);
  if (!problem.empty()) {
    return std::nullopt;
  }
  char buffer[128];
  std::string text;
  ssize_t n;
  while ((n = ::read(fd.get(), buffer, sizeof buffer)) != 0) {
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0 || text.size() + static_cast<std::size_t>(n) > 128) {
      problem =
          n < 0 ? std::error_code(errno, std::generic_category()).message() : "longer than one key";
      return std::nullopt;
    }
    text.append(buffer, static_cast<std::size_t>(n));
  }
  if (!text.empty() && text.back() == '\n') {
    text.pop_back();
  }
  std::optional<Key> key = key_from_base64(text);
  if (!key) {
    problem = "does not hold one WireGuard key (44 characters of base64, as wg genkey writes)";
  }
  return key;
}

}  // namespace sekisho::vpn
