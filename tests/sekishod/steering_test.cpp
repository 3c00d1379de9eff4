// What sekishod's steering subsystem makes the kernel hold for a ruleset
// (daemon/sekishod/steering.hpp): one ip rule per steering mark and family, the plugin's
// bits as the mask, and the two local routes while anything is steered.

#include "daemon/sekishod/steering.hpp"

#include <doctest/doctest.h>
#include <linux/rtnetlink.h>

namespace sekisho::daemon {

namespace {

ir::PluginResources plugin(std::uint32_t bits, std::vector<std::uint32_t> marks) {
  ir::PluginResources out;
  out.packet_mark_bits = bits;
  for (std::uint32_t mark : marks) {
    ir::Steering steering;
    steering.packet_mark = mark;
    steering.port = 5020;
    out.steering.push_back(steering);
  }
  return out;
}

}  // namespace

TEST_CASE("one ip rule per steering mark and family, under the plugin's bits") {
  ir::Ruleset ruleset;
  CHECK(steering_rules(ruleset).empty());
  ruleset.plugins.push_back(plugin(0x10000, {}));  // a plugin that steers nothing
  CHECK(steering_rules(ruleset).empty());

  // Two steerings with one mark make one rule per family; another plugin its own.
  ruleset.plugins.push_back(plugin(0x60000, {0x20000, 0x20000, 0x40000}));
  ruleset.plugins.push_back(plugin(0x80000, {0x80000}));
  const auto v4 = policy::Family::V4;
  const auto v6 = policy::Family::V6;
  CHECK(steering_rules(ruleset) == std::vector<net::MarkRule>{
                                       {v4, 1021, 0x20000, 0x60000, 1021, 83},
                                       {v6, 1021, 0x20000, 0x60000, 1021, 83},
                                       {v4, 1021, 0x40000, 0x60000, 1021, 83},
                                       {v6, 1021, 0x40000, 0x60000, 1021, 83},
                                       {v4, 1021, 0x80000, 0x80000, 1021, 83},
                                       {v6, 1021, 0x80000, 0x80000, 1021, 83},
                                   });
}

TEST_CASE("the local routes: 0.0.0.0/0 and ::/0 through lo in the steering table") {
  const std::vector<net::Route> routes = steering_routes(1);
  REQUIRE(routes.size() == 2);
  CHECK(net::to_string(routes[0]) ==
        "0.0.0.0/0 ifindex 1 table 1021 metric 0 proto 83 scope 254 type 2");
  CHECK(net::to_string(routes[1]) ==
        "::/0 ifindex 1 table 1021 metric 0 proto 83 scope 254 type 2");
  CHECK(routes[0].type == RTN_LOCAL);
}

}  // namespace sekisho::daemon
