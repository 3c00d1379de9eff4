// The netlink toolkit's subscription against the real kernel, as the nfnetlink_log
// listener of a later issue will use it: a log group bound to the socket that receives
// its packets, configuration requests on that socket while packets arrive, a buffer that
// overflows, and a renewal that binds again. Loads an nftables table, so it runs inside a
// throw-away network namespace (tests/net/netns_lab.sh); run directly in the machine's
// own namespace, every test case refuses to start.

#include <chrono>
#include <cstdint>
#include <string>
#include <system_error>
#include <vector>

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/net/netlink_request.hpp"
#include "daemon/net/netlink_subscription.hpp"
#include "daemon/net/nflog.hpp"
#include "daemon/net/rtnl.hpp"
#include "tests/net/lab_support.hpp"

namespace net = sekisho::net;
using sekisho::testing::run;

namespace {

constexpr std::uint16_t kGroup = 7;
constexpr std::uint16_t kPort = 23000;

// Every UDP datagram to port 23000 over loopback is logged to group 7.
const char* const kRuleset = R"(
add table inet sekisho_nflog_lab
delete table inet sekisho_nflog_lab
table inet sekisho_nflog_lab {
  chain output {
    type filter hook output priority filter; policy accept;
    udp dport 23000 log group 7 prefix "sekisho-lab "
  }
}
)";

void prepare_lab() {
  REQUIRE_LAB();
  REQUIRE(!net::set_link_up("lo", true));
  run(std::string("nft -f - <<'EOF'\n") + kRuleset + "EOF\n");
}

void send_datagrams(int count) {
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(kPort);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (int i = 0; i < count; ++i) {
    const char payload[] = "nflog lab";
    REQUIRE(sendto(fd, payload, sizeof payload, 0, reinterpret_cast<sockaddr*>(&to), sizeof to) ==
            static_cast<ssize_t>(sizeof payload));
  }
  close(fd);
}

// Reads packets until `wanted` came or two seconds passed.
std::vector<net::NflogPacket> collect(net::Subscription& events, std::size_t wanted,
                                      std::size_t& lost) {
  std::vector<net::NflogPacket> packets;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (packets.size() < wanted && std::chrono::steady_clock::now() < deadline) {
    pollfd ready{events.fd(), POLLIN, 0};
    poll(&ready, 1, 100);
    REQUIRE(!events.read(
        64,
        [&](const nlmsghdr* message) {
          net::NflogPacket packet;
          if (net::parse_nflog_packet(message, packet)) {
            packets.push_back(packet);
          }
        },
        lost));
  }
  return packets;
}

// A configuration request for an instance already bound: a new copy range only.
net::Request copy_range_request(std::uint32_t range) {
  net::Request request(NFNL_SUBSYS_ULOG << 8 | NFULNL_MSG_CONFIG, NLM_F_ACK);
  request.nfgen(AF_UNSPEC, NFNETLINK_V0, kGroup);
  nfulnl_msg_config_mode mode{};
  mode.copy_range = htonl(range);
  mode.copy_mode = NFULNL_COPY_PACKET;
  request.put_bytes(NFULA_CFG_MODE, &mode, sizeof mode);
  return request;
}

}  // namespace

TEST_CASE("a bound log group delivers its packets to the socket that bound it") {
  prepare_lab();
  net::Subscription events;
  REQUIRE(!events.open(NETLINK_NETFILTER, {}, 1 << 20));
  net::Request bind = net::nflog_bind_request({kGroup, 64, true});
  REQUIRE(!events.request(bind));

  send_datagrams(3);
  std::size_t lost = 0;
  const auto packets = collect(events, 3, lost);
  REQUIRE(packets.size() == 3);
  CHECK(lost == 0);
  for (std::size_t i = 0; i < packets.size(); ++i) {
    CAPTURE(i);
    CHECK(packets[i].group == kGroup);
    CHECK(packets[i].prefix == "sekisho-lab ");
    CHECK(packets[i].hook == NF_INET_LOCAL_OUT);
    CHECK(packets[i].hw_protocol == 0x0800);
    CHECK(packets[i].seq == std::uint32_t(i));
    REQUIRE(!packets[i].payload.empty());
    CHECK(packets[i].payload.size() <= 64);
  }

  SUBCASE("packets that come while a request waits for its answer are kept, not dropped") {
    send_datagrams(2);
    net::Request change = copy_range_request(32);
    REQUIRE(!events.request(change));
    const auto kept = collect(events, 2, lost);
    REQUIRE(kept.size() == 2);
    CHECK(kept[0].seq == 3u);
    CHECK(kept[1].seq == 4u);
  }
  SUBCASE("the kernel's refusal is the request's error: a group bound already") {
    net::Request again = net::nflog_bind_request({kGroup, 64, true});
    CHECK(events.request(again) == std::errc::device_or_resource_busy);
    net::Subscription other;
    REQUIRE(!other.open(NETLINK_NETFILTER, {}, 0));
    net::Request theirs = net::nflog_bind_request({kGroup, 64, true});
    CHECK(other.request(theirs) == std::errc::operation_not_permitted);
  }
}

TEST_CASE("a receive buffer that overflows is counted as lost") {
  prepare_lab();
  net::Subscription events;
  // The smallest buffer the kernel grants: a few packets fill it.
  REQUIRE(!events.open(NETLINK_NETFILTER, {}, 1));
  net::Request bind = net::nflog_bind_request({kGroup, 1024, true});
  REQUIRE(!events.request(bind));
  send_datagrams(200);
  std::size_t lost = 0;
  const auto packets = collect(events, 200, lost);
  CHECK(lost > 0);
  CHECK(packets.size() < 200);
  MESSAGE(packets.size() << " packets read, " << lost << " overflows");
}

TEST_CASE("after a request that got no answer, the renewed socket is bound again") {
  prepare_lab();
  net::Subscription events;
  REQUIRE(!events.open(NETLINK_NETFILTER, {}, 1 << 20));
  int binds = 0;
  events.socket().on_renew([&](net::NetlinkSocket&) {
    ++binds;
    net::Request bind = net::nflog_bind_request({kGroup, 64, true});
    return events.request(bind);
  });
  net::Request bind = net::nflog_bind_request({kGroup, 64, true});
  REQUIRE(!events.request(bind));
  const int first_fd = events.fd();

  // Without NLM_F_ACK the kernel answers nothing: the wait runs out (5 s), and the socket
  // is renewed before the next request.
  net::Request silent(NFNL_SUBSYS_ULOG << 8 | NFULNL_MSG_CONFIG, 0);
  silent.nfgen(AF_UNSPEC, NFNETLINK_V0, kGroup);
  CHECK(events.request(silent) == std::errc::timed_out);
  net::Request change = copy_range_request(48);
  REQUIRE(!events.request(change));
  CHECK(binds == 1);
  CHECK(events.fd() >= 0);
  MESSAGE("descriptor " << first_fd << " before, " << events.fd() << " after the renewal");

  send_datagrams(2);
  std::size_t lost = 0;
  const auto packets = collect(events, 2, lost);
  REQUIRE(packets.size() == 2);
  CHECK(packets[0].seq == 0u);  // a new instance numbers from 0
  CHECK(packets[0].payload.size() <= 48);
}
