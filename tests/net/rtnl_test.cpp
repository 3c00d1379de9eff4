// daemon/net/rtnl and link_snapshot against the real kernel. Changes links, so it must run
// inside a throw-away network namespace: tests/net/netns_lab.sh makes one and runs this
// binary in it; run directly in the machine's own namespace, every test case that touches
// the kernel refuses to start (the JSON one does not).
// What the library reports is compared with `ip -j addr show` and `ip -j route show`, read
// independently; links, addresses and routes the library is to find are made with `ip`.

#include "daemon/net/rtnl.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <nlohmann/json.hpp>
#include <sys/resource.h>
#include <sys/utsname.h>

#include "daemon/net/link_snapshot.hpp"
#include "daemon/net/rtnl_rules.hpp"
#include "tests/net/lab_support.hpp"

namespace net = sekisho::net;
namespace policy = sekisho::policy;
using sekisho::testing::run;

namespace {

std::string text(const policy::InterfaceAddress& address) {
  return address.address.to_string() + "/" + std::to_string(address.prefix);
}

std::vector<std::string> texts(const std::vector<policy::InterfaceAddress>& addresses) {
  std::vector<std::string> out;
  for (const auto& address : addresses) {
    out.push_back(text(address));
  }
  std::sort(out.begin(), out.end());
  return out;
}

// What iproute2 says is on `link`, IPv6 link-local (scope link) left out as the library
// promises; `link_local` counts those.
std::vector<std::string> ip_addresses(const std::string& link, int* link_local = nullptr) {
  const auto json = nlohmann::json::parse(run("ip -j addr show dev " + link));
  std::vector<std::string> out;
  int skipped = 0;
  for (const auto& entry : json.at(0).at("addr_info")) {
    const std::string family = entry.at("family");
    if (family != "inet" && family != "inet6") {
      continue;
    }
    if (family == "inet6" && entry.value("scope", "") == "link") {
      ++skipped;
      continue;
    }
    out.push_back(entry.at("local").get<std::string>() + "/" +
                  std::to_string(entry.at("prefixlen").get<int>()));
  }
  std::sort(out.begin(), out.end());
  if (link_local != nullptr) {
    *link_local = skipped;
  }
  return out;
}

policy::InterfaceAddress address(const char* text_form) {
  auto parsed = policy::parse_interface_address(text_form);
  REQUIRE_MESSAGE(parsed.has_value(), std::string(text_form));
  return *parsed;
}

// Deletes the link at the end of a test case, also when a check failed.
struct LinkGuard {
  std::string name;
  ~LinkGuard() { net::delete_link(name); }
};

// A kind of link this kernel can create with no further attributes. "dummy" is the obvious
// one, but kernels built without it exist (this lab's is one); "ifb" and "bridge" are then
// just as inert. Creates `name` and returns the kind, or "" when none works.
std::string create_scratch_link(const std::string& name) {
  for (const std::string kind : {"dummy", "ifb", "bridge"}) {
    const std::error_code error = net::create_link(name, kind);
    if (!error) {
      MESSAGE("scratch links are of kind \"" << kind << "\"");
      return kind;
    }
    MESSAGE("create_link(" << name << ", " << kind << "): " << error.message());
  }
  return "";
}

}  // namespace

TEST_CASE("lo: index 1, down in a new namespace, up after set_link_up") {
  REQUIRE_LAB();
  net::LinkInfo lo;
  REQUIRE(!net::get_link("lo", lo));
  CHECK(lo.index == 1);
  CHECK(lo.name == "lo");
  CHECK(lo.kind.empty());
  CHECK((lo.flags & IFF_LOOPBACK) != 0);

  REQUIRE(!net::set_link_up("lo", true));
  REQUIRE(!net::get_link("lo", lo));
  CHECK(lo.up());
  // Setting the state it has already is harmless.
  CHECK(!net::set_link_up("lo", true));

  std::vector<policy::InterfaceAddress> addresses;
  REQUIRE(!net::list_addresses(lo.index, addresses));
  CHECK(texts(addresses) == ip_addresses("lo"));
  CHECK(texts(addresses) == std::vector<std::string>{"127.0.0.1/8", "::1/128"});
}

TEST_CASE("a missing link is ENODEV for every call that names it") {
  REQUIRE_LAB();
  net::LinkInfo info;
  info.index = 42;
  std::error_code error = net::get_link("sk-missing0", info);
  CHECK(error == std::errc::no_such_device);
  CHECK(error.value() == ENODEV);
  CHECK(error.category() == std::system_category());
  CHECK(info.index == 42);  // untouched on failure
  CHECK(net::set_link_up("sk-missing0", true) == std::errc::no_such_device);
  CHECK(net::delete_link("sk-missing0") == std::errc::no_such_device);
}

TEST_CASE("names that can never be valid are EINVAL without asking the kernel") {
  REQUIRE_LAB();
  net::LinkInfo info;
  CHECK(net::get_link("", info) == std::errc::invalid_argument);
  CHECK(net::get_link("sixteen-chars-xx", info) == std::errc::invalid_argument);
  CHECK(net::get_link(std::string("lo\0x", 4), info) == std::errc::invalid_argument);
  CHECK(net::create_link("sk0", "") == std::errc::invalid_argument);
  CHECK(net::add_address(1, policy::InterfaceAddress{{}, 33}) == std::errc::invalid_argument);
  CHECK(net::add_address(0, address("198.18.50.1/24")) == std::errc::invalid_argument);
  std::vector<policy::InterfaceAddress> addresses;
  CHECK(net::list_addresses(-1, addresses) == std::errc::invalid_argument);
}

