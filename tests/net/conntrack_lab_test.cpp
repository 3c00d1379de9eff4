// daemon/net/conntrack against the real kernel. Loads nftables rules and deletes conntrack
// entries, so it must run inside a throw-away network namespace: tests/net/netns_lab.sh
// makes one and runs this binary in it; run directly in the machine's own namespace,
// every test case refuses to start.
//
// An nftables table marks flows over loopback by destination port, as a jump session's
// rule marks its flows with the session number; real TCP connections carry a known
// number of bytes each way. What the library reports is compared with conntrack(8), which
// reads the same table independently (libnetfilter_conntrack).

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <ostream>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "daemon/net/conntrack.hpp"
#include "daemon/net/rtnl.hpp"
#include "tests/net/lab_support.hpp"

namespace net = sekisho::net;
using sekisho::testing::run;

namespace {

constexpr std::uint32_t kAll = 0xffffffff;

// Session marks by destination port, set on a flow's first packet only (a SYN, or any
// UDP packet), so that nothing after a delete re-marks a picked-up TCP flow.
const char* const kRuleset = R"(
add table inet sekisho_ct_lab
delete table inet sekisho_ct_lab
table inet sekisho_ct_lab {
  chain output {
    type filter hook output priority filter; policy accept;
    tcp dport 5042 tcp flags & (syn | ack) == syn ct mark set 0x2a
    tcp dport 5043 tcp flags & (syn | ack) == syn ct mark set 0x2b
    udp dport 20000-20999 ct state new ct mark set 0x2d
    udp dport 21000-21009 ct state new ct mark set 0x2e
    udp dport 22000-22999 ct state new ct mark set 0x2f
  }
}
)";

// lo up, the marking rules loaded (which starts conntrack in this namespace), accounting
// on. Repeatable: every test case calls it.
void prepare_lab() {
  REQUIRE_LAB();
  REQUIRE(!net::set_link_up("lo", true));
  run(std::string("nft -f - <<'EOF'\n") + kRuleset + "EOF\n");
  REQUIRE(!net::enable_accounting());
}

std::uint64_t now_ns() {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  return static_cast<std::uint64_t>(now.tv_sec) * 1'000'000'000ULL +
         static_cast<std::uint64_t>(now.tv_nsec);
}

bool within_a_minute_of_now(std::uint64_t ns) {
  const std::uint64_t now = now_ns();
  return (ns > now ? ns - now : now - ns) < 60'000'000'000ULL;
}

double elapsed_ms(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - since)
      .count();
}

// ---- traffic ------------------------------------------------------------------------------

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  Fd& operator=(Fd&& other) noexcept {
    std::swap(fd_, other.fd_);
    return *this;
  }
  ~Fd() {
    if (fd_ >= 0) {
      close(fd_);
    }
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

sockaddr_storage socket_address(int family, const char* text, std::uint16_t port,
                                socklen_t& length) {
  sockaddr_storage storage{};
  if (family == AF_INET) {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    REQUIRE(inet_pton(AF_INET, text, &v4->sin_addr) == 1);
    length = sizeof(sockaddr_in);
  } else {
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    REQUIRE(inet_pton(AF_INET6, text, &v6->sin6_addr) == 1);
    length = sizeof(sockaddr_in6);
  }
  return storage;
}

std::uint16_t local_port(int fd) {
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
  return ntohs(address.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&address)->sin_port
                                            : reinterpret_cast<sockaddr_in6*>(&address)->sin6_port);
}

// One TCP connection over loopback, both ends in this process, every wait bounded.
struct Connection {
  int family;
  std::uint16_t server_port;
  Fd listener, client, server;
  std::uint16_t client_port = 0;
  std::size_t sent_to_server = 0, sent_to_client = 0;
};

