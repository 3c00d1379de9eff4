#include "daemon/net/conntrack.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <tuple>

#include <arpa/inet.h>
#include <endian.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/net/netlink_attributes.hpp"
#include "daemon/net/netlink_request.hpp"
#include "daemon/net/netlink_transaction.hpp"

namespace sekisho::net {

namespace {

// A ctnetlink request is a header, nfgenmsg and two 32-bit attributes.
constexpr std::size_t kRequestSize = 128;
// The filtered flush walks the whole conntrack table inside the request; on a busy box
// that takes a while, but a daemon must not hang on it forever.
constexpr std::chrono::seconds kAnswerTimeout{10};

constexpr std::uint16_t message_type(std::uint8_t ctnetlink_type) {
  return static_cast<std::uint16_t>((NFNL_SUBSYS_CTNETLINK << 8) | ctnetlink_type);
}

std::error_code errno_code(int error) {
  return {error, std::system_category()};
}

// ---- parsing -----------------------------------------------------------------------------

// An optional number: absent is fine, present must be well formed (big-endian, exactly
// its size).
template <typename Number>
bool read_optional(const nlattr* attribute, Number& out) {
  return attribute == nullptr || read_be(attribute, out);
}

bool read_address(const nlattr* attribute, int family, std::string& out) {
  const std::size_t size = family == AF_INET ? 4 : 16;
  if (attribute == nullptr || payload(attribute).size() != size) {
    return false;
  }
  std::array<char, INET6_ADDRSTRLEN> text{};
  if (inet_ntop(family, payload(attribute).data(), text.data(), text.size()) == nullptr) {
    return false;
  }
  out = text.data();
  return true;
}

// CTA_TUPLE_ORIG: { CTA_TUPLE_IP { SRC, DST }, CTA_TUPLE_PROTO { NUM, SRC_PORT, DST_PORT } }.
bool parse_tuple(const nlattr* tuple, Flow& flow) {
  std::array<const nlattr*, CTA_TUPLE_MAX + 1> parts{};
  if (!table_nested(tuple, parts) || parts[CTA_TUPLE_IP] == nullptr ||
      parts[CTA_TUPLE_PROTO] == nullptr) {
    return false;
  }
  std::array<const nlattr*, CTA_IP_MAX + 1> ip{};
  if (!table_nested(parts[CTA_TUPLE_IP], ip)) {
    return false;
  }
  const bool v4 = flow.family == AF_INET;
  if (!read_address(ip[v4 ? CTA_IP_V4_SRC : CTA_IP_V6_SRC], flow.family, flow.source) ||
      !read_address(ip[v4 ? CTA_IP_V4_DST : CTA_IP_V6_DST], flow.family, flow.destination)) {
    return false;
  }
  std::array<const nlattr*, CTA_PROTO_MAX + 1> proto{};
  return table_nested(parts[CTA_TUPLE_PROTO], proto) && proto[CTA_PROTO_NUM] != nullptr &&
         read_be(proto[CTA_PROTO_NUM], flow.protocol) &&
         read_optional(proto[CTA_PROTO_SRC_PORT], flow.source_port) &&
         read_optional(proto[CTA_PROTO_DST_PORT], flow.destination_port);
}

// CTA_COUNTERS_ORIG/REPLY: { PACKETS, BYTES }, 64-bit (the 32-bit types are unused since
// 2.6.27); a nest without both is malformed.
bool parse_counters(const nlattr* nest, std::uint64_t& packets, std::uint64_t& bytes) {
  std::array<const nlattr*, CTA_COUNTERS_MAX + 1> counters{};
  return table_nested(nest, counters) && counters[CTA_COUNTERS_PACKETS] != nullptr &&
         counters[CTA_COUNTERS_BYTES] != nullptr &&
         read_be(counters[CTA_COUNTERS_PACKETS], packets) &&
         read_be(counters[CTA_COUNTERS_BYTES], bytes);
}

bool parse_timestamps(const nlattr* nest, Flow& flow) {
  std::array<const nlattr*, CTA_TIMESTAMP_MAX + 1> stamps{};
  if (!table_nested(nest, stamps)) {
    return false;
  }
  for (const auto& [type, field] : {std::pair{CTA_TIMESTAMP_START, &flow.start_ns},
                                    std::pair{CTA_TIMESTAMP_STOP, &flow.stop_ns}}) {
    if (stamps[type] != nullptr) {
      std::uint64_t value = 0;
      if (!read_be(stamps[type], value)) {
        return false;
      }
      *field = value;
    }
  }
  return true;
}

// ---- accounting --------------------------------------------------------------------------

// Writes "1" to the sysctl at `path` unless it says so already: a read-only /proc/sys
// (containers) is fine when there is nothing to change.
std::error_code set_to_one(const char* path) {
  const int reader = ::open(path, O_RDONLY | O_CLOEXEC);
  if (reader < 0) {
    return errno_code(errno);
  }
  char value[16] = {};
  const ssize_t got = ::read(reader, value, sizeof value - 1);
  const int read_error = errno;
  ::close(reader);
  if (got < 0) {
    return errno_code(read_error);
  }
  if (std::strcmp(value, "1\n") == 0) {
    return {};
  }
  const int writer = ::open(path, O_WRONLY | O_CLOEXEC);
  if (writer < 0) {
    return errno_code(errno);
  }
  const bool written = ::write(writer, "1\n", 2) == 2;
  const int write_error = errno;
  ::close(writer);
  return written ? std::error_code{} : errno_code(write_error != 0 ? write_error : EIO);
}

// ---- requests ----------------------------------------------------------------------------

// A ctnetlink request whose only selector is the mark: the kernel filters a dump, or a
// flush, by CTA_MARK & CTA_MARK_MASK. Both families: a dump honours nfgen_family, and
// AF_UNSPEC means all; a flush honours it only when nfgenmsg.version is not 0 (checked
// on 6.18 in tests/net/conntrack_lab_test.cpp), so AF_UNSPEC with version 0 is all on
// any kernel.
Request mark_request(std::uint8_t ctnetlink_type, std::uint16_t flags, std::uint32_t mark,
                     std::uint32_t mask) {
  Request request(message_type(ctnetlink_type), flags, kRequestSize);
  request.nfgen(AF_UNSPEC, NFNETLINK_V0, 0);
  request.put_be32(CTA_MARK, mark);
  request.put_be32(CTA_MARK_MASK, mask);
  return request;
}

auto identity(const Flow& flow) {
  return std::tie(flow.id, flow.family, flow.protocol, flow.source, flow.source_port,
                  flow.destination, flow.destination_port);
}

// ---- events ------------------------------------------------------------------------------

sock_filter statement(std::uint16_t code, std::uint32_t k) {
  return {code, 0, 0, k};
}
sock_filter jump(std::uint16_t code, std::uint32_t k, std::uint8_t if_true, std::uint8_t if_false) {
  return {code, if_true, if_false, k};
}

// A classic BPF socket filter that passes a ctnetlink event only when its top-level
// CTA_MARK has a bit of `mask` set and none of `excluded`. The kernel leaves CTA_MARK out
// of events when the mark is 0; the attribute search then answers 0 and the event is
// dropped too.
struct MarkFilter {
  MarkFilter(std::uint32_t mask, std::uint32_t excluded)
      : code{
            // A = where the attributes start, X = the type looked for.
            statement(BPF_LD | BPF_IMM, NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(nfgenmsg))),
            statement(BPF_LDX | BPF_IMM, CTA_MARK),
            // A = offset of that attribute in the message, 0 when there is none.
            statement(BPF_LD | BPF_W | BPF_ABS,
                      static_cast<std::uint32_t>(SKF_AD_OFF + SKF_AD_NLATTR)),
            jump(BPF_JMP | BPF_JEQ | BPF_K, 0, 5, 0),  // none: drop
            // A = the mark (a 32-bit load is big-endian, as CTA_MARK is), masked.
            statement(BPF_MISC | BPF_TAX, 0),                  // X = A
            statement(BPF_LD | BPF_W | BPF_IND, NLA_HDRLEN),   // A = payload at X
            jump(BPF_JMP | BPF_JSET | BPF_K, excluded, 2, 0),  // an excluded bit: drop
            statement(BPF_ALU | BPF_AND | BPF_K, mask),
            jump(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1),  // no bit set: drop
            statement(BPF_RET | BPF_K, 0),             // drop
            statement(BPF_RET | BPF_K, 0xffffffff),    // keep all of it
        } {}

