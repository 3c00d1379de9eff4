#include "daemon/vpn/wg_device.hpp"

namespace sekisho::vpn {

std::string Endpoint::to_string() const {
  const std::string port_text = ':' + std::to_string(port);
  return address.family == policy::Family::V4 ? address.to_string() + port_text
                                              : '[' + address.to_string() + ']' + port_text;
}

}  // namespace sekisho::vpn
