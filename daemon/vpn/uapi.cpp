#include "daemon/vpn/uapi.hpp"

#include <charconv>
#include <cstring>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "daemon/common/fd.hpp"
#include "daemon/common/sha256.hpp"

namespace sekisho::vpn {
namespace {

std::string hex_key(const Key& key) {
  return to_hex(key.data(), key.size());
}

std::optional<Key> key_from_hex(std::string_view text) {
  auto bytes = from_hex(text);
  if (!bytes || bytes->size() != 32) {
    return std::nullopt;
  }
  Key key{};
  std::memcpy(key.data(), bytes->data(), key.size());
  return key;
}

// The whole of `text` as a decimal number that fits `out`.
template <typename Number>
bool read_number(std::string_view text, Number& out) {
  const char* end = text.data() + text.size();
  auto [stop, error] = std::from_chars(text.data(), end, out);
  return !text.empty() && error == std::errc() && stop == end;
}

std::error_code bad_message() {
  return std::make_error_code(std::errc::bad_message);
}

// The "errno=N" line that closes every answer.
std::optional<int> closing_errno(std::string_view answer) {
  constexpr std::string_view kEnd = "\n\n";
  constexpr std::string_view kErrno = "errno=";
  if (!answer.ends_with(kEnd)) {
    return std::nullopt;
  }
  answer.remove_suffix(kEnd.size());
  const std::string_view line = answer.substr(answer.rfind('\n') + 1);  // npos + 1 is 0
  int value = 0;
  if (!line.starts_with(kErrno) || !read_number(line.substr(kErrno.size()), value)) {
    return std::nullopt;
  }
  return value;
}

std::error_code to_error(int value) {
  return value == 0 ? std::error_code() : std::error_code(value, std::system_category());
}

}  // namespace

std::string uapi_socket_path(const std::string& interface) {
  return "/var/run/wireguard/" + interface + ".sock";
}

std::optional<Endpoint> parse_endpoint(std::string_view text) {
  std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    return std::nullopt;
  }
  std::string_view host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    return std::nullopt;  // IPv6 without brackets
  }
  auto address = policy::parse_ip(host);
  std::uint16_t port = 0;
  if (!address || !read_number(text.substr(colon + 1), port)) {
    return std::nullopt;
  }
  return Endpoint{*address, port};
}

std::string uapi_set_request(const WgChange& change) {
  std::string request = "set=1\n";
  if (change.private_key) {
    request += "private_key=" + hex_key(*change.private_key) + "\n";
  }
  if (change.listen_port) {
    request += "listen_port=" + std::to_string(*change.listen_port) + "\n";
  }
  for (const PeerChange& peer : change.peers) {
    request += "public_key=" + hex_key(peer.public_key) + "\n";
    if (peer.remove) {
      request += "remove=true\n";
      continue;
    }
    if (peer.keepalive_seconds) {
      request += "persistent_keepalive_interval=" + std::to_string(*peer.keepalive_seconds) + "\n";
    }
    if (peer.allowed_ips) {
      request += "replace_allowed_ips=true\n";
      for (const policy::Cidr& allowed : *peer.allowed_ips) {
        request += "allowed_ip=" + allowed.to_string() + "\n";
      }
    }
  }
  return request + "\n";
}

