#include "daemon/control/peer.hpp"

#include <cerrno>

#include <pwd.h>
#include <sys/socket.h>

namespace sekisho::control {

namespace {

std::string user_name(uid_t uid) {
  passwd entry{};
  passwd* found = nullptr;
  std::vector<char> buffer(16384);
  if (getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found) == 0 && found) {
    return found->pw_name;
  }
  return std::to_string(uid);
}

}  // namespace

std::error_code peer_of(int fd, Peer& peer) {
  ucred credentials{};
  socklen_t length = sizeof credentials;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) < 0) {
    return std::error_code(errno, std::generic_category());
  }
  peer.pid = credentials.pid;
  peer.uid = credentials.uid;
  peer.groups = {credentials.gid};
  // SO_PEERGROUPS says how much room it needs when the first guess is too small.
  std::vector<gid_t> supplementary(64);
  socklen_t bytes = static_cast<socklen_t>(supplementary.size() * sizeof(gid_t));
  if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, supplementary.data(), &bytes) < 0) {
    if (errno != ERANGE) {
      return std::error_code(errno, std::generic_category());
    }
    supplementary.resize(bytes / sizeof(gid_t));
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, supplementary.data(), &bytes) < 0) {
      return std::error_code(errno, std::generic_category());
    }
  }
  supplementary.resize(bytes / sizeof(gid_t));
  peer.groups.insert(peer.groups.end(), supplementary.begin(), supplementary.end());
  peer.user = user_name(peer.uid);
  return {};
}

}  // namespace sekisho::control
