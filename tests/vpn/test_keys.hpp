#pragma once
// Keys the WireGuard unit tests can tell apart at a glance: 32 bytes of one value.

#include "daemon/vpn/keys.hpp"

namespace sekisho::vpn::testing {

inline Key key_of(unsigned char fill) {
  Key key{};
  key.fill(fill);
  return key;
}

}  // namespace sekisho::vpn::testing