TEST_CASE("create, bring up, address, delete a scratch link") {
  REQUIRE_LAB();
  const std::string name = "sk-rtnl0";
  LinkGuard guard{name};
  const std::string kind = create_scratch_link(name);
  REQUIRE_MESSAGE(!kind.empty(), "no link kind this kernel can create");

  net::LinkInfo link;
  REQUIRE(!net::get_link(name, link));
  CHECK(link.name == name);
  CHECK(link.kind == kind);
  CHECK(link.index > 1);
  CHECK(!link.up());
  CHECK(net::create_link(name, kind) == std::errc::file_exists);

  // Up first, so the kernel adds its IPv6 link-local address, which the list leaves out.
  REQUIRE(!net::set_link_up(name, true));
  REQUIRE(!net::get_link(name, link));
  CHECK(link.up());

  const auto v4 = address("198.18.50.1/24");
  const auto v6 = address("2001:db8:50::1/64");
  REQUIRE(!net::add_address(link.index, v4));
  REQUIRE(!net::add_address(link.index, v6));

  std::vector<policy::InterfaceAddress> addresses;
  REQUIRE(!net::list_addresses(link.index, addresses));
  int link_local = 0;
  const std::vector<std::string> expected{"198.18.50.1/24", "2001:db8:50::1/64"};
  CHECK(texts(addresses) == expected);
  CHECK(ip_addresses(name, &link_local) == expected);
  MESSAGE("iproute2 also lists " << link_local << " IPv6 link-local address(es), left out");

  // Again: NLM_F_REPLACE makes it harmless, and nothing is doubled.
  CHECK(!net::add_address(link.index, v4));
  CHECK(!net::add_address(link.index, v6));
  REQUIRE(!net::list_addresses(link.index, addresses));
  CHECK(texts(addresses) == expected);
  CHECK(ip_addresses(name) == expected);

  // The same address under another prefix is another address for delete.
  CHECK(net::delete_address(link.index, address("198.18.50.1/25")) ==
        std::errc::address_not_available);
  REQUIRE(!net::delete_address(link.index, v4));
  REQUIRE(!net::list_addresses(link.index, addresses));
  CHECK(texts(addresses) == std::vector<std::string>{"2001:db8:50::1/64"});
  CHECK(ip_addresses(name) == std::vector<std::string>{"2001:db8:50::1/64"});
  CHECK(net::delete_address(link.index, v4) == std::errc::address_not_available);

  REQUIRE(!net::set_link_up(name, false));
  REQUIRE(!net::get_link(name, link));
  CHECK(!link.up());

  const int index = link.index;
  REQUIRE(!net::delete_link(name));
  CHECK(net::get_link(name, link) == std::errc::no_such_device);
  const std::error_code gone = net::list_addresses(index, addresses);
  MESSAGE("list_addresses of a deleted link: " << gone.message());
  CHECK(gone == std::errc::no_such_device);
}

// The lowest descriptor number not in use: with RLIMIT_NOFILE at it, no new one is free.
int lowest_free_descriptor() {
  for (int fd = 0;; ++fd) {
    if (fcntl(fd, F_GETFD) < 0) {
      return fd;
    }
  }
}

TEST_CASE("a kept socket: leftovers of earlier requests and a full descriptor table") {
  REQUIRE_LAB();
  const std::string name = "sk-kept0";
  LinkGuard guard{name};
  REQUIRE(!create_scratch_link(name).empty());
  net::LinkInfo link;
  REQUIRE(!net::get_link(name, link));
  // Enough addresses for a dump of many parts.
  const std::string batch = std::filesystem::temp_directory_path() / "sk-kept-addresses";
  {
    std::ofstream out(batch);
    for (int i = 0; i < 2000; ++i) {
      out << "addr add 198.18." << 100 + i / 250 << '.' << 1 + i % 250 << "/32 dev " << name
          << '\n';
    }
  }
  run("ip -batch " + batch);
  std::filesystem::remove(batch);

  net::NetlinkSocket socket;
  REQUIRE(!net::open_route_socket(socket));
  std::vector<policy::InterfaceAddress> addresses;
  REQUIRE(!net::list_addresses(socket, link.index, addresses));
  REQUIRE(addresses.size() == 2000);

  // A dump read only in part (a reader that gave up): its rest is discarded, and the
  // kernel, which refuses a second dump on a socket while one runs (EBUSY), has finished
  // it by then.
  nlmsghdr* request = nullptr;
  std::vector<char> buffer(MNL_SOCKET_BUFFER_SIZE);
  request = mnl_nlmsg_put_header(buffer.data());
  request->nlmsg_type = RTM_GETADDR;
  request->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  request->nlmsg_seq = socket.next_sequence();
  auto* header = static_cast<ifaddrmsg*>(mnl_nlmsg_put_extra_header(request, sizeof(ifaddrmsg)));
  header->ifa_family = AF_UNSPEC;
  REQUIRE(!socket.send(request, request->nlmsg_len));
  std::vector<std::uint8_t> part;
  REQUIRE(!socket.receive(part));
  REQUIRE(!net::list_addresses(socket, link.index, addresses));
  CHECK(addresses.size() == 2000);

  // Answers nobody read, more than the receive buffer holds: the kernel drops some and
  // says so (ENOBUFS) at the next read; the next request is not hurt by either.
  socket.set_buffers(0, 4096);
  request = mnl_nlmsg_put_header(buffer.data());
  request->nlmsg_type = RTM_GETLINK;
  request->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  auto* info = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(request, sizeof(ifinfomsg)));
  info->ifi_index = link.index;
  for (int i = 0; i < 200; ++i) {
    request->nlmsg_seq = socket.next_sequence();
    REQUIRE(mnl_socket_sendto(socket.get(), request, request->nlmsg_len) >= 0);
  }
  net::LinkInfo again;
  CHECK(!net::get_link(socket, name, again));
  CHECK(again.index == link.index);
  socket.set_buffers(0, 1 << 20);

  // No descriptor free: the kept socket still works, a socket of its own cannot be had.
  rlimit limits{};
  REQUIRE(getrlimit(RLIMIT_NOFILE, &limits) == 0);
  rlimit full = limits;
  full.rlim_cur = static_cast<rlim_t>(lowest_free_descriptor());
  REQUIRE(setrlimit(RLIMIT_NOFILE, &full) == 0);
  const std::error_code own = net::get_link(name, again);
  const std::error_code kept = net::set_link_up(socket, name, true);
  const std::error_code listed = net::list_addresses(socket, link.index, addresses);
  REQUIRE(setrlimit(RLIMIT_NOFILE, &limits) == 0);
  CHECK(own == std::errc::too_many_files_open);
  CHECK(!kept);
  CHECK(!listed);
  CHECK(addresses.size() == 2000);
  REQUIRE(!net::get_link(name, again));
  CHECK(again.up());
}