  sock_fprog program() { return {static_cast<unsigned short>(code.size()), code.data()}; }

  std::array<sock_filter, 11> code;
};

}  // namespace

bool parse_flow(const nlmsghdr* message, std::size_t length, Flow& flow) {
  if (message == nullptr || length < sizeof(nlmsghdr) || message->nlmsg_len > length ||
      message->nlmsg_len < NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(nfgenmsg))) {
    return false;
  }
  if (message->nlmsg_type != message_type(IPCTNL_MSG_CT_NEW) &&
      message->nlmsg_type != message_type(IPCTNL_MSG_CT_DELETE)) {
    return false;
  }
  const auto* family = fixed_header<nfgenmsg>(message);
  Flow parsed;
  parsed.family = family->nfgen_family;
  if (parsed.family != AF_INET && parsed.family != AF_INET6) {
    return false;
  }
  std::array<const nlattr*, CTA_MAX + 1> top{};
  if (!table(*payload_after<nfgenmsg>(message), top)) {
    return false;
  }
  if (top[CTA_TUPLE_ORIG] == nullptr || !parse_tuple(top[CTA_TUPLE_ORIG], parsed) ||
      !read_optional(top[CTA_ID], parsed.id) || !read_optional(top[CTA_MARK], parsed.mark)) {
    return false;
  }
  if (top[CTA_COUNTERS_ORIG] != nullptr || top[CTA_COUNTERS_REPLY] != nullptr) {
    parsed.has_counters = true;
    if ((top[CTA_COUNTERS_ORIG] != nullptr &&
         !parse_counters(top[CTA_COUNTERS_ORIG], parsed.packets_to_destination,
                         parsed.bytes_to_destination)) ||
        (top[CTA_COUNTERS_REPLY] != nullptr &&
         !parse_counters(top[CTA_COUNTERS_REPLY], parsed.packets_from_destination,
                         parsed.bytes_from_destination))) {
      return false;
    }
  }
  if (top[CTA_TIMESTAMP] != nullptr && !parse_timestamps(top[CTA_TIMESTAMP], parsed)) {
    return false;
  }
  flow = std::move(parsed);
  return true;
}