Connection connect_tcp(int family, const char* address, std::uint16_t port) {
  Connection c{family, port, Fd(socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0)), Fd(), Fd()};
  REQUIRE(c.listener.get() >= 0);
  const int on = 1;
  setsockopt(c.listener.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  socklen_t length = 0;
  const sockaddr_storage server = socket_address(family, address, port, length);
  REQUIRE(bind(c.listener.get(), reinterpret_cast<const sockaddr*>(&server), length) == 0);
  REQUIRE(listen(c.listener.get(), 4) == 0);
  c.client = Fd(socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const timeval wait{5, 0};
  setsockopt(c.client.get(), SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait);
  setsockopt(c.client.get(), SOL_SOCKET, SO_SNDTIMEO, &wait, sizeof wait);
  REQUIRE(connect(c.client.get(), reinterpret_cast<const sockaddr*>(&server), length) == 0);
  c.server = Fd(accept4(c.listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  REQUIRE(c.server.get() >= 0);
  setsockopt(c.server.get(), SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait);
  setsockopt(c.server.get(), SOL_SOCKET, SO_SNDTIMEO, &wait, sizeof wait);
  c.client_port = local_port(c.client.get());
  return c;
}

// Sends `bytes` from `from` (in a thread, so neither side's buffer can fill up and stall
// the other) and reads all of them at `to`.
void transfer(int from, int to, std::size_t bytes) {
  bool sent_all = false;
  std::thread writer([&] {
    const std::vector<char> block(16384, 's');
    std::size_t left = bytes;
    while (left > 0) {
      const ssize_t n = send(from, block.data(), std::min(left, block.size()), MSG_NOSIGNAL);
      if (n <= 0) {
        return;
      }
      left -= static_cast<std::size_t>(n);
    }
    sent_all = true;
  });
  std::vector<char> buffer(65536);
  std::size_t received = 0;
  while (received < bytes) {
    const ssize_t n = recv(to, buffer.data(), buffer.size(), 0);
    if (n <= 0) {
      break;
    }
    received += static_cast<std::size_t>(n);
  }
  writer.join();
  REQUIRE(sent_all);
  REQUIRE(received == bytes);
}

void exchange(Connection& c, std::size_t to_server, std::size_t to_client) {
  transfer(c.client.get(), c.server.get(), to_server);
  transfer(c.server.get(), c.client.get(), to_client);
  c.sent_to_server += to_server;
  c.sent_to_client += to_client;
}

// One UDP datagram from `socket` to each port in [first, first + count) of 127.0.0.1:
// `count` flows (nobody listens: the ICMP errors that come back belong to those flows).
void udp_flows(int socket, std::uint16_t first, int count) {
  for (int i = 0; i < count; ++i) {
    socklen_t length = 0;
    const sockaddr_storage to =
        socket_address(AF_INET, "127.0.0.1", static_cast<std::uint16_t>(first + i), length);
    REQUIRE(sendto(socket, "x", 1, 0, reinterpret_cast<const sockaddr*>(&to), length) == 1);
  }
}

// ---- reading ------------------------------------------------------------------------------

// One line of `conntrack -L -o extended,id`: the first src/sport/packets/bytes are the
// original direction, the second the reply's.
struct ToolFlow {
  std::string family;  // "ipv4", "ipv6"
  std::map<std::string, std::vector<std::string>> fields;

  std::uint64_t number(const std::string& key, std::size_t which = 0) const {
    const auto found = fields.find(key);
    REQUIRE_MESSAGE(found != fields.end(), "conntrack printed no " << key);
    REQUIRE(found->second.size() > which);
    return std::stoull(found->second[which]);
  }
};

std::vector<ToolFlow> conntrack_list(const std::string& options) {
  std::vector<ToolFlow> flows;
  std::istringstream lines(run("conntrack -L " + options + " -o extended,id 2>/dev/null"));
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    ToolFlow flow;
    words >> flow.family;
    std::string word;
    while (words >> word) {
      const auto equals = word.find('=');
      if (equals != std::string::npos) {
        flow.fields[word.substr(0, equals)].push_back(word.substr(equals + 1));
      }
    }
    flows.push_back(std::move(flow));
  }
  return flows;
}

const net::Flow* find_flow(const std::vector<net::Flow>& flows, int family,
                           std::uint16_t source_port, std::uint16_t destination_port) {
  for (const net::Flow& flow : flows) {
    if (flow.family == family && flow.source_port == source_port &&
        flow.destination_port == destination_port) {
      return &flow;
    }
  }
  return nullptr;
}

const net::Flow* find_flow(const std::vector<net::Flow>& flows, const Connection& c) {
  return find_flow(flows, c.family, c.client_port, c.server_port);
}

// Reads events until `enough` says so or `seconds` have passed.
template <typename Enough>
std::vector<net::FlowEvent> collect(net::FlowEvents& events, bool& lost, Enough enough,
                                    int seconds = 3) {
  std::vector<net::FlowEvent> all;
  lost = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (!enough(all) && std::chrono::steady_clock::now() < deadline) {
    pollfd ready{events.fd(), POLLIN, 0};
    poll(&ready, 1, 100);
    std::vector<net::FlowEvent> batch;
    bool batch_lost = false;
    REQUIRE(!events.read(batch, batch_lost));
    lost = lost || batch_lost;
    all.insert(all.end(), batch.begin(), batch.end());
  }
  return all;
}

std::size_t count(const std::vector<net::FlowEvent>& events, net::FlowEventKind kind) {
  return static_cast<std::size_t>(std::count_if(
      events.begin(), events.end(), [&](const net::FlowEvent& e) { return e.kind == kind; }));
}

const net::FlowEvent* find_event(const std::vector<net::FlowEvent>& events, net::FlowEventKind kind,
                                 const Connection& c) {
  for (const net::FlowEvent& event : events) {
    if (event.kind == kind && event.flow.family == c.family &&
        event.flow.source_port == c.client_port && event.flow.destination_port == c.server_port) {
      return &event;
    }
  }
  return nullptr;
}

// The dump's view of one flow against conntrack(8)'s, read after it.
void check_against_tool(const net::Flow& flow, const std::vector<ToolFlow>& tool) {
  const auto same = std::find_if(tool.begin(), tool.end(),
                                 [&](const ToolFlow& t) { return t.number("id") == flow.id; });
  REQUIRE_MESSAGE(same != tool.end(), "conntrack(8) does not list flow id " << flow.id);
  CHECK(same->family == (flow.family == AF_INET ? "ipv4" : "ipv6"));
  CHECK(same->fields.at("src").front() == flow.source);
  CHECK(same->fields.at("dst").front() == flow.destination);
  CHECK(same->number("sport") == flow.source_port);
  CHECK(same->number("dport") == flow.destination_port);
  CHECK(same->number("mark") == flow.mark);
  CHECK(same->number("packets", 0) == flow.packets_to_destination);
  CHECK(same->number("bytes", 0) == flow.bytes_to_destination);
  CHECK(same->number("packets", 1) == flow.packets_from_destination);
  CHECK(same->number("bytes", 1) == flow.bytes_from_destination);
}

}  // namespace

TEST_CASE("argument checks need no kernel") {
  std::vector<net::Flow> flows;
  CHECK(net::dump_flows(1, 0, flows) == std::errc::invalid_argument);
  CHECK(net::dump_flows(0x100, 0xff, flows) == std::errc::invalid_argument);
  CHECK(net::delete_flows(0, 0) == std::errc::invalid_argument);
  CHECK(net::delete_flows(0x100, 0xff) == std::errc::invalid_argument);
  net::FlowEvents events;
  CHECK(events.fd() == -1);
  CHECK(events.receive_buffer() == 0);
  std::vector<net::FlowEvent> read;
  bool lost = true;
  CHECK(events.read(read, lost) == std::errc::bad_file_descriptor);
  CHECK(events.open(0) == std::errc::invalid_argument);
  CHECK(events.fd() == -1);
}

TEST_CASE("before any rule uses conntrack, a dump is empty and a delete deletes nothing") {
  REQUIRE_LAB();
  std::vector<net::Flow> flows{net::Flow{}};
  const std::error_code dumped = net::dump_flows(0, 0, flows);
  MESSAGE("dump in a fresh namespace: " << (dumped ? dumped.message() : "ok"));
  CHECK(!dumped);
  CHECK(flows.empty());
  CHECK(!net::delete_flows(0x2a, kAll));
}

TEST_CASE("session flows: dumped by mark, followed as events, deleted by mark") {
  prepare_lab();
  CHECK(run("cat /proc/sys/net/netfilter/nf_conntrack_acct") == "1\n");
  CHECK(run("cat /proc/sys/net/netfilter/nf_conntrack_timestamp") == "1\n");
  CHECK(!net::enable_accounting());  // again: nothing to change, still fine

  net::FlowEvents marked;
  net::FlowEvents odd;  // marks with bit 0 set: 0x2b, not 0x2a
  net::FlowEvents everything;
  net::FlowEvents even;  // marked, but not with bit 0: 0x2a only
  REQUIRE(!marked.open(kAll));
  REQUIRE(!odd.open(0x1));
  REQUIRE(!even.open(kAll, 0x1));
  REQUIRE(!everything.open());
  CHECK(marked.fd() >= 0);
  MESSAGE("== event receive buffer granted: " << marked.receive_buffer() << " bytes (asked "
                                              << net::FlowEvents::kReceiveBuffer << ")");
  CHECK(marked.receive_buffer() >= net::FlowEvents::kReceiveBuffer);

  // Two flows of session 0x2a (IPv4 and IPv6), one of session 0x2b, one unmarked.
  Connection a4 = connect_tcp(AF_INET, "127.0.0.1", 5042);
  Connection a6 = connect_tcp(AF_INET6, "::1", 5042);
  Connection b4 = connect_tcp(AF_INET, "127.0.0.1", 5043);
  Connection plain = connect_tcp(AF_INET, "127.0.0.1", 5044);
  exchange(a4, 300'000, 120'000);
  exchange(a6, 200'000, 50'000);
  exchange(b4, 5'000, 7'000);
  exchange(plain, 1'000, 1'000);
  // Delayed ACKs go out within a few hundred ms; after that the counters stand still.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));

  std::vector<net::Flow> session;
  const auto dump_start = std::chrono::steady_clock::now();
  REQUIRE(!net::dump_flows(0x2a, kAll, session));
  MESSAGE("== measured conntrack dump by mark (" << session.size()
                                                 << " flows): " << elapsed_ms(dump_start) << " ms");
  REQUIRE(session.size() == 2);
  const std::vector<ToolFlow> tool = conntrack_list("-m 42");
  CHECK(tool.size() == 2);
  for (const Connection* c : {&a4, &a6}) {
    const net::Flow* flow = find_flow(session, *c);
    REQUIRE_MESSAGE(flow != nullptr, "no flow from port " << c->client_port);
    CHECK(flow->mark == 0x2a);
    CHECK(flow->protocol == IPPROTO_TCP);
    CHECK(flow->source == (c->family == AF_INET ? "127.0.0.1" : "::1"));
    CHECK(flow->destination == flow->source);
    CHECK(flow->id != 0);
    REQUIRE(flow->has_counters);
    // Bytes are IP packets: the payload plus every header.
    CHECK(flow->bytes_to_destination >= c->sent_to_server);
    CHECK(flow->bytes_from_destination >= c->sent_to_client);
    CHECK(flow->bytes_to_destination < c->sent_to_server + 200 * flow->packets_to_destination);
    CHECK(flow->packets_to_destination >= 3);  // SYN, ACK, data...
    REQUIRE(flow->start_ns.has_value());
    CHECK(within_a_minute_of_now(*flow->start_ns));
    CHECK_FALSE(flow->stop_ns.has_value());  // still running
    MESSAGE(
        "== measured " << (c->family == AF_INET ? "IPv4" : "IPv6") << " flow " << flow->source_port
                       << " -> " << flow->destination_port << ": " << flow->packets_to_destination
                       << " packets / " << flow->bytes_to_destination << " bytes for a payload of "
                       << c->sent_to_server << "; back " << flow->packets_from_destination << " / "
                       << flow->bytes_from_destination << " for " << c->sent_to_client);
    check_against_tool(*flow, tool);
  }

  std::vector<net::Flow> other;
  REQUIRE(!net::dump_flows(0x2b, kAll, other));
  REQUIRE(other.size() == 1);
  CHECK(find_flow(other, b4) != nullptr);
  check_against_tool(other.front(), conntrack_list("-m 43"));
  // The mask selects: 0x2a and 0x2b agree on every bit but the lowest.
  std::vector<net::Flow> both;
  REQUIRE(!net::dump_flows(0x2a, 0xfffffffe, both));
  CHECK(both.size() == 3);
  std::vector<net::Flow> all;
  REQUIRE(!net::dump_flows(0, 0, all));
  const net::Flow* unmarked = find_flow(all, plain);
  REQUIRE(unmarked != nullptr);
  CHECK(unmarked->mark == 0);

  // NEW events: the filtered socket sees the three session flows and nothing else; the
  // unfiltered one also the unmarked flow.
  bool lost = false;
  const auto news = collect(marked, lost, [](const auto& e) { return e.size() >= 3; });
  CHECK_FALSE(lost);
  CHECK(news.size() == 3);
  for (const Connection* c : {&a4, &a6, &b4}) {
    const net::FlowEvent* event = find_event(news, net::FlowEventKind::New, *c);
    REQUIRE_MESSAGE(event != nullptr, "no NEW event from port " << c->client_port);
    CHECK(event->flow.mark == (c == &b4 ? 0x2b : 0x2a));
    // What the kernel puts in a NEW event: no counters, no timestamps.
    CHECK_FALSE(event->flow.has_counters);
    CHECK_FALSE(event->flow.start_ns.has_value());
  }
  CHECK(find_event(news, net::FlowEventKind::New, plain) == nullptr);
  const auto odd_news = collect(odd, lost, [](const auto& e) { return e.size() >= 1; });
  CHECK(odd_news.size() == 1);
  CHECK(find_event(odd_news, net::FlowEventKind::New, b4) != nullptr);
  const auto even_news = collect(even, lost, [](const auto& e) { return e.size() >= 2; });
  CHECK(even_news.size() == 2);
  CHECK(find_event(even_news, net::FlowEventKind::New, a4) != nullptr);
  CHECK(find_event(even_news, net::FlowEventKind::New, a6) != nullptr);
  CHECK(find_event(even_news, net::FlowEventKind::New, b4) == nullptr);  // excluded bit
  const auto all_news = collect(everything, lost, [&](const auto& e) {
    return find_event(e, net::FlowEventKind::New, plain) != nullptr;
  });
  CHECK_FALSE(lost);
  CHECK(find_event(all_news, net::FlowEventKind::New, plain) != nullptr);
  CHECK(find_event(all_news, net::FlowEventKind::New, a6) != nullptr);

  // The session ends: one request deletes its flows of both families.
  const std::size_t table_size = all.size();
  const auto delete_start = std::chrono::steady_clock::now();
  REQUIRE(!net::delete_flows(0x2a, kAll));
  MESSAGE("== measured conntrack delete of 2 flows (of "
          << table_size << " in the table): " << elapsed_ms(delete_start) << " ms");
  std::vector<net::Flow> after;
  REQUIRE(!net::dump_flows(0x2a, kAll, after));
  CHECK(after.empty());
  CHECK(conntrack_list("-m 42").empty());
  CHECK(conntrack_list("-m 43").size() == 1);  // the other session's flow stays
  REQUIRE(!net::dump_flows(0, 0, after));
  CHECK(find_flow(after, plain) != nullptr);  // so does the unmarked one
  CHECK(find_flow(after, b4) != nullptr);
  CHECK(!net::delete_flows(0x2a, kAll));  // nothing left: not an error

  // DESTROY events carry the final counters and both timestamps.
  const auto destroys = collect(marked, lost, [](const auto& e) { return e.size() >= 2; });
  CHECK_FALSE(lost);
  CHECK(destroys.size() == 2);
  CHECK(count(destroys, net::FlowEventKind::Destroy) == 2);
  for (const Connection* c : {&a4, &a6}) {
    const net::FlowEvent* event = find_event(destroys, net::FlowEventKind::Destroy, *c);
    REQUIRE_MESSAGE(event != nullptr, "no DESTROY event from port " << c->client_port);
    const net::Flow* dumped = find_flow(session, *c);
    const net::Flow& flow = event->flow;
    CHECK(flow.id == dumped->id);
    CHECK(flow.mark == 0x2a);
    REQUIRE(flow.has_counters);
    CHECK(flow.bytes_to_destination == dumped->bytes_to_destination);
    CHECK(flow.bytes_from_destination == dumped->bytes_from_destination);
    CHECK(flow.packets_to_destination == dumped->packets_to_destination);
    CHECK(flow.packets_from_destination == dumped->packets_from_destination);
    REQUIRE(flow.start_ns.has_value());
    REQUIRE(flow.stop_ns.has_value());
    CHECK(flow.start_ns == dumped->start_ns);
    CHECK(*flow.stop_ns >= *flow.start_ns);
    CHECK(within_a_minute_of_now(*flow.stop_ns));
    MESSAGE("== measured DESTROY of " << flow.source_port << " -> " << flow.destination_port << ": "
                                      << flow.bytes_to_destination << " + "
                                      << flow.bytes_from_destination << " bytes over "
                                      << (*flow.stop_ns - *flow.start_ns) / 1'000'000 << " ms");
  }
  const auto all_destroys = collect(
      everything, lost, [](const auto& e) { return count(e, net::FlowEventKind::Destroy) >= 2; });
  CHECK(count(all_destroys, net::FlowEventKind::Destroy) == 2);
  REQUIRE(!net::delete_flows(0x2b, kAll));
}

TEST_CASE("a thousand session flows: one dump, one delete, every DESTROY event") {
  prepare_lab();
  net::FlowEvents marked;
  REQUIRE(!marked.open(kAll));
  Fd udp(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  REQUIRE(udp.get() >= 0);
  constexpr int kFlows = 1000;
  udp_flows(udp.get(), 20000, kFlows);  // mark 0x2d
  udp_flows(udp.get(), 21000, 10);      // mark 0x2e: must survive
  bool lost = false;
  const auto news = collect(marked, lost, [](const auto& e) { return e.size() >= kFlows + 10; });
  CHECK_FALSE(lost);
  CHECK(news.size() == kFlows + 10);

  std::vector<net::Flow> flows;
  auto start = std::chrono::steady_clock::now();
  REQUIRE(!net::dump_flows(0x2d, kAll, flows));
  MESSAGE("== measured conntrack dump of " << flows.size()
                                           << " flows by mark: " << elapsed_ms(start) << " ms");
  CHECK(flows.size() == kFlows);
  CHECK(conntrack_list("-m 45").size() == kFlows);

  start = std::chrono::steady_clock::now();
  REQUIRE(!net::delete_flows(0x2d, kAll));
  MESSAGE("== measured conntrack delete of " << kFlows << " flows: " << elapsed_ms(start) << " ms");
  const auto destroys = collect(marked, lost, [](const auto& e) { return e.size() >= kFlows; });
  MESSAGE("== DESTROY events received: " << destroys.size() << " (lost: " << lost
                                         << "), receive buffer " << marked.receive_buffer()
                                         << " bytes");
  CHECK_FALSE(lost);
  CHECK(destroys.size() == kFlows);
  CHECK(count(destroys, net::FlowEventKind::Destroy) == kFlows);
  REQUIRE(!net::dump_flows(0x2d, kAll, flows));
  CHECK(flows.empty());
  REQUIRE(!net::dump_flows(0x2e, kAll, flows));
  CHECK(flows.size() == 10);
  CHECK(conntrack_list("-m 46").size() == 10);
  REQUIRE(!net::delete_flows(0x2e, kAll));
}

TEST_CASE("a full receive buffer is reported as lost, and a dump still has every flow") {
  prepare_lab();
  net::FlowEvents marked;
  REQUIRE(!marked.open(kAll));
  // Shrink the buffer behind the library's back to the kernel's minimum.
  const int tiny = 1;
  REQUIRE(setsockopt(marked.fd(), SOL_SOCKET, SO_RCVBUF, &tiny, sizeof tiny) == 0);
  MESSAGE("receive buffer shrunk to " << marked.receive_buffer() << " bytes");
  Fd udp(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  udp_flows(udp.get(), 22000, 200);  // mark 0x2f
  bool lost = false;
  const auto news = collect(
      marked, lost, [](const auto&) { return false; }, 1);
  MESSAGE("== with a full buffer: " << news.size() << " of 200 NEW events read, lost: " << lost);
  CHECK(lost);
  CHECK(news.size() < 200);
  std::vector<net::Flow> flows;
  REQUIRE(!net::dump_flows(0x2f, kAll, flows));
  CHECK(flows.size() == 200);
  REQUIRE(!net::delete_flows(0x2f, kAll));
}

TEST_CASE("a datagram another process sends to the event socket is not an event") {
  prepare_lab();
  net::FlowEvents events;
  REQUIRE(!events.open(kAll));
  // A plain subscriber captures the bytes of a real NEW event of a session flow...
  Fd spy(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER));
  REQUIRE(spy.get() >= 0);
  sockaddr_nl self{};
  self.nl_family = AF_NETLINK;
  REQUIRE(bind(spy.get(), reinterpret_cast<sockaddr*>(&self), sizeof self) == 0);
  const int group = NFNLGRP_CONNTRACK_NEW;
  REQUIRE(setsockopt(spy.get(), SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof group) == 0);
  Connection c = connect_tcp(AF_INET, "127.0.0.1", 5042);
  std::vector<std::uint32_t> captured;  // 4-byte aligned, as parse_flow wants
  for (int attempt = 0; attempt < 20 && captured.empty(); ++attempt) {
    pollfd ready{spy.get(), POLLIN, 0};
    REQUIRE(poll(&ready, 1, 3000) == 1);
    std::vector<std::uint32_t> datagram(2048);
    const ssize_t size = recv(spy.get(), datagram.data(), datagram.size() * 4, 0);
    REQUIRE(size > 0);
    net::Flow flow;
    if (net::parse_flow(reinterpret_cast<const nlmsghdr*>(datagram.data()),
                        static_cast<std::size_t>(size), flow) &&
        flow.source_port == c.client_port) {
      datagram.resize((static_cast<std::size_t>(size) + 3) / 4);
      captured = std::move(datagram);
    }
  }
  REQUIRE(!captured.empty());
  bool lost = false;
  const auto genuine = collect(events, lost, [&](const auto& e) {
    return find_event(e, net::FlowEventKind::New, c) != nullptr;
  });
  REQUIRE(find_event(genuine, net::FlowEventKind::New, c) != nullptr);

  // ...and sends them, unchanged, straight to the library's socket.
  sockaddr_nl target{};
  socklen_t length = sizeof target;
  REQUIRE(getsockname(events.fd(), reinterpret_cast<sockaddr*>(&target), &length) == 0);
  const auto bytes = reinterpret_cast<const nlmsghdr*>(captured.data())->nlmsg_len;
  const ssize_t sent = sendto(spy.get(), captured.data(), bytes, 0,
                              reinterpret_cast<sockaddr*>(&target), sizeof target);
  MESSAGE("forged event sent to port "
          << target.nl_pid << ": " << std::string(sent < 0 ? std::strerror(errno) : "delivered"));
  REQUIRE(sent == static_cast<ssize_t>(bytes));
  pollfd ready{events.fd(), POLLIN, 0};
  CHECK(poll(&ready, 1, 1000) == 1);  // it did arrive
  std::vector<net::FlowEvent> read;
  REQUIRE(!events.read(read, lost));
  CHECK(read.empty());
  REQUIRE(!net::delete_flows(0x2a, kAll));
}