TEST_CASE("a wireguard link fails cleanly where the kernel has no wireguard") {
  REQUIRE_LAB();
  utsname host{};
  uname(&host);
  // Creating a wireguard link autoloads the module when there are modules to load.
  const bool kernel_may_have_it =
      std::filesystem::exists("/sys/module/wireguard") ||
      std::filesystem::exists(std::string("/lib/modules/") + host.release);
  const std::string name = "sk-wg0";
  LinkGuard guard{name};
  const std::error_code error = net::create_link(name, "wireguard");
  if (error) {
    MESSAGE("create_link(" << name << ", wireguard): " << error.message() << " (errno "
                           << error.value() << ")");
    net::LinkInfo link;
    CHECK(net::get_link(name, link) == std::errc::no_such_device);
  } else {
    REQUIRE_MESSAGE(kernel_may_have_it, "created a wireguard link on a kernel without it?");
    MESSAGE("this kernel has wireguard: the link was created");
    net::LinkInfo link;
    REQUIRE(!net::get_link(name, link));
    CHECK(link.kind == "wireguard");
  }
  if (!kernel_may_have_it) {
    CHECK(error);
  }
}

// --- Routes and link snapshots ----------------------------------------------------------
//
// A WAN-like link: a veth pair with both ends here, the peer up (for carrier, so IPv6
// duplicate address detection runs) and without addresses (a gateway that is a local
// address would be refused). Addresses and routes are made with `ip`, as an operator or a
// DHCP client would.

namespace {

const std::string kWan = "sk-wan0";
const std::string kWanPeer = "sk-wan0p";

void write_sysctl(const std::string& path, const std::string& value) {
  std::ofstream file("/proc/sys/" + path);
  file << value << '\n';
  file.close();
  REQUIRE_MESSAGE(file.good(), "cannot write /proc/sys/" << path);
}

// IPv6 addresses are dropped when their link goes down unless keep_addr_on_down is set
// (for all or the link); the kernel's default is 0, set here so that no host setting leaks
// in. 1 keeps them (and still drops the routes).
void set_keep_addr_on_down(int value) {
  for (const char* scope : {"all", "default"}) {
    write_sysctl(std::string("net/ipv6/conf/") + scope + "/keep_addr_on_down",
                 std::to_string(value));
  }
}

void create_wan() {
  run("ip link add " + kWan + " type veth peer name " + kWanPeer);
  run("ip link set " + kWanPeer + " up");
  run("ip link set " + kWan + " up");
}

int wan_index() {
  net::LinkInfo link;
  REQUIRE(!net::get_link(kWan, link));
  return link.index;
}

// Waits (at most 10 s) until no IPv6 address of link `ifindex` is tentative: the kernel
// refuses a tentative address as a route's source.
void wait_for_dad(int ifindex) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    std::vector<net::AddressStatus> statuses;
    REQUIRE(!net::list_addresses(ifindex, statuses));
    const bool tentative = std::any_of(
        statuses.begin(), statuses.end(),
        [](const net::AddressStatus& status) { return (status.flags & IFA_F_TENTATIVE) != 0; });
    if (!tentative) {
      return;
    }
    REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline, "DAD still running after 10 s");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

const std::vector<std::string> kWanAddresses{"198.51.100.2/24", "2001:db8:100::2/64"};

// What the lab's WAN is given: the issue's routes, one in a table above 255 (which does not
// fit rtm_table), one without a gateway, one with another protocol, two with a source.
void configure_wan() {
  const std::string dev = " dev " + kWan;
  run("ip addr add 198.51.100.2/24" + dev);
  run("ip addr add 2001:db8:100::2/64" + dev);
  run("ip route add default via 198.51.100.1" + dev);
  run("ip route add 203.0.113.0/24 via 198.51.100.1" + dev + " metric 50");
  run("ip route add 203.0.113.0/25 via 198.51.100.1" + dev +
      " table 100 src 198.51.100.2 proto static");
  run("ip route add 203.0.113.128/25" + dev + " table 1000");
  run("ip -6 route add default via 2001:db8:100::1" + dev);
  wait_for_dad(wan_index());
  run("ip -6 route add 2001:db8:200::/48 via 2001:db8:100::1" + dev + " src 2001:db8:100::2");
}