std::error_code parse_uapi_get(std::string_view answer, WgDevice& device) {
  auto status = closing_errno(answer);
  if (!status) {
    return bad_message();
  }
  if (*status != 0) {
    return to_error(*status);
  }
  WgDevice parsed;  // `device` changes only when the whole answer is read
  WgPeer* peer = nullptr;
  std::size_t position = 0;
  while (position < answer.size()) {
    std::size_t end = answer.find('\n', position);
    std::string_view line = answer.substr(position, end - position);
    position = end + 1;
    if (line.empty()) {
      break;  // the closing empty line
    }
    std::size_t equals = line.find('=');
    if (equals == std::string_view::npos) {
      return bad_message();
    }
    std::string_view key = line.substr(0, equals);
    std::string_view value = line.substr(equals + 1);
    bool ok = true;
    if (key == "public_key") {
      auto public_key = key_from_hex(value);
      ok = public_key.has_value();
      if (ok) {
        peer = &parsed.peers.emplace_back();
        peer->public_key = *public_key;
      }
    } else if (key == "errno") {
      continue;
    } else if (peer == nullptr) {
      if (key == "private_key") {
        parsed.private_key = key_from_hex(value);
        ok = parsed.private_key.has_value();
      } else if (key == "listen_port") {
        ok = read_number(value, parsed.listen_port);
      } else if (key == "fwmark") {
        ok = read_number(value, parsed.fwmark);
      }
    } else if (key == "endpoint") {
      peer->endpoint = parse_endpoint(value);
      ok = peer->endpoint.has_value();
    } else if (key == "allowed_ip") {
      auto cidr = policy::parse_cidr(value);
      ok = cidr.has_value();
      if (ok) {
        peer->allowed_ips.push_back(*cidr);
      }
    } else if (key == "persistent_keepalive_interval") {
      ok = read_number(value, peer->keepalive_seconds);
    } else if (key == "last_handshake_time_sec") {
      ok = read_number(value, peer->last_handshake_seconds);
    } else if (key == "last_handshake_time_nsec") {
      ok = read_number(value, peer->last_handshake_nanoseconds);
    } else if (key == "rx_bytes") {
      ok = read_number(value, peer->rx_bytes);
    } else if (key == "tx_bytes") {
      ok = read_number(value, peer->tx_bytes);
    }
    // Other keys (preshared_key, protocol_version, newer additions) are not ours to judge.
    if (!ok) {
      return bad_message();
    }
  }
  device = std::move(parsed);
  return {};
}

std::error_code parse_uapi_set_answer(std::string_view answer) {
  auto status = closing_errno(answer);
  return status ? to_error(*status) : bad_message();
}

std::error_code UapiControl::exchange(const std::string& request, std::string& answer) {
  Fd socket(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (socket.get() < 0) {
    return {errno, std::system_category()};
  }
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (socket_path_.size() >= sizeof address.sun_path) {
    return std::make_error_code(std::errc::filename_too_long);
  }
  std::memcpy(address.sun_path, socket_path_.c_str(), socket_path_.size() + 1);
  if (::connect(socket.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    return {errno, std::system_category()};
  }
  for (std::size_t sent = 0; sent < request.size();) {
    ssize_t n = ::send(socket.get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return {errno, std::system_category()};
    }
    sent += static_cast<std::size_t>(n);
  }
  // The answer ends with an empty line; wireguard-go keeps the connection open after it.
  answer.clear();
  constexpr int kTimeoutMs = 5000;
  constexpr std::size_t kMaxAnswer = 16 << 20;
  char buffer[4096];
  while (answer.size() < 2 || answer.compare(answer.size() - 2, 2, "\n\n") != 0) {
    pollfd ready{socket.get(), POLLIN, 0};
    int polled = ::poll(&ready, 1, kTimeoutMs);
    if (polled < 0 && errno == EINTR) {
      continue;
    }
    if (polled <= 0) {
      return polled == 0 ? std::make_error_code(std::errc::timed_out)
                         : std::error_code(errno, std::system_category());
    }
    ssize_t n = ::recv(socket.get(), buffer, sizeof buffer, 0);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return n == 0 ? bad_message() : std::error_code(errno, std::system_category());
    }
    answer.append(buffer, static_cast<std::size_t>(n));
    if (answer.size() > kMaxAnswer) {
      return bad_message();
    }
  }
  return {};
}

std::error_code UapiControl::get(WgDevice& device) {
  std::string answer;
  if (auto error = exchange("get=1\n\n", answer)) {
    return error;
  }
  return parse_uapi_get(answer, device);
}

std::error_code UapiControl::set(const WgChange& change) {
  std::string answer;
  if (auto error = exchange(uapi_set_request(change), answer)) {
    return error;
  }
  return parse_uapi_set_answer(answer);
}

}  // namespace sekisho::vpn
