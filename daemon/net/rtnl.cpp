#include "daemon/net/rtnl.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>

#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>

#include "daemon/net/netlink_attributes.hpp"
#include "daemon/net/netlink_request.hpp"
#include "daemon/net/netlink_socket.hpp"
#include "daemon/net/netlink_transaction.hpp"

namespace sekisho::net {

namespace {

// Our requests are a header, a fixed struct and a few short attributes.
constexpr std::size_t kRequestSize = 512;
// The kernel holds the rtnl lock for every change; on a busy box that can take a while,
// but a daemon must not hang on it forever.
constexpr std::chrono::seconds kAnswerTimeout{10};
// A dump the kernel marks interrupted (addresses changed meanwhile) is tried this often.
constexpr int kDumpAttempts = 3;

std::error_code errno_code(int error) {
  return {error, std::system_category()};
}
std::error_code invalid() {
  return errno_code(EINVAL);
}

bool valid_name(const std::string& name) {
  return !name.empty() && name.size() < IFNAMSIZ && name.find('\0') == std::string::npos;
}

bool valid_address(const policy::InterfaceAddress& address) {
  return address.prefix >= 0 && address.prefix <= address.address.bits();
}

int family_of(const policy::IpAddress& address) {
  return address.family == policy::Family::V4 ? AF_INET : AF_INET6;
}

std::error_code bad_message() {
  return errno_code(EBADMSG);
}

// Runs `call` on a socket of its own: the one-shot forms.
template <typename Call>
std::error_code on_own_socket(Call call) {
  NetlinkSocket socket;
  if (std::error_code error = open_route_socket(socket)) {
    return error;
  }
  return call(socket);
}

struct LinkAnswer {
  LinkInfo info;
  bool seen = false;
};

std::error_code on_link(const nlmsghdr* header, LinkAnswer& answer) {
  if (header->nlmsg_type != RTM_NEWLINK) {
    return {};
  }
  const auto* message = fixed_header<ifinfomsg>(header);
  std::array<const nlattr*, IFLA_MAX + 1> attributes{};
  if (message == nullptr || !table_after<ifinfomsg>(header, attributes) ||
      attributes[IFLA_IFNAME] == nullptr) {
    return bad_message();
  }
  LinkInfo info;
  info.index = message->ifi_index;
  info.flags = message->ifi_flags;
  if (!read_string(attributes[IFLA_IFNAME], info.name)) {
    return bad_message();
  }
  if (const nlattr* link_info = attributes[IFLA_LINKINFO]) {
    std::array<const nlattr*, IFLA_INFO_MAX + 1> nested{};
    if (!table_nested(link_info, nested) ||
        (nested[IFLA_INFO_KIND] != nullptr && !read_string(nested[IFLA_INFO_KIND], info.kind))) {
      return bad_message();
    }
  }
  answer.info = std::move(info);
  answer.seen = true;
  return {};
}

// The body of RTM_NEWLINK/RTM_DELLINK/RTM_GETLINK for the link called `name` (by name, so
// no index lookup races with a rename or re-creation).
ifinfomsg* put_link(Request& request, const std::string& name) {
  auto* message = request.put_fixed<ifinfomsg>();
  message->ifi_family = AF_UNSPEC;
  // `name` was checked against IFNAMSIZ, so it fits.
  request.put_string(IFLA_IFNAME, name);
  return message;
}

struct AddressDump {
  unsigned index;
  std::vector<AddressStatus> addresses;
};

bool ipv6_link_local(const policy::IpAddress& address) {
  return address.family == policy::Family::V6 && address.bytes[0] == 0xfe &&
         (address.bytes[1] & 0xc0) == 0x80;
}

std::error_code on_address(const nlmsghdr* header, AddressDump& dump) {
  if (header->nlmsg_type != RTM_NEWADDR) {
    return {};
  }
  const auto* message = fixed_header<ifaddrmsg>(header);
  if (message == nullptr) {
    return bad_message();
  }
  // Kernels without strict checking send every link's addresses.
  if (message->ifa_index != dump.index ||
      (message->ifa_family != AF_INET && message->ifa_family != AF_INET6)) {
    return {};
  }
  policy::InterfaceAddress address;
  address.address.family = message->ifa_family == AF_INET ? policy::Family::V4 : policy::Family::V6;
  const std::size_t length = message->ifa_family == AF_INET ? 4 : 16;
  std::array<const nlattr*, IFA_MAX + 1> attributes{};
  if (!table_after<ifaddrmsg>(header, attributes)) {
    return bad_message();
  }
  // IFA_LOCAL is our own address; on a point-to-point link IFA_ADDRESS is the peer's.
  // IPv6 sends IFA_ADDRESS alone.
  const nlattr* attribute =
      attributes[IFA_LOCAL] != nullptr ? attributes[IFA_LOCAL] : attributes[IFA_ADDRESS];
  if (attribute == nullptr || payload(attribute).size() != length ||
      message->ifa_prefixlen > length * 8) {
    return bad_message();
  }
  std::memcpy(address.address.bytes.data(), payload(attribute).data(), length);
  address.prefix = message->ifa_prefixlen;
  if (ipv6_link_local(address.address)) {
    return {};
  }
  AddressStatus status{address, message->ifa_flags, 0};
  // The u8 in the header holds only the low flags; IFA_FLAGS has them all.
  if ((attributes[IFA_FLAGS] != nullptr && !read(attributes[IFA_FLAGS], status.flags)) ||
      (attributes[IFA_PROTO] != nullptr && !read(attributes[IFA_PROTO], status.protocol))) {
    return bad_message();
  }
  dump.addresses.push_back(status);
  return {};
}

void put_address(Request& request, int ifindex, const policy::InterfaceAddress& address) {
  auto* message = request.put_fixed<ifaddrmsg>();
  message->ifa_family = static_cast<std::uint8_t>(family_of(address.address));
  message->ifa_prefixlen = static_cast<std::uint8_t>(address.prefix);
  message->ifa_scope = RT_SCOPE_UNIVERSE;
  message->ifa_index = static_cast<unsigned>(ifindex);
  // Both the same, as `ip addr add` sends them: our address, no point-to-point peer.
  const std::size_t length = address.address.family == policy::Family::V4 ? 4 : 16;
  request.put_bytes(IFA_LOCAL, address.address.bytes.data(), length);
  request.put_bytes(IFA_ADDRESS, address.address.bytes.data(), length);
}

// The number of bytes of an address of `family` (AF_INET or AF_INET6).
std::size_t address_length(int family) {
  return family == AF_INET ? 4 : 16;
}

// An address attribute of the message's family; false when its size is another.
bool read_address(const nlattr* attribute, int family, policy::IpAddress& out) {
  const std::size_t length = address_length(family);
  if (payload(attribute).size() != length) {
    return false;
  }
  out.family = family == AF_INET ? policy::Family::V4 : policy::Family::V6;
  out.bytes = {};
  std::memcpy(out.bytes.data(), payload(attribute).data(), length);
  return true;
}

// Whether a next hop in RTA_MULTIPATH (struct rtnexthop records, each followed by its own
// attributes) goes out through `index`. False with `malformed` set when a record's length
// does not fit.
bool next_hop_uses(const nlattr* multipath, unsigned index, bool& malformed) {
  const std::uint8_t* bytes = payload(multipath).data();
  std::size_t remaining = payload(multipath).size();
  bool uses = false;
  while (remaining >= sizeof(rtnexthop)) {
    rtnexthop hop{};
    std::memcpy(&hop, bytes, sizeof hop);
    if (hop.rtnh_len < sizeof(rtnexthop) || hop.rtnh_len > remaining) {
      malformed = true;
      return false;
    }
    if (hop.rtnh_ifindex > 0 && static_cast<unsigned>(hop.rtnh_ifindex) == index) {
      uses = true;
    }
    const std::size_t step = std::min<std::size_t>(RTNH_ALIGN(hop.rtnh_len), remaining);
    bytes += step;
    remaining -= step;
  }
  return uses;
}

struct RouteDump {
  unsigned index;
  int family;
  std::vector<Route> routes;
  int unrepresentable = 0;
};

// Whether the route needs more than Route can carry. Any of these, restored without it,
// would be another route (or none: multipath, next-hop objects, encapsulations).
bool unrepresentable(const rtmsg& message,
                     const std::array<const nlattr*, RTA_MAX + 1>& attributes) {
  if (message.rtm_src_len != 0 || message.rtm_tos != 0) {
    return true;
  }
  for (const int type : {RTA_MULTIPATH, RTA_NH_ID, RTA_ENCAP, RTA_ENCAP_TYPE, RTA_VIA, RTA_NEWDST,
                         RTA_FLOW, RTA_SRC}) {
    if (attributes[static_cast<std::size_t>(type)] != nullptr) {
      return true;
    }
  }
  // The kernel sends RTA_METRICS only with a metric set (an empty nest is cancelled).
  if (const nlattr* metrics = attributes[RTA_METRICS];
      metrics != nullptr && !payload(metrics).empty()) {
    return true;
  }
  // IPv6 sends the router preference with every route; medium is what add_route gives.
  if (const nlattr* preference = attributes[RTA_PREF];
      preference != nullptr && (payload(preference).empty() || payload(preference)[0] != 0)) {
    return true;
  }
  if (const nlattr* expires = attributes[RTA_EXPIRES]; expires != nullptr) {
    return true;
  }
  // IPv6 reports a route's remaining lifetime in its cache info.
  if (const nlattr* cache = attributes[RTA_CACHEINFO];
      cache != nullptr && payload(cache).size() >= sizeof(rta_cacheinfo)) {
    rta_cacheinfo info{};
    std::memcpy(&info, payload(cache).data(), sizeof info);
    if (info.rta_expires != 0) {
      return true;
    }
  }
  return false;
}

std::error_code on_route(const nlmsghdr* header, RouteDump& dump) {
  if (header->nlmsg_type != RTM_NEWROUTE) {
    return {};
  }
  const auto* fixed = fixed_header<rtmsg>(header);
  if (fixed == nullptr) {
    return bad_message();
  }
  rtmsg message{};
  std::memcpy(&message, fixed, sizeof message);
  // A kernel without the family's handler answers with every family's routes.
  if (message.rtm_family != dump.family) {
    return {};
  }
  std::array<const nlattr*, RTA_MAX + 1> attributes{};
  if (!table_after<rtmsg>(header, attributes)) {
    return bad_message();
  }
  std::uint32_t oif = 0;
  std::uint32_t table_id = message.rtm_table;  // rtm_table is 8 bits; RTA_TABLE holds more
  std::uint32_t metric = 0;
  if ((attributes[RTA_OIF] != nullptr && !read(attributes[RTA_OIF], oif)) ||
      (attributes[RTA_TABLE] != nullptr && !read(attributes[RTA_TABLE], table_id)) ||
      (attributes[RTA_PRIORITY] != nullptr && !read(attributes[RTA_PRIORITY], metric))) {
    return bad_message();
  }
  // Kernels without strict checking send every link's routes; a multipath route names
  // its links in its next hops only.
  bool through_link = attributes[RTA_OIF] != nullptr && oif == dump.index;
  if (const nlattr* multipath = attributes[RTA_MULTIPATH]) {
    bool malformed = false;
    through_link = next_hop_uses(multipath, dump.index, malformed) || through_link;
    if (malformed) {
      return bad_message();
    }
  }
  if (!through_link) {
    return {};
  }
  Route route;
  route.table = table_id;
  if ((message.rtm_flags & RTM_F_CLONED) != 0 || route.table == RT_TABLE_LOCAL ||
      message.rtm_protocol == RTPROT_KERNEL || message.rtm_protocol == RTPROT_RA ||
      message.rtm_protocol == RTPROT_REDIRECT) {
    return {};
  }
  if (unrepresentable(message, attributes)) {
    ++dump.unrepresentable;
    return {};
  }
  const int family = message.rtm_family;
  if (message.rtm_dst_len > address_length(family) * 8) {
    return bad_message();
  }
  route.destination.network.family = family == AF_INET ? policy::Family::V4 : policy::Family::V6;
  if (const nlattr* destination = attributes[RTA_DST]) {
    if (!read_address(destination, family, route.destination.network)) {
      return bad_message();
    }
  }
  route.destination.prefix = message.rtm_dst_len;
  // The kernel keeps destinations without host bits; a Cidr must not have any either.
  route.destination.network =
      policy::mask(route.destination.network, route.destination.prefix).network;
  if (const nlattr* gateway = attributes[RTA_GATEWAY]) {
    policy::IpAddress address;
    if (!read_address(gateway, family, address)) {
      return bad_message();
    }
    route.gateway = address;
  }
  if (const nlattr* source = attributes[RTA_PREFSRC]) {
    policy::IpAddress address;
    if (!read_address(source, family, address)) {
      return bad_message();
    }
    route.source = address;
  }
  route.metric = metric;
  route.protocol = message.rtm_protocol;
  route.scope = message.rtm_scope;
  route.type = message.rtm_type;
  route.onlink = (message.rtm_flags & RTNH_F_ONLINK) != 0;
  route.ifindex = static_cast<int>(dump.index);
  dump.routes.push_back(route);
  return {};
}

bool same_family(const policy::IpAddress& address, const policy::Cidr& destination) {
  return address.family == destination.network.family;
}

bool valid_route(const Route& route) {
  const policy::Cidr& destination = route.destination;
  return route.ifindex > 0 && route.table != 0 && destination.prefix >= 0 &&
         destination.prefix <= destination.network.bits() &&
         policy::mask(destination.network, destination.prefix) == destination &&
         (!route.gateway || same_family(*route.gateway, destination)) &&
         (!route.source || same_family(*route.source, destination));
}

// The body of RTM_NEWROUTE/RTM_DELROUTE, every field of `route` set (none left for the
// kernel to default), as `ip route` sends them.
void put_route(Request& request, const Route& route) {
  const int family = family_of(route.destination.network);
  const std::size_t length = address_length(family);
  auto* message = request.put_fixed<rtmsg>();
  message->rtm_family = static_cast<std::uint8_t>(family);
  message->rtm_dst_len = static_cast<std::uint8_t>(route.destination.prefix);
  // Ids above 255 do not fit the header: RT_TABLE_UNSPEC there, the id in RTA_TABLE.
  message->rtm_table =
      route.table < 256 ? static_cast<std::uint8_t>(route.table) : std::uint8_t{RT_TABLE_UNSPEC};
  message->rtm_protocol = route.protocol;
  message->rtm_scope = route.scope;
  message->rtm_type = route.type;
  message->rtm_flags = route.onlink ? RTNH_F_ONLINK : 0U;
  // Everything fits kRequestSize: three addresses and four u32 attributes.
  if (route.destination.prefix > 0) {
    request.put_bytes(RTA_DST, route.destination.network.bytes.data(), length);
  }
  request.put_u32(RTA_TABLE, route.table);
  request.put_u32(RTA_OIF, static_cast<std::uint32_t>(route.ifindex));
  request.put_u32(RTA_PRIORITY, route.metric);
  if (route.gateway) {
    request.put_bytes(RTA_GATEWAY, route.gateway->bytes.data(), length);
  }
  if (route.source) {
    request.put_bytes(RTA_PREFSRC, route.source->bytes.data(), length);
  }
}

}  // namespace

bool LinkInfo::up() const {
  return (flags & IFF_UP) != 0;
}

std::error_code open_route_socket(NetlinkSocket& socket) {
  if (std::error_code error = socket.open(NETLINK_ROUTE, kAnswerTimeout)) {
    return error;
  }
  // The ACK need not echo our request back.
  socket.set_option(NETLINK_CAP_ACK, 1);
  // The kernel then filters dumps by the header (the link of RTM_GETADDR) instead of
  // sending every address of every link; older kernels refuse the option and we filter
  // ourselves anyway.
  socket.set_option(NETLINK_GET_STRICT_CHK, 1);
  return {};
}

std::error_code get_link(NetlinkSocket& socket, const std::string& name, LinkInfo& out) {
  if (!valid_name(name)) {
    return invalid();
  }
  Request request(RTM_GETLINK, NLM_F_ACK, kRequestSize);
  put_link(request, name);
  // Ask for no statistics: they are most of the answer and nothing here reads them.
  request.put_u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
  LinkAnswer answer;
  if (std::error_code error = transact(
          socket, request, [&](const nlmsghdr* message) { return on_link(message, answer); })) {
    return error;
  }
  if (!answer.seen) {
    return errno_code(EBADMSG);
  }
  out = std::move(answer.info);
  return {};
}

std::error_code create_link(NetlinkSocket& socket, const std::string& name,
                            const std::string& kind) {
  if (!valid_name(name) || kind.empty() || kind.find('\0') != std::string::npos) {
    return invalid();
  }
  // EXCL: an existing link of that name is never reconfigured by accident.
  Request request(RTM_NEWLINK, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, kRequestSize);
  put_link(request, name);
  Request::Nest link_info = request.nest(IFLA_LINKINFO);
  if (!link_info || !request.put_string(IFLA_INFO_KIND, kind)) {
    return invalid();  // a kind too long for any kernel
  }
  link_info.end();
  return transact(socket, request);
}

std::error_code delete_link(NetlinkSocket& socket, const std::string& name) {
  if (!valid_name(name)) {
    return invalid();
  }
  Request request(RTM_DELLINK, NLM_F_ACK, kRequestSize);
  put_link(request, name);
  return transact(socket, request);
}

std::error_code set_link_up(NetlinkSocket& socket, const std::string& name, bool up) {
  if (!valid_name(name)) {
    return invalid();
  }
  // Without NLM_F_CREATE a missing link is ENODEV, never a new one.
  Request request(RTM_NEWLINK, NLM_F_ACK, kRequestSize);
  ifinfomsg* message = put_link(request, name);
  // ifi_change says which flags to touch, ifi_flags their new value.
  message->ifi_change = IFF_UP;
  message->ifi_flags = up ? IFF_UP : 0;
  return transact(socket, request);
}

std::error_code list_addresses(NetlinkSocket& socket, int ifindex,
                               std::vector<AddressStatus>& out) {
  if (ifindex <= 0) {
    return invalid();
  }
  return retry_interrupted(kDumpAttempts, [&]() -> std::error_code {
    Request request(RTM_GETADDR, NLM_F_DUMP, kRequestSize);
    auto* message = request.put_fixed<ifaddrmsg>();
    message->ifa_family = AF_UNSPEC;  // both families in one dump
    message->ifa_index = static_cast<unsigned>(ifindex);
    AddressDump dump{static_cast<unsigned>(ifindex), {}};
    if (std::error_code error = transact(
            socket, request, [&](const nlmsghdr* answer) { return on_address(answer, dump); })) {
      return error;
    }
    out = std::move(dump.addresses);
    return {};
  });
}

std::error_code list_addresses(NetlinkSocket& socket, int ifindex,
                               std::vector<policy::InterfaceAddress>& out) {
  std::vector<AddressStatus> statuses;
  if (std::error_code error = list_addresses(socket, ifindex, statuses)) {
    return error;
  }
  out.clear();
  for (const AddressStatus& status : statuses) {
    out.push_back(status.address);
  }
  return {};
}

std::error_code add_address(NetlinkSocket& socket, int ifindex,
                            const policy::InterfaceAddress& address) {
  if (ifindex <= 0 || !valid_address(address)) {
    return invalid();
  }
  // REPLACE: an address already there is updated, not refused with EEXIST.
  Request request(RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE, kRequestSize);
  put_address(request, ifindex, address);
  return transact(socket, request);
}

std::error_code delete_address(NetlinkSocket& socket, int ifindex,
                               const policy::InterfaceAddress& address) {
  if (ifindex <= 0 || !valid_address(address)) {
    return invalid();
  }
  Request request(RTM_DELADDR, NLM_F_ACK, kRequestSize);
  put_address(request, ifindex, address);
  return transact(socket, request);
}

std::string to_string(const Route& route) {
  std::string text = route.destination.to_string();
  if (route.gateway) {
    text += " via " + route.gateway->to_string();
  }
  if (route.source) {
    text += " src " + route.source->to_string();
  }
  text += " ifindex " + std::to_string(route.ifindex) + " table " + std::to_string(route.table) +
          " metric " + std::to_string(route.metric) + " proto " + std::to_string(route.protocol) +
          " scope " + std::to_string(route.scope) + " type " + std::to_string(route.type);
  if (route.onlink) {
    text += " onlink";
  }
  return text;
}

std::error_code list_routes(NetlinkSocket& socket, int ifindex, std::vector<Route>& out,
                            int* unrepresentable) {
  if (ifindex <= 0) {
    return invalid();
  }
  std::vector<Route> routes;
  int left_out = 0;
  // One dump per family: an AF_UNSPEC dump also walks the multicast routing families.
  for (const int family : {AF_INET, AF_INET6}) {
    RouteDump dump{static_cast<unsigned>(ifindex), family, {}, 0};
    std::error_code error = retry_interrupted(kDumpAttempts, [&]() -> std::error_code {
      dump.routes.clear();
      dump.unrepresentable = 0;
      Request request(RTM_GETROUTE, NLM_F_DUMP, kRequestSize);
      auto* message = request.put_fixed<rtmsg>();
      message->rtm_family = static_cast<std::uint8_t>(family);
      // rtm_table 0 with no RTA_TABLE: every table. The kernel filters by RTA_OIF under
      // strict checking; we check again in on_route for kernels without it.
      request.put_u32(RTA_OIF, static_cast<std::uint32_t>(ifindex));
      return transact(socket, request,
                      [&](const nlmsghdr* answer) { return on_route(answer, dump); });
    });
    // A kernel without IPv6 has no routes of it.
    if (error && family == AF_INET6 && error.value() == EAFNOSUPPORT) {
      error = {};
    }
    if (error) {
      return error;
    }
    routes.insert(routes.end(), dump.routes.begin(), dump.routes.end());
    left_out += dump.unrepresentable;
  }
  if (unrepresentable == nullptr && left_out > 0) {
    return errno_code(EOPNOTSUPP);
  }
  if (unrepresentable != nullptr) {
    *unrepresentable = left_out;
  }
  out = std::move(routes);
  return {};
}

std::error_code add_route(NetlinkSocket& socket, const Route& route) {
  if (!valid_route(route)) {
    return invalid();
  }
  // EXCL: IPv6 would otherwise add a second next hop to a route of the same metric.
  Request request(RTM_NEWROUTE, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, kRequestSize);
  put_route(request, route);
  return transact(socket, request);
}

std::error_code delete_route(NetlinkSocket& socket, const Route& route) {
  if (!valid_route(route)) {
    return invalid();
  }
  Request request(RTM_DELROUTE, NLM_F_ACK, kRequestSize);
  put_route(request, route);
  return transact(socket, request);
}

std::error_code get_link(const std::string& name, LinkInfo& out) {
  return on_own_socket([&](NetlinkSocket& socket) { return get_link(socket, name, out); });
}

std::error_code create_link(const std::string& name, const std::string& kind) {
  return on_own_socket([&](NetlinkSocket& socket) { return create_link(socket, name, kind); });
}

std::error_code delete_link(const std::string& name) {
  return on_own_socket([&](NetlinkSocket& socket) { return delete_link(socket, name); });
}

std::error_code set_link_up(const std::string& name, bool up) {
  return on_own_socket([&](NetlinkSocket& socket) { return set_link_up(socket, name, up); });
}

std::error_code list_addresses(int ifindex, std::vector<policy::InterfaceAddress>& out) {
  return on_own_socket([&](NetlinkSocket& socket) { return list_addresses(socket, ifindex, out); });
}

std::error_code list_addresses(int ifindex, std::vector<AddressStatus>& out) {
  return on_own_socket([&](NetlinkSocket& socket) { return list_addresses(socket, ifindex, out); });
}

std::error_code add_address(int ifindex, const policy::InterfaceAddress& address) {
  return on_own_socket(
      [&](NetlinkSocket& socket) { return add_address(socket, ifindex, address); });
}

std::error_code delete_address(int ifindex, const policy::InterfaceAddress& address) {
  return on_own_socket(
      [&](NetlinkSocket& socket) { return delete_address(socket, ifindex, address); });
}

std::error_code list_routes(int ifindex, std::vector<Route>& out, int* unrepresentable) {
  return on_own_socket(
      [&](NetlinkSocket& socket) { return list_routes(socket, ifindex, out, unrepresentable); });
}

std::error_code add_route(const Route& route) {
  return on_own_socket([&](NetlinkSocket& socket) { return add_route(socket, route); });
}

std::error_code delete_route(const Route& route) {
  return on_own_socket([&](NetlinkSocket& socket) { return delete_route(socket, route); });
}

}  // namespace sekisho::net