std::error_code enable_accounting() {
  for (const char* path : {"/proc/sys/net/netfilter/nf_conntrack_acct",
                           "/proc/sys/net/netfilter/nf_conntrack_timestamp"}) {
    if (std::error_code error = set_to_one(path)) {
      return error;
    }
  }
  return {};
}

std::error_code open_conntrack_socket(NetlinkSocket& socket) {
  return socket.open(NETLINK_NETFILTER, kAnswerTimeout);
}

std::error_code dump_flows(NetlinkSocket& socket, std::uint32_t mark, std::uint32_t mask,
                           std::vector<Flow>& flows) {
  if ((mark & ~mask) != 0) {
    return errno_code(EINVAL);
  }
  Request request = mark_request(IPCTNL_MSG_CT_GET, NLM_F_DUMP, mark, mask);
  std::vector<Flow> dumped;
  const auto on_flow = [&](const nlmsghdr* message) -> std::error_code {
    if (message->nlmsg_type != message_type(IPCTNL_MSG_CT_NEW)) {
      return {};
    }
    Flow flow;
    // transact has checked that the message fits the datagram.
    if (!parse_flow(message, message->nlmsg_len, flow)) {
      return errno_code(EBADMSG);
    }
    dumped.push_back(std::move(flow));
    return {};
  };
  if (std::error_code error = transact(socket, request, on_flow)) {
    return error;
  }
  std::sort(dumped.begin(), dumped.end(),
            [](const Flow& a, const Flow& b) { return identity(a) < identity(b); });
  dumped.erase(std::unique(dumped.begin(), dumped.end(),
                           [](const Flow& a, const Flow& b) { return identity(a) == identity(b); }),
               dumped.end());
  flows = std::move(dumped);
  return {};
}

