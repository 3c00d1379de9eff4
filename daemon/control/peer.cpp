#include "daemon/control/peer.hpp"

#include <cerrno>

#include <sys/socket.h>

namespace sekisho::control {

std::error_code peer_of(int fd, Peer& peer) {
  ucred credentials{};
  socklen_t length = sizeof credentials;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) < 0) {
    return std::error_code(errno, std::generic_category());
  }
  peer.pid = credentials.pid;
  peer.uid = credentials.uid;
  return {};
}

}  // namespace sekisho::control
