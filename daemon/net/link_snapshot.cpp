#include "daemon/net/link_snapshot.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <limits>
#include <thread>

#include <linux/if_addr.h>
#include <net/if.h>

namespace sekisho::net {

namespace {

constexpr int kSnapshotVersion = 1;
// IFA_PROTO_KERNEL_RA (linux/if_addr.h since 6.3; the attribute itself is older).
constexpr std::uint8_t kAddressFromRouterAdvertisement = 3;
// Duplicate address detection takes about a second (a random delay of up to
// rtr_solicit_delay, then dad_transmits probes retrans_time_ms apart); a link without
// carrier does not start it at all, and then waiting longer would not help.
constexpr std::chrono::seconds kDadWait{10};
constexpr std::chrono::milliseconds kDadPoll{50};

std::string text(const policy::InterfaceAddress& address) {
  return address.address.to_string() + "/" + std::to_string(address.prefix);
}

bool same(const policy::InterfaceAddress& a, const policy::InterfaceAddress& b) {
  return a.address == b.address && a.prefix == b.prefix;
}

void record_failure(RestoreReport& report, std::error_code& first, const std::string& what,
                    std::error_code error) {
  report.failed.push_back(what + ": " + error.message());
  if (!first) {
    first = error;
  }
}

// Waits until none of `sources` (IPv6 addresses of link `ifindex`) is tentative any more,
// or kDadWait has passed. Returns those whose detection failed.
std::vector<policy::IpAddress> wait_for_dad(NetlinkSocket& socket, int ifindex,
                                            const std::vector<policy::IpAddress>& sources) {
  const auto deadline = std::chrono::steady_clock::now() + kDadWait;
  for (;;) {
    std::vector<AddressStatus> statuses;
    if (list_addresses(socket, ifindex, statuses)) {
      return {};  // the routes will tell what is wrong
    }
    bool pending = false;
    std::vector<policy::IpAddress> failed;
    for (const AddressStatus& status : statuses) {
      if (std::find(sources.begin(), sources.end(), status.address.address) == sources.end()) {
        continue;
      }
      // A failed address stays tentative as well.
      if ((status.flags & IFA_F_DADFAILED) != 0) {
        failed.push_back(status.address.address);
      } else if ((status.flags & IFA_F_TENTATIVE) != 0) {
        pending = true;
      }
    }
    if (!pending || std::chrono::steady_clock::now() >= deadline) {
      return failed;
    }
    std::this_thread::sleep_for(kDadPoll);
  }
}

// --- JSON -------------------------------------------------------------------------------

nlohmann::json route_json(const Route& route) {
  nlohmann::json json{{"destination", route.destination.to_string()}};
  if (route.gateway) {
    json["gateway"] = route.gateway->to_string();
  }
  if (route.source) {
    json["source"] = route.source->to_string();
  }
  json["table"] = route.table;
  json["metric"] = route.metric;
  json["protocol"] = route.protocol;
  json["scope"] = route.scope;
  json["type"] = route.type;
  json["onlink"] = route.onlink;
  return json;
}

// A reader that remembers the first problem, prefixed with where it is.
struct Reader {
  std::string& error;

  bool fail(const std::string& where, const std::string& why) {
    error = where + ": " + why;
    return false;
  }

  // An integer from `min` to `max`, whether the JSON holds it as signed or unsigned.
  bool integer(const nlohmann::json& object, const char* key, const std::string& where,
               std::uint64_t min, std::uint64_t max, std::uint64_t& out) {
    const std::string path = where + "." + key;
    const auto found = object.find(key);
    if (found == object.end()) {
      return fail(path, "missing");
    }
    const std::string range =
        "not an integer from " + std::to_string(min) + " to " + std::to_string(max);
    if (found->is_number_unsigned()) {
      out = found->get<std::uint64_t>();
    } else if (found->is_number_integer() && found->get<std::int64_t>() >= 0) {
      out = static_cast<std::uint64_t>(found->get<std::int64_t>());
    } else {
      return fail(path, range + ": " + found->dump());
    }
    if (out < min || out > max) {
      return fail(path, range + ": " + found->dump());
    }
    return true;
  }

  // An optional address of `family` (absent or null: none).
  bool address(const nlohmann::json& object, const char* key, const std::string& where,
               policy::Family family, std::optional<policy::IpAddress>& out) {
    const std::string path = where + "." + key;
    const auto found = object.find(key);
    if (found == object.end() || found->is_null()) {
      out.reset();
      return true;
    }
    if (!found->is_string()) {
      return fail(path, "not a string: " + found->dump());
    }
    out = policy::parse_ip(found->get<std::string>());
    if (!out) {
      return fail(path, found->dump() + " is not an IPv4 or IPv6 address");
    }
    if (out->family != family) {
      return fail(path, std::string(out->family == policy::Family::V4 ? "an IPv4" : "an IPv6") +
                            " address for an " + (family == policy::Family::V4 ? "IPv4" : "IPv6") +
                            " destination");
    }
    return true;
  }

