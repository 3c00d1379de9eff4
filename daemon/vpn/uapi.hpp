#pragma once
// WireGuard's userspace API (wireguard-go): a text protocol on the stream socket
// /var/run/wireguard/IFNAME.sock. A request is "get=1\n\n", or "set=1\n" followed by
// key=value lines and an empty line; the answer ends with "errno=N\n\n". Keys travel as
// lowercase hex. The codec is pure (tested without wireguard-go); UapiControl does the I/O,
// one connection per operation as `wg` does.

#include <string>
#include <string_view>
#include <system_error>

#include "daemon/vpn/wg_device.hpp"

namespace sekisho::vpn {

// "/var/run/wireguard/" + interface + ".sock".
std::string uapi_socket_path(const std::string& interface);

// The "set=1" request for `change` (ending with the empty line). Peers not named in it are
// left alone: replace_peers is never sent.
std::string uapi_set_request(const WgChange& change);

// Parses the answer to "get=1" into `device`: bad_message when it is not the protocol,
// the errno it ends with when that is not 0; `device` is changed only on success.
std::error_code parse_uapi_get(std::string_view answer, WgDevice& device);

// The errno that a "set=1" answer carries; bad_message when there is none.
std::error_code parse_uapi_set_answer(std::string_view answer);

// "a.b.c.d:port" or "[x::y]:port".
std::optional<Endpoint> parse_endpoint(std::string_view text);

class UapiControl : public WgControl {
 public:
  explicit UapiControl(std::string socket_path) : socket_path_(std::move(socket_path)) {}
  std::error_code get(WgDevice& device) override;
  std::error_code set(const WgChange& change) override;

 private:
  // Sends `request` and reads until the answer's closing empty line (5 s at most).
  std::error_code exchange(const std::string& request, std::string& answer);
  std::string socket_path_;
};

}  // namespace sekisho::vpn
