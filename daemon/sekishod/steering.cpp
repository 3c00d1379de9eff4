#include "daemon/sekishod/steering.hpp"

#include <algorithm>

#include <linux/rtnetlink.h>

#include "daemon/common/log.hpp"

namespace sekisho::daemon {

namespace {

bool same_route(const net::Route& a, const net::Route& b) {
  // IPv6 reports its own metric and scope: the rest says which route it is.
  return a.destination == b.destination && a.table == b.table && a.type == b.type &&
         a.protocol == b.protocol && a.ifindex == b.ifindex;
}

}  // namespace

std::vector<net::MarkRule> steering_rules(const ir::Ruleset& ruleset) {
  std::vector<net::MarkRule> rules;
  for (const ir::PluginResources& plugin : ruleset.plugins) {
    for (const ir::Steering& steering : plugin.steering) {
      for (const policy::Family family : {policy::Family::V4, policy::Family::V6}) {
        const net::MarkRule rule{
            family,         kSteeringRulePriority, steering.packet_mark, plugin.packet_mark_bits,
            kSteeringTable, kSteeringProtocol};
        if (std::find(rules.begin(), rules.end(), rule) == rules.end()) {
          rules.push_back(rule);
        }
      }
    }
  }
  return rules;
}

std::vector<net::Route> steering_routes(int loopback_index) {
  std::vector<net::Route> routes;
  for (const policy::Family family : {policy::Family::V4, policy::Family::V6}) {
    net::Route route;
    route.destination.network.family = family;  // 0.0.0.0/0, ::/0
    route.table = kSteeringTable;
    route.protocol = kSteeringProtocol;
    route.scope = RT_SCOPE_HOST;
    route.type = RTN_LOCAL;
    route.ifindex = loopback_index;
    routes.push_back(route);
  }
  return routes;
}

void Steering::fill(ir::Ruleset& ruleset, const policy::Policy& policy) {
  (void)policy;
  rules_ = steering_rules(ruleset);
}

void Steering::after_apply(const policy::Policy& policy) {
  (void)policy;
  bool all_took = true;
  const auto failed = [&all_took](const std::string& what, std::error_code error) {
    all_took = false;
    log_error("steering: cannot " + what + ": " + error.message());
  };
  // Without steering, once the kernel was found to hold none of ours, there is nothing to
  // look at: a policy without plugins costs no dumps.
  if (rules_.empty() && !may_hold_some_) {
    return;
  }
  net::LinkInfo loopback;
  std::vector<net::Route> routes;
  int unrepresentable = 0;
  if (std::error_code error = net::get_link(socket_, "lo", loopback);
      error || (error = net::list_routes(socket_, loopback.index, routes, &unrepresentable))) {
    return failed("read the local routes", error);
  }
  std::erase_if(routes, [](const net::Route& route) {
    return route.protocol != kSteeringProtocol || route.table != kSteeringTable;
  });
  std::vector<net::MarkRule> rules;
  int others = 0;
  if (std::error_code error = net::list_mark_rules(socket_, kSteeringProtocol, rules, &others)) {
    return failed("read the ip rules", error);
  }
  // Only rules of sekishod's shape: its table and priority, whoever else uses protocol 83.
  std::erase_if(rules, [&](const net::MarkRule& rule) {
    if (rule.table == kSteeringTable && rule.priority == kSteeringRulePriority) {
      return false;
    }
    ++others;
    return true;
  });
  if (others > 0) {
    log_warning("steering: " + std::to_string(others) + " ip rules of protocol " +
                std::to_string(kSteeringProtocol) + " are not of sekishod's kind; left alone");
  }
  const std::vector<net::Route> want_routes =
      rules_.empty() ? std::vector<net::Route>{} : steering_routes(loopback.index);
  const auto wanted = [&](const net::Route& route) {
    return std::any_of(want_routes.begin(), want_routes.end(),
                       [&](const net::Route& want) { return same_route(want, route); });
  };
  // Rules that are no longer needed go first, then the routes; additions the other way
  // round, so that no rule ever leads to a table without its routes.
  for (const net::MarkRule& rule : rules) {
    if (std::find(rules_.begin(), rules_.end(), rule) == rules_.end()) {
      if (std::error_code error = net::delete_mark_rule(socket_, rule)) {
        failed("remove ip rule " + net::to_string(rule), error);
      } else {
        log_info("steering: removed ip rule " + net::to_string(rule));
      }
    }
  }
  for (const net::Route& route : routes) {
    if (!wanted(route)) {
      if (std::error_code error = net::delete_route(socket_, route)) {
        failed("remove route " + net::to_string(route), error);
      } else {
        log_info("steering: removed route " + net::to_string(route));
      }
    }
  }
  for (const net::Route& want : want_routes) {
    const bool there = std::any_of(routes.begin(), routes.end(), [&](const net::Route& route) {
      return same_route(want, route);
    });
    if (there) {
      continue;
    }
    if (std::error_code error = net::add_route(socket_, want)) {
      failed("add route " + net::to_string(want), error);
    } else {
      log_info("steering: added route " + net::to_string(want));
    }
  }
  for (const net::MarkRule& want : rules_) {
    if (std::find(rules.begin(), rules.end(), want) != rules.end()) {
      continue;
    }
    if (std::error_code error = net::add_mark_rule(socket_, want)) {
      failed("add ip rule " + net::to_string(want), error);
    } else {
      log_info("steering: added ip rule " + net::to_string(want));
    }
  }
  may_hold_some_ = !rules_.empty() || !all_took;
}

}  // namespace sekisho::daemon