  bool route(const nlohmann::json& json, const std::string& where, Route& out) {
    if (!json.is_object()) {
      return fail(where, "not an object");
    }
    const auto destination = json.find("destination");
    if (destination == json.end()) {
      return fail(where + ".destination", "missing");
    }
    if (!destination->is_string()) {
      return fail(where + ".destination", "not a string: " + destination->dump());
    }
    std::string why;
    const auto cidr = policy::parse_cidr(destination->get<std::string>(), &why);
    if (!cidr) {
      return fail(where + ".destination", destination->dump() + ": " + why);
    }
    out.destination = *cidr;
    const policy::Family family = cidr->network.family;
    std::uint64_t table = 0;
    std::uint64_t metric = 0;
    std::uint64_t protocol = 0;
    std::uint64_t scope = 0;
    std::uint64_t type = 0;
    constexpr std::uint64_t kU32 = std::numeric_limits<std::uint32_t>::max();
    // Table 0 (RT_TABLE_UNSPEC) is no table; type 0 (RTN_UNSPEC) no type.
    if (!address(json, "gateway", where, family, out.gateway) ||
        !address(json, "source", where, family, out.source) ||
        !integer(json, "table", where, 1, kU32, table) ||
        !integer(json, "metric", where, 0, kU32, metric) ||
        !integer(json, "protocol", where, 0, 255, protocol) ||
        !integer(json, "scope", where, 0, 255, scope) ||
        !integer(json, "type", where, 1, 255, type)) {
      return false;
    }
    out.table = static_cast<std::uint32_t>(table);
    out.metric = static_cast<std::uint32_t>(metric);
    out.protocol = static_cast<std::uint8_t>(protocol);
    out.scope = static_cast<std::uint8_t>(scope);
    out.type = static_cast<std::uint8_t>(type);
    const auto onlink = json.find("onlink");
    if (onlink == json.end()) {
      return fail(where + ".onlink", "missing");
    }
    if (!onlink->is_boolean()) {
      return fail(where + ".onlink", "not true or false: " + onlink->dump());
    }
    out.onlink = onlink->get<bool>();
    out.ifindex = 0;
    return true;
  }