// What iproute2 would be asked to match, in one form for both sides.
const std::vector<std::string> kWanRoutes{
    "0.0.0.0/0 via 198.51.100.1 table 254 metric 0",
    "203.0.113.0/24 via 198.51.100.1 table 254 metric 50",
    "203.0.113.0/25 via 198.51.100.1 src 198.51.100.2 table 100 metric 0",
    "203.0.113.128/25 table 1000 metric 0",
    "::/0 via 2001:db8:100::1 table 254 metric 1024",
    "2001:db8:200::/48 via 2001:db8:100::1 src 2001:db8:100::2 table 254 metric 1024",
};

std::string route_key(const net::Route& route) {
  std::string key = route.destination.to_string();
  if (route.gateway) {
    key += " via " + route.gateway->to_string();
  }
  if (route.source) {
    key += " src " + route.source->to_string();
  }
  return key + " table " + std::to_string(route.table) + " metric " + std::to_string(route.metric);
}

std::vector<std::string> route_keys(const std::vector<net::Route>& routes) {
  std::vector<std::string> keys;
  for (const auto& route : routes) {
    keys.push_back(route_key(route));
  }
  std::sort(keys.begin(), keys.end());
  return keys;
}

std::vector<std::string> sorted(std::vector<std::string> values) {
  std::sort(values.begin(), values.end());
  return values;
}

// Routes through `link` as iproute2 shows them, from all tables, less what list_routes
// promises to leave out (protocol kernel, the local table), which `kernel_made` counts:
// the filter checked against iproute2's own reading of the same dump fields.
std::vector<std::string> ip_routes(const std::string& link, int* kernel_made = nullptr) {
  std::vector<std::string> out;
  int skipped = 0;
  for (const std::string family : {"-4", "-6"}) {
    const auto json =
        nlohmann::json::parse(run("ip " + family + " -j route show table all dev " + link));
    for (const auto& entry : json) {
      if (entry.value("protocol", "") == "kernel" || entry.value("table", "") == "local") {
        ++skipped;
        continue;
      }
      std::string destination = entry.at("dst");
      if (destination == "default") {
        destination = family == "-4" ? "0.0.0.0/0" : "::/0";
      } else if (destination.find('/') == std::string::npos) {
        destination += family == "-4" ? "/32" : "/128";
      }
      std::string key = destination;
      if (entry.contains("gateway")) {
        key += " via " + entry.at("gateway").get<std::string>();
      }
      if (entry.contains("prefsrc")) {
        key += " src " + entry.at("prefsrc").get<std::string>();
      }
      const std::string table = entry.value("table", "main");
      key += " table " + (table == "main" ? std::string("254") : table);
      key += " metric " + std::to_string(entry.value("metric", 0));
      out.push_back(key);
    }
  }
  std::sort(out.begin(), out.end());
  if (kernel_made != nullptr) {
    *kernel_made = skipped;
  }
  return out;
}

std::vector<std::string> snapshot_addresses(const net::LinkSnapshot& snapshot) {
  return texts(snapshot.addresses);
}

// The snapshot's routes as they must be on link `ifindex`, in list order.
std::vector<net::Route> on_link(std::vector<net::Route> routes, int ifindex) {
  for (auto& route : routes) {
    route.ifindex = ifindex;
  }
  std::sort(routes.begin(), routes.end(), [](const net::Route& a, const net::Route& b) {
    return net::to_string(a) < net::to_string(b);
  });
  return routes;
}

std::vector<net::Route> listed_routes(int ifindex) {
  std::vector<net::Route> routes;
  REQUIRE(!net::list_routes(ifindex, routes));
  return on_link(routes, ifindex);
}

std::vector<std::string> listed_addresses(int ifindex) {
  std::vector<policy::InterfaceAddress> addresses;
  REQUIRE(!net::list_addresses(ifindex, addresses));
  return texts(addresses);
}

std::optional<policy::IpAddress> ip(const char* text_form) {
  auto parsed = policy::parse_ip(text_form);
  REQUIRE_MESSAGE(parsed.has_value(), std::string(text_form));
  return parsed;
}

policy::Cidr cidr(const char* text_form) {
  auto parsed = policy::parse_cidr(text_form);
  REQUIRE_MESSAGE(parsed.has_value(), std::string(text_form));
  return *parsed;
}

const net::Route* find_route(const std::vector<net::Route>& routes, const char* destination,
                             std::uint32_t table) {
  for (const auto& route : routes) {
    if (route.destination == cidr(destination) && route.table == table) {
      return &route;
    }
  }
  return nullptr;
}

struct WanGuard {
  ~WanGuard() { net::delete_link(kWan); }  // takes the peer with it
};

}  // namespace

