#pragma once
// Who is on the other end of a Unix socket, as the kernel says (SO_PEERCRED and
// SO_PEERGROUPS): nothing the client sends can change it.

#include <string>
#include <system_error>
#include <vector>

#include <sys/types.h>

namespace sekisho::control {

struct Peer {
  pid_t pid = 0;
  uid_t uid = 0;
  std::vector<gid_t> groups;  // the primary gid first, then the supplementary ones
  std::string user;           // the uid's name, or the number when it has none
};

std::error_code peer_of(int fd, Peer& peer);

}  // namespace sekisho::control
