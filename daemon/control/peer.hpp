#pragma once
// Who is on the other end of a Unix socket, as the kernel says (SO_PEERCRED): nothing the
// client sends can change it. The caller's groups are not taken from the socket
// (SO_PEERGROUPS is fixed at connect): roles.hpp looks them up for each request.

#include <system_error>

#include <sys/types.h>

namespace sekisho::control {

struct Peer {
  pid_t pid = 0;
  uid_t uid = 0;
};

std::error_code peer_of(int fd, Peer& peer);

}  // namespace sekisho::control