TEST_CASE("list_routes: the WAN's routes from every table, as iproute2 sees them") {
  REQUIRE_LAB();
  WanGuard guard;
  set_keep_addr_on_down(0);
  create_wan();
  configure_wan();
  const int index = wan_index();

  std::vector<net::Route> routes;
  int unrepresentable = -1;
  REQUIRE(!net::list_routes(index, routes, &unrepresentable));
  CHECK(unrepresentable == 0);
  CHECK(route_keys(routes) == sorted(kWanRoutes));
  int kernel_made = 0;
  CHECK(ip_routes(kWan, &kernel_made) == sorted(kWanRoutes));
  // 198.51.100.0/24, local and broadcast (local table); 2001:db8:100::/64, fe80::/64,
  // the two local addresses and ff00::/8: there, and left out.
  MESSAGE("iproute2 also shows " << kernel_made << " kernel-made routes, left out");
  CHECK(kernel_made >= 7);

  // The fields iproute2's key does not show.
  const net::Route* v4_default = find_route(routes, "0.0.0.0/0", 254);
  REQUIRE(v4_default != nullptr);
  CHECK(v4_default->protocol == 3);  // RTPROT_BOOT, `ip route add`'s
  CHECK(v4_default->scope == 0);
  CHECK(v4_default->type == 1);
  CHECK(!v4_default->onlink);
  CHECK(v4_default->ifindex == index);
  const net::Route* in_table_100 = find_route(routes, "203.0.113.0/25", 100);
  REQUIRE(in_table_100 != nullptr);
  CHECK(in_table_100->protocol == 4);  // proto static
  CHECK(in_table_100->source == ip("198.51.100.2"));
  const net::Route* direct = find_route(routes, "203.0.113.128/25", 1000);
  REQUIRE(direct != nullptr);
  CHECK(direct->scope == 253);  // link: no gateway
  CHECK(!direct->gateway);
  const net::Route* v6_default = find_route(routes, "::/0", 254);
  REQUIRE(v6_default != nullptr);
  CHECK(v6_default->metric == 1024);

  // Routes of other links are not this link's.
  std::vector<net::Route> on_lo;
  REQUIRE(!net::list_routes(1, on_lo));
  CHECK(on_lo.empty());
  CHECK(net::list_routes(0, routes) == std::errc::invalid_argument);
}

TEST_CASE("add_route and delete_route, checked with iproute2") {
  REQUIRE_LAB();
  WanGuard guard;
  set_keep_addr_on_down(0);
  create_wan();
  configure_wan();
  const int index = wan_index();

  net::Route route;
  route.destination = cidr("203.0.113.64/26");
  route.gateway = ip("198.51.100.1");
  route.table = 1000;
  route.metric = 7;
  route.protocol = 4;
  route.ifindex = index;
  REQUIRE(!net::add_route(route));
  std::vector<std::string> expected = kWanRoutes;
  expected.push_back("203.0.113.64/26 via 198.51.100.1 table 1000 metric 7");
  CHECK(ip_routes(kWan) == sorted(expected));
  const std::vector<net::Route> listed = listed_routes(index);
  CHECK(std::count(listed.begin(), listed.end(), route) == 1);

  // EXCL: the same route again, or another gateway for its destination and metric.
  CHECK(net::add_route(route) == std::errc::file_exists);
  net::Route other = route;
  other.gateway = ip("198.51.100.3");
  CHECK(net::add_route(other) == std::errc::file_exists);
  // IPv6 would make a multipath route of a second next hop without EXCL.
  net::Route v6 = *find_route(listed, "2001:db8:200::/48", 254);
  v6.gateway = ip("2001:db8:100::3");
  CHECK(net::add_route(v6) == std::errc::file_exists);
  CHECK(ip_routes(kWan) == sorted(expected));

  REQUIRE(!net::delete_route(route));
  CHECK(ip_routes(kWan) == sorted(kWanRoutes));
  CHECK(net::delete_route(route) == std::errc::no_such_process);  // ESRCH

  // A gateway not reachable through the link.
  net::Route unreachable = route;
  unreachable.gateway = ip("203.0.113.1");
  const std::error_code refused = net::add_route(unreachable);
  MESSAGE("gateway off the link: " << refused.message());
  CHECK(refused);
  // ... unless it is said to be on the link.
  unreachable.onlink = true;
  REQUIRE(!net::add_route(unreachable));
  const std::vector<net::Route> with_onlink = listed_routes(index);
  CHECK(std::count(with_onlink.begin(), with_onlink.end(), unreachable) == 1);
  REQUIRE(!net::delete_route(unreachable));

  // Never valid: no kernel asked.
  net::Route bad = route;
  bad.ifindex = 0;
  CHECK(net::add_route(bad) == std::errc::invalid_argument);
  bad = route;
  bad.destination = policy::Cidr{*ip("203.0.113.65"), 26};  // host bits
  CHECK(net::add_route(bad) == std::errc::invalid_argument);
  bad = route;
  bad.gateway = ip("2001:db8:100::1");  // other family
  CHECK(net::add_route(bad) == std::errc::invalid_argument);
  bad = route;
  bad.table = 0;
  CHECK(net::delete_route(bad) == std::errc::invalid_argument);
}

TEST_CASE("routes a Route cannot carry are counted, or refused, never dropped silently") {
  REQUIRE_LAB();
  WanGuard guard;
  set_keep_addr_on_down(0);
  create_wan();
  configure_wan();
  const int index = wan_index();
  const std::string dev = " dev " + kWan;
  run("ip route add 198.51.100.128/25 nexthop via 198.51.100.1" + dev +
      " nexthop via 198.51.100.3" + dev);
  run("ip route add 203.0.113.64/26 via 198.51.100.1" + dev + " mtu 1400");

  std::vector<net::Route> routes;
  int unrepresentable = 0;
  REQUIRE(!net::list_routes(index, routes, &unrepresentable));
  CHECK(unrepresentable == 2);
  CHECK(route_keys(routes) == sorted(kWanRoutes));
  CHECK(net::list_routes(index, routes) == std::errc::operation_not_supported);

  net::LinkSnapshot snapshot;
  snapshot.link = "untouched";
  CHECK(net::take_snapshot(kWan, snapshot) == std::errc::operation_not_supported);
  CHECK(snapshot.link == "untouched");

  // Gone, the snapshot can be taken.
  run("ip route del 198.51.100.128/25" + dev);
  run("ip route del 203.0.113.64/26" + dev);
  CHECK(!net::take_snapshot(kWan, snapshot));
}