std::error_code delete_flows(NetlinkSocket& socket, std::uint32_t mark, std::uint32_t mask) {
  if (mask == 0 || (mark & ~mask) != 0) {
    return errno_code(EINVAL);
  }
  Request request = mark_request(IPCTNL_MSG_CT_DELETE, NLM_F_ACK, mark, mask);
  return transact(socket, request);
}

std::error_code dump_flows(std::uint32_t mark, std::uint32_t mask, std::vector<Flow>& flows) {
  NetlinkSocket socket;
  if (std::error_code error = open_conntrack_socket(socket)) {
    return error;
  }
  return dump_flows(socket, mark, mask, flows);
}

std::error_code delete_flows(std::uint32_t mark, std::uint32_t mask) {
  NetlinkSocket socket;
  if (std::error_code error = open_conntrack_socket(socket)) {
    return error;
  }
  return delete_flows(socket, mark, mask);
}

std::error_code FlowEvents::open() {
  return open_with_filter(std::nullopt, 0);
}

std::error_code FlowEvents::open(std::uint32_t mark_mask, std::uint32_t excluded) {
  if (mark_mask == 0) {
    return errno_code(EINVAL);
  }
  return open_with_filter(mark_mask, excluded);
}

std::error_code FlowEvents::open_with_filter(std::optional<std::uint32_t> mark_mask,
                                             std::uint32_t excluded) {
  const int groups[] = {NFNLGRP_CONNTRACK_NEW, NFNLGRP_CONNTRACK_DESTROY};
  // The filter goes on before the groups are joined, so no unfiltered event gets in.
  std::optional<MarkFilter> filter;
  sock_fprog program{};
  if (mark_mask) {
    program = filter.emplace(*mark_mask, excluded).program();
  }
  Subscription events;
  if (std::error_code error =
          events.open(NETLINK_NETFILTER, groups, kReceiveBuffer, filter ? &program : nullptr)) {
    return error;
  }
  events_ = std::move(events);
  return {};
}

int FlowEvents::fd() const {
  return events_.fd();
}

int FlowEvents::receive_buffer() const {
  int size = 0;
  socklen_t length = sizeof size;
  if (fd() < 0 || getsockopt(fd(), SOL_SOCKET, SO_RCVBUF, &size, &length) != 0) {
    return 0;
  }
  return size;
}

std::error_code FlowEvents::read(std::vector<FlowEvent>& events, bool& lost) {
  events.clear();
  lost = false;
  if (fd() < 0) {
    return errno_code(EBADF);
  }
  // ENOBUFS: the kernel dropped events; EMSGSIZE (cannot happen with events of a few
  // hundred bytes) would lose one. Messages that do not parse are skipped.
  std::size_t lost_count = 0;
  const std::error_code error = events_.read(
      kReadBatch,
      [&](const nlmsghdr* message) {
        FlowEvent event{message->nlmsg_type == message_type(IPCTNL_MSG_CT_DELETE)
                            ? FlowEventKind::Destroy
                            : FlowEventKind::New,
                        {}};
        if (parse_flow(message, message->nlmsg_len, event.flow)) {
          events.push_back(std::move(event));
        }
      },
      lost_count);
  lost = lost_count > 0;
  return error;
}

}  // namespace sekisho::net
