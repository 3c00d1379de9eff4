#pragma once
// Reading a WireGuard private key file (the policy's vpn.NAME.private_key_file) the way
// sekishod must: a regular file owned by root that nobody else may read or write (0600 or
// 0400), never through a symlink, holding one key as `wg genkey` writes it. Anything else
// is refused with a message that says what to fix; the key itself is never in a message.

#include <optional>
#include <string>
#include <system_error>

#include <sys/stat.h>

#include "daemon/vpn/keys.hpp"

namespace sekisho::vpn {

// Why a key file with this fstat() may not be used, or empty when it may.
std::string key_file_problem(const struct stat& st);

// The private key in `path`; empty with `problem` set when it is unreadable (then also
// `error`, as errno said), has a problem above, or does not hold one key.
std::optional<Key> read_private_key_file(const std::string& path, std::string& problem,
                                         std::error_code& error);

}  // namespace sekisho::vpn