  // The array under `key`, required.
  const nlohmann::json* array(const nlohmann::json& object, const char* key) {
    const auto found = object.find(key);
    if (found == object.end()) {
      fail(key, "missing");
      return nullptr;
    }
    if (!found->is_array()) {
      fail(key, "not an array: " + found->dump());
      return nullptr;
    }
    return &*found;
  }
};

}  // namespace

std::error_code take_snapshot(NetlinkSocket& socket, const std::string& link, LinkSnapshot& out) {
  LinkInfo info;
  if (std::error_code error = get_link(socket, link, info)) {
    return error;
  }
  std::vector<AddressStatus> statuses;
  if (std::error_code error = list_addresses(socket, info.index, statuses)) {
    return error;
  }
  // No count: a route the snapshot cannot hold makes this EOPNOTSUPP.
  std::vector<Route> routes;
  if (std::error_code error = list_routes(socket, info.index, routes)) {
    return error;
  }
  LinkSnapshot snapshot;
  snapshot.link = info.name;
  for (const AddressStatus& status : statuses) {
    if (status.protocol == kAddressFromRouterAdvertisement ||
        (status.flags & IFA_F_TEMPORARY) != 0) {
      continue;
    }
    snapshot.addresses.push_back(status.address);
  }
  snapshot.routes = std::move(routes);
  out = std::move(snapshot);
  return {};
}

std::string to_string(const RestoreReport& report) {
  std::string text = std::to_string(report.added) + " added, " + std::to_string(report.present) +
                     " present, " + std::to_string(report.displaced.size()) + " displaced, " +
                     std::to_string(report.failed.size()) + " failed";
  if (!report.failed.empty()) {
    text += " (" + report.failed.front();
    text += report.failed.size() > 1 ? ", ...)" : ")";
  }
  return text;
}

std::error_code restore_snapshot(NetlinkSocket& socket, const LinkSnapshot& snapshot,
                                 RestoreReport& report) {
  report = RestoreReport{};
  LinkInfo info;
  if (std::error_code error = get_link(socket, snapshot.link, info)) {
    return error;
  }
  // What is there already. Adding addresses makes only kernel routes, which list_routes
  // leaves out, so one look at the routes before the addresses does.
  std::vector<policy::InterfaceAddress> present_addresses;
  if (std::error_code error = list_addresses(socket, info.index, present_addresses)) {
    return error;
  }
  std::vector<Route> present_routes;
  int unrepresentable = 0;  // not ours to judge here: they are simply not compared
  if (std::error_code error = list_routes(socket, info.index, present_routes, &unrepresentable)) {
    return error;
  }

  std::error_code first;
  for (const policy::InterfaceAddress& address : snapshot.addresses) {
    const bool there =
        std::any_of(present_addresses.begin(), present_addresses.end(),
                    [&](const policy::InterfaceAddress& other) { return same(address, other); });
    if (there) {
      ++report.present;
    } else if (std::error_code error = add_address(socket, info.index, address)) {
      record_failure(report, first, "address " + text(address), error);
    } else {
      ++report.added;
    }
  }

  // Routes on this link, in the order to add them: without a gateway, then with one.
  std::vector<Route> to_add;
  for (const bool with_gateway : {false, true}) {
    for (Route route : snapshot.routes) {
      if (route.gateway.has_value() != with_gateway) {
        continue;
      }
      route.ifindex = info.index;
      if (std::find(present_routes.begin(), present_routes.end(), route) != present_routes.end()) {
        ++report.present;
      } else {
        to_add.push_back(route);
      }
    }
  }

  std::vector<policy::IpAddress> sources;
  for (const Route& route : to_add) {
    if (route.source && route.source->family == policy::Family::V6) {
      sources.push_back(*route.source);
    }
  }
  if (!sources.empty()) {
    for (const policy::IpAddress& address : wait_for_dad(socket, info.index, sources)) {
      record_failure(report, first,
                     "address " + address.to_string() + " (duplicate address detection failed)",
                     std::error_code(EADDRINUSE, std::system_category()));
    }
  }

  for (const Route& route : to_add) {
    const std::error_code error = add_route(socket, route);
    if (!error) {
      ++report.added;
    } else if (error == std::errc::file_exists) {
      report.displaced.push_back(to_string(route));
    } else {
      record_failure(report, first, "route " + to_string(route), error);
    }
  }
  return first;
}

std::error_code take_snapshot(const std::string& link, LinkSnapshot& out) {
  NetlinkSocket socket;
  if (std::error_code error = open_route_socket(socket)) {
    return error;
  }
  return take_snapshot(socket, link, out);
}

std::error_code restore_snapshot(const LinkSnapshot& snapshot, RestoreReport& report) {
  NetlinkSocket socket;
  if (std::error_code error = open_route_socket(socket)) {
    report = RestoreReport{};
    return error;
  }
  return restore_snapshot(socket, snapshot, report);
}

nlohmann::json to_json(const LinkSnapshot& snapshot) {
  nlohmann::json addresses = nlohmann::json::array();
  for (const policy::InterfaceAddress& address : snapshot.addresses) {
    addresses.push_back(text(address));
  }
  nlohmann::json routes = nlohmann::json::array();
  for (const Route& route : snapshot.routes) {
    routes.push_back(route_json(route));
  }
  return {{"version", kSnapshotVersion},
          {"link", snapshot.link},
          {"addresses", std::move(addresses)},
          {"routes", std::move(routes)}};
}

std::optional<LinkSnapshot> snapshot_from_json(const nlohmann::json& json, std::string& error) {
  Reader reader{error};
  if (!json.is_object()) {
    reader.fail("snapshot", "not an object");
    return std::nullopt;
  }
  const auto version = json.find("version");
  if (version == json.end()) {
    reader.fail("version", "missing");
    return std::nullopt;
  }
  if (!version->is_number_integer() || version->get<std::int64_t>() != kSnapshotVersion) {
    reader.fail("version", version->dump() + ", but this sekishod reads version " +
                               std::to_string(kSnapshotVersion));
    return std::nullopt;
  }
  LinkSnapshot snapshot;
  const auto link = json.find("link");
  if (link == json.end()) {
    reader.fail("link", "missing");
    return std::nullopt;
  }
  if (!link->is_string() || link->get<std::string>().empty() ||
      link->get<std::string>().size() >= IFNAMSIZ ||
      link->get<std::string>().find('\0') != std::string::npos) {
    reader.fail("link", link->dump() + " is not an interface name (1 to " +
                            std::to_string(IFNAMSIZ - 1) + " bytes)");
    return std::nullopt;
  }
  snapshot.link = link->get<std::string>();

  const nlohmann::json* addresses = reader.array(json, "addresses");
  if (addresses == nullptr) {
    return std::nullopt;
  }
  for (std::size_t i = 0; i < addresses->size(); ++i) {
    const nlohmann::json& entry = (*addresses)[i];
    const std::string where = "addresses[" + std::to_string(i) + "]";
    std::optional<policy::InterfaceAddress> address;
    if (entry.is_string()) {
      address = policy::parse_interface_address(entry.get<std::string>());
    }
    if (!address) {
      reader.fail(where, entry.dump() + " is not an address/prefix such as 198.51.100.2/24");
      return std::nullopt;
    }
    snapshot.addresses.push_back(*address);
  }

  const nlohmann::json* routes = reader.array(json, "routes");
  if (routes == nullptr) {
    return std::nullopt;
  }
  for (std::size_t i = 0; i < routes->size(); ++i) {
    Route route;
    if (!reader.route((*routes)[i], "routes[" + std::to_string(i) + "]", route)) {
      return std::nullopt;
    }
    snapshot.routes.push_back(route);
  }
  return snapshot;
}

}  // namespace sekisho::net