TEST_CASE("the WAN set down loses its routes and IPv6 addresses; a snapshot restores them") {
  REQUIRE_LAB();
  WanGuard guard;
  set_keep_addr_on_down(0);
  create_wan();
  configure_wan();
  const int index = wan_index();
  const std::vector<net::Route> before = listed_routes(index);

  net::LinkSnapshot snapshot;
  REQUIRE(!net::take_snapshot(kWan, snapshot));
  CHECK(snapshot.link == kWan);
  CHECK(snapshot_addresses(snapshot) == kWanAddresses);
  CHECK(on_link(snapshot.routes, index) == before);

  // What the kernel does to a link set down: every route through it goes (IPv4 and
  // IPv6), the IPv6 addresses go (keep_addr_on_down 0), the IPv4 addresses stay.
  REQUIRE(!net::set_link_up(kWan, false));
  CHECK(listed_routes(index).empty());
  CHECK(ip_routes(kWan).empty());
  CHECK(listed_addresses(index) == std::vector<std::string>{"198.51.100.2/24"});
  CHECK(ip_addresses(kWan) == std::vector<std::string>{"198.51.100.2/24"});

  // Up again, the kernel gives back only its own routes.
  REQUIRE(!net::set_link_up(kWan, true));
  int kernel_made = 0;
  CHECK(ip_routes(kWan, &kernel_made).empty());
  CHECK(listed_routes(index).empty());
  CHECK(listed_addresses(index) == std::vector<std::string>{"198.51.100.2/24"});
  MESSAGE("after down and up: " << kernel_made << " kernel-made routes, none of the "
                                << before.size() << " configured ones");

  net::RestoreReport report;
  const std::error_code restored = net::restore_snapshot(snapshot, report);
  MESSAGE("restore: " << net::to_string(report));
  REQUIRE(!restored);
  CHECK(report.added == 7);    // the IPv6 address and the six routes
  CHECK(report.present == 1);  // the IPv4 address, kept
  CHECK(report.displaced.empty());
  CHECK(report.failed.empty());
  CHECK(listed_routes(index) == before);
  CHECK(ip_routes(kWan) == sorted(kWanRoutes));
  CHECK(listed_addresses(index) == kWanAddresses);
  CHECK(ip_addresses(kWan) == kWanAddresses);

  // Twice is harmless: everything is there.
  REQUIRE(!net::restore_snapshot(snapshot, report));
  CHECK(report.added == 0);
  CHECK(report.present == 8);
  CHECK(report.displaced.empty());
  CHECK(report.failed.empty());
  CHECK(listed_routes(index) == before);
  CHECK(listed_addresses(index) == kWanAddresses);
}

TEST_CASE("restore onto a link re-created under the same name, from the stored JSON") {
  REQUIRE_LAB();
  WanGuard guard;
  set_keep_addr_on_down(0);
  create_wan();
  configure_wan();
  const int old_index = wan_index();
  net::LinkSnapshot taken;
  REQUIRE(!net::take_snapshot(kWan, taken));
  // As sekishod stores it, across a restart.
  const std::string stored = net::to_json(taken).dump();

  REQUIRE(!net::delete_link(kWan));
  // A device that takes the old index is created first, so the WAN's new one differs.
  run("ip link add sk-other0 type veth peer name sk-other0p");
  LinkGuard other{"sk-other0"};
  create_wan();
  const int index = wan_index();
  CHECK(index != old_index);
  CHECK(listed_routes(index).empty());
  std::vector<net::Route> gone;
  CHECK(net::list_routes(old_index, gone) == std::errc::no_such_device);

  std::string error;
  const auto snapshot = net::snapshot_from_json(nlohmann::json::parse(stored), error);
  REQUIRE_MESSAGE(snapshot.has_value(), error);
  net::RestoreReport report;
  const std::error_code restored = net::restore_snapshot(*snapshot, report);
  MESSAGE("restore: " << net::to_string(report));
  REQUIRE(!restored);
  CHECK(report.added == 8);
  CHECK(listed_routes(index) == on_link(taken.routes, index));
  CHECK(ip_routes(kWan) == sorted(kWanRoutes));
  CHECK(listed_addresses(index) == kWanAddresses);
  CHECK(ip_addresses(kWan) == kWanAddresses);

  // Not there: nothing tried.
  net::LinkSnapshot missing = *snapshot;
  missing.link = "sk-missing0";
  CHECK(net::restore_snapshot(missing, report) == std::errc::no_such_device);
  CHECK(report.added == 0);
}

