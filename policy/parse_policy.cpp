#include <functional>
#include <map>

#include "policy/parser.hpp"
#include "policy/plugin_parts.hpp"
#include "policy/schedule.hpp"
#include "policy/service.hpp"
#include "policy/units.hpp"

namespace sekisho::policy {

namespace {

void parse_gateway(const YamlNode& node, Reader& reader, Policy& policy) {
  if (!reader.mapping(node, "gateway", "gateway")) {
    return;
  }
  if (const YamlNode* name = node.find("name")) {
    if (auto value = reader.name(*name, "gateway.name")) {
      policy.gateway_name = value->name;
    }
  }
  if (const YamlNode* zone = node.find("timezone")) {
    if (auto value = reader.string(*zone, "gateway.timezone")) {
      policy.timezone = *value;
      policy.timezone_pos = zone->pos;
    }
  }
}

}  // namespace

Policy parse_policy(const YamlNode& root, Reader& reader) {
  Policy policy;
  policy.file = reader.diagnostics().file();
  if (root.is_null()) {
    reader.diagnostics().error({}, "missing-key", "the policy file is empty",
                               "start with 'version: 1'");
    return policy;
  }
  if (!reader.mapping(root, "", "the policy")) {
    return policy;
  }
  if (const YamlNode* version = root.find("version")) {
    if (auto value = reader.integer(*version, "version", 1, 1)) {
      policy.version = static_cast<int>(*value);
    }
  } else {
    reader.diagnostics().error(root.pos, "missing-key", "the policy needs 'version: 1'",
                               "put 'version: 1' at the top of the file");
  }
  using Section = std::function<void(const YamlNode&, Reader&, Policy&)>;
  const std::map<std::string_view, Section> sections = {
      {"gateway", parse_gateway},
      {"zones", parse_zones},
      {"hosts", parse_hosts},
      {"groups", parse_groups},
      {"services", parse_services},
      {"rules", parse_rules},
      {"schedules", parse_schedules},
      {"wan", parse_wan},
      {"vpn", parse_vpns},
      {"cloud", parse_cloud},
      {"remote_maintenance", parse_remote_maintenance},
      {"audit", parse_audit},
  };
  for (const auto& [key, value] : root.entries) {
    auto section = sections.find(key.value);
    if (section != sections.end()) {
      section->second(value, reader, policy);
    } else if (const plugins::PolicyPart* part =
                   plugin_part(plugins::PolicyPart::Place::Section, key.value);
               part && part->parse) {
      policy.extensions.set(part->key, part->parse(value, reader));
    }
  }
  return policy;
}

void parse_zones(const YamlNode& node, Reader& reader, Policy& policy) {
  if (node.is_null() || !reader.named_mapping(node, "zones")) {
    return;
  }
  for (const auto& [key, value] : node.entries) {
    Zone zone;
    zone.name = key.value;
    zone.pos = key.pos;
    if (!reader.mapping(value, "zones.*", "zone '" + key.value + "'")) {
      continue;
    }
    if (const YamlNode* interfaces = value.find("interfaces")) {
      for (const YamlNode* item : reader.list(*interfaces, "interfaces")) {
        if (auto name = reader.interface_name(*item)) {
          zone.interfaces.push_back(*name);
        }
      }
    }
    if (const YamlNode* networks = value.find("networks")) {
      zone.declares_networks = true;
      for (const YamlNode* item : reader.list(*networks, "networks")) {
        if (auto network = reader.cidr(*item, "a zone network")) {
          zone.networks.push_back(*network);
          zone.network_pos.push_back(item->pos);
        }
      }
    }
    if (const YamlNode* vpn = value.find("vpn")) {
      zone.vpn = reader.name(*vpn, "zone vpn");
      if (value.find("interfaces") || value.find("networks")) {
        reader.diagnostics().error(
            vpn->pos, "vpn-zone", "a VPN zone takes its interface and networks from the VPN",
            "remove 'interfaces' and 'networks' from zone '" + key.value + "'");
      }
    } else if (!value.find("interfaces")) {
      reader.missing(value, key.pos, "zone '" + key.value + "'", "interfaces");
    }
    if (const YamlNode* role = value.find("role")) {
      auto text = reader.string(*role, "zone role");
      if (text && *text == "ot") {
        zone.role = ZoneRole::Ot;
      } else if (text && *text == "it") {
        zone.role = ZoneRole::It;
      } else if (text && *text == "wan") {
        zone.role = ZoneRole::Wan;
      } else if (text) {
        reader.diagnostics().error(role->pos, "bad-value", "zone role must be 'ot', 'it' or 'wan'");
      }
    } else if (zone.name == "ot") {
      zone.role = ZoneRole::Ot;
    } else if (zone.name == "it") {
      zone.role = ZoneRole::It;
    } else if (zone.name == "wan") {
      zone.role = ZoneRole::Wan;
    }
    policy.zones.push_back(std::move(zone));
  }
}

void parse_hosts(const YamlNode& node, Reader& reader, Policy& policy) {
  if (node.is_null() || !reader.named_mapping(node, "hosts")) {
    return;
  }
  for (const auto& [key, value] : node.entries) {
    Host host;
    host.name = key.value;
    host.pos = key.pos;
    if (!reader.mapping(value, "hosts.*", "host '" + key.value + "'")) {
      continue;
    }
    host.addresses = reader.addresses(value, key.pos, "host '" + key.value + "'", host.address_pos);
    if (const YamlNode* mac = value.find("mac")) {
      if (auto text = reader.string(*mac, "mac")) {
        std::string error;
        host.mac = parse_mac(*text, &error);
        if (!host.mac) {
          reader.diagnostics().error(mac->pos, "bad-mac", "'" + *text + "': " + error,
                                     "write it like \"00:1d:9c:c8:12:01\" (quoted)");
        }
      }
    }
    if (const YamlNode* inventory = value.find("inventory")) {
      if (reader.mapping(*inventory, "hosts.*.inventory", "inventory")) {
        auto text = [&](std::string_view field, std::string& out) {
          if (const YamlNode* item = inventory->find(field)) {
            if (auto v = reader.string(*item, field)) {
              out = *v;
            }
          }
        };
        text("vendor", host.inventory.vendor);
        text("model", host.inventory.model);
        text("firmware", host.inventory.firmware);
        text("serial", host.inventory.serial);
        text("location", host.inventory.location);
        if (const YamlNode* until = inventory->find("support_until")) {
          if (auto v = reader.string(*until, "support_until")) {
            host.inventory.support_until = parse_date(*v);
            if (!host.inventory.support_until) {
              reader.diagnostics().error(until->pos, "bad-date",
                                         "'" + *v + "' is not a date YYYY-MM-DD");
            }
          }
        }
      }
    }
    policy.hosts.push_back(std::move(host));
  }
}

void parse_groups(const YamlNode& node, Reader& reader, Policy& policy) {
  if (node.is_null() || !reader.named_mapping(node, "groups")) {
    return;
  }
  for (const auto& [key, value] : node.entries) {
    Group group{key.value, key.pos, {}};
    for (const YamlNode* item : reader.list(value, "group '" + key.value + "'")) {
      if (auto member = reader.name(*item, "a group member")) {
        group.members.push_back(*member);
      }
    }
    policy.groups.push_back(std::move(group));
  }
}

void parse_services(const YamlNode& node, Reader& reader, Policy& policy) {
  if (node.is_null() || !reader.named_mapping(node, "services")) {
    return;
  }
  for (const auto& [key, value] : node.entries) {
    Service service{key.value, key.pos, {}};
    for (const YamlNode* item : reader.non_empty_list(value, "service '" + key.value + "'", true)) {
      auto text = reader.string(*item, "a service item");
      if (!text) {
        continue;
      }
      std::string error;
      if (auto parsed = parse_service_item(*text, error)) {
        service.items.push_back(*parsed);
      } else {
        reader.diagnostics().error(item->pos, "bad-service", error);
      }
    }
    policy.services.push_back(std::move(service));
  }
}

void parse_rules(const YamlNode& node, Reader& reader, Policy& policy) {
  if (node.is_null()) {
    return;
  }
  for (const YamlNode* item : reader.list(node, "rules")) {
    if (!reader.mapping(*item, "rules[]", "a rule")) {
      continue;
    }
    Rule rule;
    rule.pos = item->pos;
    if (const YamlNode* name = item->find("name")) {
      if (auto text = reader.string(*name, "rule name")) {
        rule.name = *text;
        if (text->empty() || text->size() > 200) {
          reader.diagnostics().error(name->pos, "bad-value", "a rule name has 1 to 200 characters");
        }
      }
    } else {
      reader.missing(*item, item->pos, "a rule", "name");
    }
    auto endpoints = [&](std::string_view key, std::vector<NameRef>& out) {
      const YamlNode* value = item->find(key);
      if (!value) {
        reader.missing(*item, item->pos, "rule '" + rule.name + "'", key);
        return;
      }
      for (const YamlNode* ref : reader.non_empty_list(*value, key, true)) {
        if (auto name = reader.name(*ref, key)) {
          out.push_back(*name);
        }
      }
    };
    endpoints("from", rule.from);
    endpoints("to", rule.to);
    if (const YamlNode* services = item->find("services")) {
      rule.services = reader.service_uses(*services);
    } else {
      reader.missing(*item, item->pos, "rule '" + rule.name + "'", "services");
    }
    if (const YamlNode* schedule = item->find("schedule")) {
      rule.schedule = reader.name(*schedule, "schedule");
    }
    if (const YamlNode* log = item->find("log")) {
      rule.log = reader.boolean(*log, "log").value_or(false);
    }
    parse_rule_clauses(*item, reader, rule);
    policy.rules.push_back(std::move(rule));
  }
}

void parse_schedules(const YamlNode& node, Reader& reader, Policy& policy) {
  if (node.is_null() || !reader.named_mapping(node, "schedules")) {
    return;
  }
  for (const auto& [key, value] : node.entries) {
    Schedule schedule;
    schedule.name = key.value;
    schedule.pos = key.pos;
    if (!reader.mapping(value, "schedules.*", "schedule '" + key.value + "'")) {
      continue;
    }
    if (const YamlNode* weekly = value.find("weekly")) {
      for (const YamlNode* item : reader.list(*weekly, "weekly")) {
        auto text = reader.string(*item, "a weekly window");
        if (!text) {
          continue;
        }
        std::string error;
        if (auto window = parse_weekly_window(*text, error)) {
          window->pos = item->pos;
          schedule.weekly.push_back(*window);
        } else {
          reader.diagnostics().error(item->pos, "bad-schedule", error);
        }
      }
    }
    if (const YamlNode* closed = value.find("closed")) {
      for (const YamlNode* item : reader.list(*closed, "closed")) {
        auto text = reader.string(*item, "a closed date");
        if (!text) {
          continue;
        }
        std::string error;
        if (auto range = parse_date_range(*text, error)) {
          range->pos = item->pos;
          schedule.closed.push_back(*range);
        } else {
          reader.diagnostics().error(item->pos, "bad-schedule", error);
        }
      }
    }
    const YamlNode* weekly = value.find("weekly");
    if (!weekly || (weekly->is_sequence() && weekly->items.empty())) {
      reader.diagnostics().warning(key.pos, "schedule-never-open",
                                   "schedule '" + key.value +
                                       "' has no weekly window: it is "
                                       "never open",
                                   "add 'weekly: [\"mon-fri 08:00-17:00\"]'");
    }
    policy.schedules.push_back(std::move(schedule));
  }
}

}  // namespace sekisho::policy
