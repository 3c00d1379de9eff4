#pragma once
// A small policy with remote_maintenance for the session tests: the policy tests' base
// (tests/policy/policy_fixture.hpp) with an IPv6 tunnel network and a second VPN peer that
// has an address in it, and targets of every kind a session has to tell apart.

#include <stdexcept>
#include <string>

#include <doctest/doctest.h>

#include "daemon/sessions/grant.hpp"
#include "tests/policy/policy_fixture.hpp"

namespace sekisho::sessions::testing {

inline constexpr std::string_view kMaintenance = R"(remote_maintenance:
  max_duration: 4h
  targets:
    hmi-screen: { host: hmi, services: [tcp/5900, web, tcp/443] }
    hmi-web: { host: hmi, services: [tcp/443] }
    hmi-vnc-alt: { host: hmi, services: [tcp/5901-5910] }
    hmi-ping: { host: hmi, services: [icmp/echo-request] }
    hmi-all: { host: hmi, services: [any] }
    plc-program: { host: plc, services: [modbus, udp/5000-5010, icmp/echo-request] }
    plc-screen: { host: plc, services: [tcp/5900] }
  peers:
    vendor: [hmi-screen, hmi-ping, hmi-all, plc-program, hmi-web, hmi-vnc-alt, plc-screen]
    vendor6: [hmi-screen]
)";

// The policy tests' base plus vendor6 (198.19.0.3 and 2001:db8:99::3) and kMaintenance.
inline std::string maintenance_policy_text() {
  std::string text = policy::testing::policy_text({}, kMaintenance);
  text = policy::testing::replaced(text, "address: 198.19.0.1/24",
                                   "address: [198.19.0.1/24, \"2001:db8:99::1/64\"]");
  return policy::testing::replaced(
      text, "address: 198.19.0.2 }\n",
      "address: 198.19.0.2 }\n"
      "      vendor6:\n"
      "        public_key: \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"\n"
      "        addresses: [198.19.0.3, \"2001:db8:99::3\"]\n");
}

// The policy, loaded; the test fails at once when it does not load.
inline const policy::Policy& maintenance_policy() {
  static const policy::LoadResult result = policy::testing::load(maintenance_policy_text());
  if (!result.policy) {
    throw std::logic_error("test fixture: the maintenance policy does not load:\n" +
                           policy::testing::dump(result.diagnostics));
  }
  return *result.policy;
}

// The grant for `peer` and `target`; fails the test when there is none.
inline Grant grant_of(const std::string& peer, const std::string& target) {
  std::string error;
  std::optional<Grant> grant = grant_for(maintenance_policy(), peer, target, error);
  REQUIRE_MESSAGE(grant, error);
  return *grant;
}

}  // namespace sekisho::sessions::testing
