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

template <typename Number>
std::optional<Number> number(std::string_view text) {
  Number value{};
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || text.empty()) {
    return std::nullopt;
  }
  return value;
}

std::error_code bad_message() {
  return std::make_error_code(std::errc::bad_message);
}

// The "errno=N" line that closes every answer.
std::optional<int> closing_errno(std::string_view answer) {
  constexpr std::string_view kEnd = "\n\n";
  if (answer.size() < kEnd.size() || answer.substr(answer.size() - kEnd.size()) != kEnd) {
    return std::nullopt;
  }
  std::string_view body = answer.substr(0, answer.size() - 1);  // keeps the last '\n'
  std::size_t start = body.rfind('\n', body.size() - 2);
  std::string_view line = body.substr(start == std::string_view::npos ? 0 : start + 1);
  if (line.size() < 2) {
    return std::nullopt;
  }
  line.remove_suffix(1);
  constexpr std::string_view kErrno = "errno=";
  if (line.substr(0, kErrno.size()) != kErrno) {
    return std::nullopt;
  }
  return number<int>(line.substr(kErrno.size()));
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
  auto port = number<std::uint16_t>(text.substr(colon + 1));
  if (!address || !port) {
    return std::nullopt;
  }
  return Endpoint{*address, *port};
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
  device = WgDevice{};
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
        peer = &device.peers.emplace_back();
        peer->public_key = *public_key;
      }
    } else if (key == "errno") {
      continue;
    } else if (peer == nullptr) {
      if (key == "private_key") {
        device.private_key = key_from_hex(value);
        ok = device.private_key.has_value();
      } else if (key == "listen_port") {
        auto port = number<std::uint16_t>(value);
        ok = port.has_value();
        device.listen_port = port.value_or(0);
      } else if (key == "fwmark") {
        auto mark = number<std::uint32_t>(value);
        ok = mark.has_value();
        device.fwmark = mark.value_or(0);
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
      auto seconds = number<std::uint16_t>(value);
      ok = seconds.has_value();
      peer->keepalive_seconds = seconds.value_or(0);
    } else if (key == "last_handshake_time_sec") {
      auto seconds = number<std::int64_t>(value);
      ok = seconds.has_value();
      peer->last_handshake_seconds = seconds.value_or(0);
    } else if (key == "last_handshake_time_nsec") {
      auto nanoseconds = number<std::int64_t>(value);
      ok = nanoseconds.has_value();
      peer->last_handshake_nanoseconds = nanoseconds.value_or(0);
    } else if (key == "rx_bytes") {
      auto bytes = number<std::uint64_t>(value);
      ok = bytes.has_value();
      peer->rx_bytes = bytes.value_or(0);
    } else if (key == "tx_bytes") {
      auto bytes = number<std::uint64_t>(value);
      ok = bytes.has_value();
      peer->tx_bytes = bytes.value_or(0);
    }
    // Other keys (preshared_key, protocol_version, newer additions) are not ours to judge.
    if (!ok) {
      return bad_message();
    }
  }
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
