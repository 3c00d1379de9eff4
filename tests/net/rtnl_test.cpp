// daemon/net/rtnl against the real kernel. Changes links, so it must run inside a
// throw-away network namespace: tests/net/netns_lab.sh makes one and runs this binary in it;
// run directly in the machine's own namespace, every test case refuses to start.
// What the library reports is compared with `ip -j addr show`, read independently.

#include "daemon/net/rtnl.hpp"

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include <doctest/doctest.h>
#include <net/if.h>
#include <nlohmann/json.hpp>
#include <sys/utsname.h>

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