TEST_CASE("restore leaves a route that holds a recorded route's place, and reports it") {
  REQUIRE_LAB();
  WanGuard guard;
  set_keep_addr_on_down(0);
  create_wan();
  configure_wan();
  const int index = wan_index();
  net::LinkSnapshot snapshot;
  REQUIRE(!net::take_snapshot(kWan, snapshot));
  REQUIRE(!net::set_link_up(kWan, false));
  REQUIRE(!net::set_link_up(kWan, true));
  // Say a DHCP client was faster, with another gateway.
  run("ip route add default via 198.51.100.254 dev " + kWan + " proto dhcp");

  net::RestoreReport report;
  const std::error_code restored = net::restore_snapshot(snapshot, report);
  MESSAGE("restore: " << net::to_string(report));
  CHECK(!restored);  // not an error: the link works, with the route that is there
  REQUIRE(report.displaced.size() == 1);
  CHECK(report.displaced[0].rfind("0.0.0.0/0 via 198.51.100.1 ", 0) == 0);
  CHECK(report.added == 6);
  CHECK(report.failed.empty());
  const std::vector<net::Route> routes = listed_routes(index);
  const net::Route* kept = find_route(routes, "0.0.0.0/0", 254);
  REQUIRE(kept != nullptr);
  CHECK(kept->gateway == ip("198.51.100.254"));
  CHECK(kept->protocol == 16);  // RTPROT_DHCP
}

TEST_CASE("keep_addr_on_down: IPv6 addresses stay but their routes go; restore waits for DAD") {
  REQUIRE_LAB();
  WanGuard guard;
  set_keep_addr_on_down(1);
  create_wan();
  configure_wan();
  const int index = wan_index();
  const std::vector<net::Route> before = listed_routes(index);
  net::LinkSnapshot snapshot;
  REQUIRE(!net::take_snapshot(kWan, snapshot));

  REQUIRE(!net::set_link_up(kWan, false));
  CHECK(listed_routes(index).empty());
  CHECK(listed_addresses(index) == kWanAddresses);
  REQUIRE(!net::set_link_up(kWan, true));

  // Up again, the kept IPv6 address goes through detection again: until it is done the
  // kernel refuses it as the source of 2001:db8:200::/48, which restore must wait for.
  std::vector<net::AddressStatus> statuses;
  REQUIRE(!net::list_addresses(index, statuses));
  const auto v6 = std::find_if(statuses.begin(), statuses.end(), [](const auto& status) {
    return text(status.address) == "2001:db8:100::2/64";
  });
  REQUIRE(v6 != statuses.end());
  CHECK((v6->flags & IFA_F_TENTATIVE) != 0);
  CHECK((v6->flags & IFA_F_PERMANENT) != 0);
  const net::Route* with_source = find_route(before, "2001:db8:200::/48", 254);
  REQUIRE(with_source != nullptr);
  REQUIRE(with_source->source == ip("2001:db8:100::2"));
  CHECK(net::add_route(*with_source) == std::errc::invalid_argument);

  net::RestoreReport report;
  const auto start = std::chrono::steady_clock::now();
  const std::error_code restored = net::restore_snapshot(snapshot, report);
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  MESSAGE("restore: " << net::to_string(report) << " in " << took.count() << " ms");
  REQUIRE(!restored);
  CHECK(report.present == 2);
  CHECK(report.added == 6);
  CHECK(listed_routes(index) == before);
  CHECK(ip_routes(kWan) == sorted(kWanRoutes));
  set_keep_addr_on_down(0);
}

TEST_CASE("snapshot JSON: round trip and precise errors") {
  net::LinkSnapshot snapshot;
  snapshot.link = "wan0";
  snapshot.addresses = {address("198.51.100.2/24"), address("2001:db8:100::2/64")};
  net::Route v4;
  v4.destination = cidr("0.0.0.0/0");
  v4.gateway = ip("198.51.100.1");
  v4.ifindex = 9;
  net::Route v6;
  v6.destination = cidr("2001:db8:200::/48");
  v6.gateway = ip("2001:db8:100::1");
  v6.source = ip("2001:db8:100::2");
  v6.table = 100000;
  v6.metric = 4294967295U;
  v6.protocol = 16;
  v6.scope = 200;
  v6.type = 7;
  v6.onlink = true;
  snapshot.routes = {v4, v6};

  const nlohmann::json json = net::to_json(snapshot);
  CHECK(json.at("version") == 1);
  CHECK(!json.at("routes").at(0).contains("source"));
  CHECK(!json.at("routes").at(0).contains("ifindex"));
  std::string error;
  const auto back = net::snapshot_from_json(nlohmann::json::parse(json.dump()), error);
  REQUIRE_MESSAGE(back.has_value(), error);
  CHECK(back->link == "wan0");
  CHECK(texts(back->addresses) == texts(snapshot.addresses));
  v4.ifindex = 0;  // not stored
  CHECK(back->routes == std::vector<net::Route>{v4, v6});
  CHECK(net::to_json(*back) == json);

  const auto refused = [](const std::string& text_form) {
    std::string why;
    const auto parsed = net::snapshot_from_json(nlohmann::json::parse(text_form), why);
    CHECK_MESSAGE(!parsed.has_value(), text_form);
    return why;
  };
  const std::string route =
      R"({"destination":"0.0.0.0/0","table":254,"metric":0,"protocol":3,"scope":0,"type":1,)"
      R"("onlink":false)";
  const auto with_route = [&](const std::string& extra) {
    return R"({"version":1,"link":"wan0","addresses":[],"routes":[)" + route + extra + "}]}";
  };
  // Sanity: the base is accepted, with an unknown key too.
  CHECK(net::snapshot_from_json(nlohmann::json::parse(with_route(R"(,"future":1)")), error));

  CHECK(refused("[]") == "snapshot: not an object");
  CHECK(refused(R"({"link":"wan0"})") == "version: missing");
  CHECK(refused(R"({"version":2,"link":"wan0","addresses":[],"routes":[]})") ==
        "version: 2, but this sekishod reads version 1");
  CHECK(refused(R"({"version":1,"addresses":[],"routes":[]})") == "link: missing");
  CHECK(refused(R"({"version":1,"link":"sixteen-chars-xx","addresses":[],"routes":[]})") ==
        R"(link: "sixteen-chars-xx" is not an interface name (1 to 15 bytes))");
  CHECK(refused(R"({"version":1,"link":"wan0","routes":[]})") == "addresses: missing");
  CHECK(refused(R"({"version":1,"link":"wan0","addresses":{},"routes":[]})") ==
        "addresses: not an array: {}");
  CHECK(refused(R"({"version":1,"link":"wan0","addresses":["198.51.100.2/24","198.51.100.2"],)"
                R"("routes":[]})") ==
        R"(addresses[1]: "198.51.100.2" is not an address/prefix such as 198.51.100.2/24)");
  CHECK(refused(R"({"version":1,"link":"wan0","addresses":[]})") == "routes: missing");
  CHECK(refused(R"({"version":1,"link":"wan0","addresses":[],"routes":[7]})") ==
        "routes[0]: not an object");
  CHECK(refused(with_route(R"(,"gateway":"2001:db8::1")")) ==
        "routes[0].gateway: an IPv6 address for an IPv4 destination");
  CHECK(refused(with_route(R"(,"source":"198.51.100.x")")) ==
        R"(routes[0].source: "198.51.100.x" is not an IPv4 or IPv6 address)");
  CHECK(refused(with_route(R"(,"source":5)")) == "routes[0].source: not a string: 5");

  nlohmann::json base = nlohmann::json::parse(with_route(""));
  const auto change = [&](const char* key, const nlohmann::json& value) {
    nlohmann::json changed = base;
    if (value.is_discarded()) {
      changed["routes"][0].erase(key);
    } else {
      changed["routes"][0][key] = value;
    }
    std::string why;
    CHECK(!net::snapshot_from_json(changed, why));
    return why;
  };
  const nlohmann::json erase(nlohmann::json::value_t::discarded);
  CHECK(change("destination", "203.0.113.1/24") ==
        std::string(R"(routes[0].destination: "203.0.113.1/24": host bits are set; )") +
            "the network is 203.0.113.0/24");
  CHECK(change("destination", erase) == "routes[0].destination: missing");
  CHECK(change("table", 0) == "routes[0].table: not an integer from 1 to 4294967295: 0");
  CHECK(change("table", 4294967296ULL) ==
        "routes[0].table: not an integer from 1 to 4294967295: 4294967296");
  CHECK(change("metric", -1) == "routes[0].metric: not an integer from 0 to 4294967295: -1");
  CHECK(change("metric", 1.5) == "routes[0].metric: not an integer from 0 to 4294967295: 1.5");
  CHECK(change("protocol", 256) == "routes[0].protocol: not an integer from 0 to 255: 256");
  CHECK(change("scope", "0") == R"(routes[0].scope: not an integer from 0 to 255: "0")");
  CHECK(change("type", 0) == "routes[0].type: not an integer from 1 to 255: 0");
  CHECK(change("type", erase) == "routes[0].type: missing");
  CHECK(change("onlink", 1) == "routes[0].onlink: not true or false: 1");
  // A metric written as a signed integer in range is fine.
  base["routes"][0]["metric"] = 5;
  CHECK(net::snapshot_from_json(base, error));
}

TEST_CASE("mark rules: added, listed by protocol and deleted, checked with iproute2") {
  REQUIRE_LAB();
  net::NetlinkSocket socket;
  REQUIRE(!net::open_route_socket(socket));
  const net::MarkRule v4{policy::Family::V4, 1021, 0x10000, 0x30000, 1021, 83};
  net::MarkRule v6 = v4;
  v6.family = policy::Family::V6;
  REQUIRE(!net::add_mark_rule(socket, v4));
  REQUIRE(!net::add_mark_rule(socket, v6));
  CHECK(net::add_mark_rule(socket, v4) == std::errc::file_exists);
  // The operator's own: another protocol, and one of ours that is not a mark rule.
  run("ip rule add fwmark 0x20000/0x30000 lookup 1021 priority 1021 proto 4");
  run("ip rule add iif lo fwmark 0x1 lookup 7 priority 1022 proto 83");
  CHECK(run("ip rule show priority 1021") ==
        "1021:\tfrom all fwmark 0x10000/0x30000 lookup 1021 proto 83\n"
        "1021:\tfrom all fwmark 0x20000/0x30000 lookup 1021 proto static\n");
  std::vector<net::MarkRule> listed;
  int other = 0;
  REQUIRE(!net::list_mark_rules(socket, 83, listed, &other));
  CHECK(listed == std::vector<net::MarkRule>{v4, v6});
  CHECK(other == 1);

  REQUIRE(!net::delete_mark_rule(socket, v4));
  REQUIRE(!net::delete_mark_rule(socket, v6));
  CHECK(net::delete_mark_rule(socket, v4) == std::errc::no_such_file_or_directory);
  REQUIRE(!net::list_mark_rules(socket, 83, listed, &other));
  CHECK(listed.empty());
  CHECK(run("ip rule show priority 1021") ==
        "1021:\tfrom all fwmark 0x20000/0x30000 lookup 1021 proto static\n");
  run("ip rule del priority 1021");
  run("ip rule del priority 1022");

  net::MarkRule bad = v4;
  bad.mark = 0x40000;  // outside its mask
  CHECK(net::add_mark_rule(socket, bad) == std::errc::invalid_argument);
}
