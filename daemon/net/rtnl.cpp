#include "daemon/net/rtnl.hpp"

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <ctime>

#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <net/if.h>

#include "daemon/net/netlink_socket.hpp"

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

// 0 means "do not check" to libmnl, so the counter skips it. The socket is new on every
// call, so this only has to tell our own answers from anything else.
std::uint32_t next_sequence() {
  static std::atomic<std::uint32_t> sequence{static_cast<std::uint32_t>(std::time(nullptr))};
  std::uint32_t value = ++sequence;
  while (value == 0) {
    value = ++sequence;
  }
  return value;
}

// A request under construction: the header, then the family's fixed struct, then
// attributes, in a buffer whose bounds every put is checked against. Not copyable: the
// pointers handed out point into its own buffer.
class Request {
 public:
  Request(std::uint16_t type, std::uint16_t flags) {
    nlmsghdr* header = mnl_nlmsg_put_header(buffer_.data());
    header->nlmsg_type = type;
    header->nlmsg_flags = static_cast<std::uint16_t>(NLM_F_REQUEST | flags);
  }
  Request(const Request&) = delete;
  Request& operator=(const Request&) = delete;

  template <typename Fixed>
  Fixed* put_fixed() {
    return static_cast<Fixed*>(mnl_nlmsg_put_extra_header(header(), sizeof(Fixed)));
  }

  bool put_string(std::uint16_t type, const std::string& value) {
    return mnl_attr_put_strz_check(header(), buffer_.size(), type, value.c_str());
  }
  bool put_bytes(std::uint16_t type, std::size_t length, const void* value) {
    return mnl_attr_put_check(header(), buffer_.size(), type, length, value);
  }
  nlattr* start_nest(std::uint16_t type) {
    return mnl_attr_nest_start_check(header(), buffer_.size(), type);
  }
  void end_nest(nlattr* nest) { mnl_attr_nest_end(header(), nest); }

  nlmsghdr* header() { return reinterpret_cast<nlmsghdr*>(buffer_.data()); }

 private:
  alignas(nlmsghdr) std::array<char, kRequestSize> buffer_{};
};

// Dumps end with NLMSG_DONE, which carries the dump's error (e.g. ENODEV for a filter on
// a missing link); libmnl 1.0.4 ignores it, so dumps use these control callbacks instead.
// Giving mnl_cb_run2 a control array replaces all of libmnl's defaults below its length,
// so NLMSG_ERROR is handled here too.
int on_dump_error(const nlmsghdr* header, void*) {
  if (mnl_nlmsg_get_payload_len(header) < sizeof(nlmsgerr)) {
    errno = EBADMSG;
    return MNL_CB_ERROR;
  }
  const auto* error = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(header));
  if (error->error == 0) {
    return MNL_CB_STOP;
  }
  errno = error->error < 0 ? -error->error : error->error;
  return MNL_CB_ERROR;
}

int on_dump_done(const nlmsghdr* header, void*) {
  if (mnl_nlmsg_get_payload_len(header) >= sizeof(int)) {
    int error = 0;
    std::memcpy(&error, mnl_nlmsg_get_payload(header), sizeof error);
    if (error != 0) {
      errno = error < 0 ? -error : error;
      return MNL_CB_ERROR;
    }
  }
  return MNL_CB_STOP;
}

enum class Kind { Acked, Dump };

// Sends `request` on a socket of its own and reads answers until the kernel's ACK (or
// error) or, for a dump, NLMSG_DONE. Messages of other types go to `on_message`.
std::error_code transact(Request& request, Kind kind, mnl_cb_t on_message, void* data) {
  NetlinkSocket socket;
  if (std::error_code error = socket.open(NETLINK_ROUTE, kAnswerTimeout)) {
    return error;
  }
  int on = 1;
  // The ACK need not echo our request back.
  mnl_socket_setsockopt(socket.get(), NETLINK_CAP_ACK, &on, sizeof on);
  // The kernel then filters dumps by the header (the link of RTM_GETADDR) instead of
  // sending every address of every link; older kernels refuse the option and we filter
  // ourselves anyway.
  mnl_socket_setsockopt(socket.get(), NETLINK_GET_STRICT_CHK, &on, sizeof on);
  nlmsghdr* header = request.header();
  header->nlmsg_seq = next_sequence();
  if (std::error_code error = socket.send(header, header->nlmsg_len)) {
    return error;
  }
  if (kind == Kind::Acked) {
    return socket.run_until_stop(header->nlmsg_seq, on_message, data);
  }
  std::array<mnl_cb_t, NLMSG_DONE + 1> control{};
  control[NLMSG_ERROR] = on_dump_error;
  control[NLMSG_DONE] = on_dump_done;
  return socket.run_until_stop(header->nlmsg_seq, on_message, data, control.data(),
                               static_cast<unsigned>(control.size()));
}

// The attributes of one message or nest, by type; later duplicates win. Types above `max`
// (newer than our headers) are skipped.
struct AttributeTable {
  const nlattr** table;
  std::uint16_t max;
};

int collect_attribute(const nlattr* attribute, void* data) {
  auto* table = static_cast<AttributeTable*>(data);
  const std::uint16_t type = mnl_attr_get_type(attribute);
  if (type <= table->max) {
    table->table[type] = attribute;
  }
  return MNL_CB_OK;
}

// libmnl's iteration stops at the first attribute whose length does not fit, so nothing
// here reads past the message; a string without its NUL is cut at its length.
std::string attribute_string(const nlattr* attribute) {
  const auto* text = static_cast<const char*>(mnl_attr_get_payload(attribute));
  return std::string(text, strnlen(text, mnl_attr_get_payload_len(attribute)));
}

struct LinkAnswer {
  LinkInfo info;
  bool seen = false;
};

int on_link(const nlmsghdr* header, void* data) {
  if (header->nlmsg_type != RTM_NEWLINK) {
    return MNL_CB_OK;
  }
  if (mnl_nlmsg_get_payload_len(header) < sizeof(ifinfomsg)) {
    errno = EBADMSG;
    return MNL_CB_ERROR;
  }
  const auto* message = static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(header));
  std::array<const nlattr*, IFLA_MAX + 1> attributes{};
  AttributeTable table{attributes.data(), IFLA_MAX};
  mnl_attr_parse(header, sizeof(ifinfomsg), collect_attribute, &table);
  if (attributes[IFLA_IFNAME] == nullptr) {
    errno = EBADMSG;
    return MNL_CB_ERROR;
  }
  LinkInfo info;
  info.index = message->ifi_index;
  info.flags = message->ifi_flags;
  info.name = attribute_string(attributes[IFLA_IFNAME]);
  if (const nlattr* link_info = attributes[IFLA_LINKINFO]) {
    if (mnl_attr_validate(link_info, MNL_TYPE_NESTED) < 0) {
      errno = EBADMSG;
      return MNL_CB_ERROR;
    }
    std::array<const nlattr*, IFLA_INFO_MAX + 1> nested{};
    AttributeTable nested_table{nested.data(), IFLA_INFO_MAX};
    mnl_attr_parse_nested(link_info, collect_attribute, &nested_table);
    if (nested[IFLA_INFO_KIND] != nullptr) {
      info.kind = attribute_string(nested[IFLA_INFO_KIND]);
    }
  }
  auto* answer = static_cast<LinkAnswer*>(data);
  answer->info = std::move(info);
  answer->seen = true;
  return MNL_CB_OK;
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
  std::vector<policy::InterfaceAddress> addresses;
};

bool ipv6_link_local(const policy::IpAddress& address) {
  return address.family == policy::Family::V6 && address.bytes[0] == 0xfe &&
         (address.bytes[1] & 0xc0) == 0x80;
}

int on_address(const nlmsghdr* header, void* data) {
  if (header->nlmsg_type != RTM_NEWADDR) {
    return MNL_CB_OK;
  }
  if (mnl_nlmsg_get_payload_len(header) < sizeof(ifaddrmsg)) {
    errno = EBADMSG;
    return MNL_CB_ERROR;
  }
  auto* dump = static_cast<AddressDump*>(data);
  const auto* message = static_cast<const ifaddrmsg*>(mnl_nlmsg_get_payload(header));
  // Kernels without strict checking send every link's addresses.
  if (message->ifa_index != dump->index ||
      (message->ifa_family != AF_INET && message->ifa_family != AF_INET6)) {
    return MNL_CB_OK;
  }
  policy::InterfaceAddress address;
  address.address.family = message->ifa_family == AF_INET ? policy::Family::V4 : policy::Family::V6;
  const std::size_t length = message->ifa_family == AF_INET ? 4 : 16;
  std::array<const nlattr*, IFA_MAX + 1> attributes{};
  AttributeTable table{attributes.data(), IFA_MAX};
  mnl_attr_parse(header, sizeof(ifaddrmsg), collect_attribute, &table);
  // IFA_LOCAL is our own address; on a point-to-point link IFA_ADDRESS is the peer's.
  // IPv6 sends IFA_ADDRESS alone.
  const nlattr* attribute =
      attributes[IFA_LOCAL] != nullptr ? attributes[IFA_LOCAL] : attributes[IFA_ADDRESS];
  if (attribute == nullptr || mnl_attr_get_payload_len(attribute) != length ||
      message->ifa_prefixlen > length * 8) {
    errno = EBADMSG;
    return MNL_CB_ERROR;
  }
  std::memcpy(address.address.bytes.data(), mnl_attr_get_payload(attribute), length);
  address.prefix = message->ifa_prefixlen;
  if (!ipv6_link_local(address.address)) {
    dump->addresses.push_back(address);
  }
  return MNL_CB_OK;
}

void put_address(Request& request, int ifindex, const policy::InterfaceAddress& address) {
  auto* message = request.put_fixed<ifaddrmsg>();
  message->ifa_family = static_cast<std::uint8_t>(family_of(address.address));
  message->ifa_prefixlen = static_cast<std::uint8_t>(address.prefix);
  message->ifa_scope = RT_SCOPE_UNIVERSE;
  message->ifa_index = static_cast<unsigned>(ifindex);
  // Both the same, as `ip addr add` sends them: our address, no point-to-point peer.
  const std::size_t length = address.address.family == policy::Family::V4 ? 4 : 16;
  request.put_bytes(IFA_LOCAL, length, address.address.bytes.data());
  request.put_bytes(IFA_ADDRESS, length, address.address.bytes.data());
}

}  // namespace

bool LinkInfo::up() const {
  return (flags & IFF_UP) != 0;
}

std::error_code get_link(const std::string& name, LinkInfo& out) {
  if (!valid_name(name)) {
    return invalid();
  }
  Request request(RTM_GETLINK, NLM_F_ACK);
  put_link(request, name);
  // Ask for no statistics: they are most of the answer and nothing here reads them.
  const std::uint32_t mask = RTEXT_FILTER_SKIP_STATS;
  request.put_bytes(IFLA_EXT_MASK, sizeof mask, &mask);
  LinkAnswer answer;
  if (std::error_code error = transact(request, Kind::Acked, on_link, &answer)) {
    return error;
  }
  if (!answer.seen) {
    return errno_code(EBADMSG);
  }
  out = std::move(answer.info);
  return {};
}

std::error_code create_link(const std::string& name, const std::string& kind) {
  if (!valid_name(name) || kind.empty() || kind.find('\0') != std::string::npos) {
    return invalid();
  }
  // EXCL: an existing link of that name is never reconfigured by accident.
  Request request(RTM_NEWLINK, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
  put_link(request, name);
  nlattr* link_info = request.start_nest(IFLA_LINKINFO);
  if (link_info == nullptr || !request.put_string(IFLA_INFO_KIND, kind)) {
    return invalid();  // a kind too long for any kernel
  }
  request.end_nest(link_info);
  return transact(request, Kind::Acked, nullptr, nullptr);
}

std::error_code delete_link(const std::string& name) {
  if (!valid_name(name)) {
    return invalid();
  }
  Request request(RTM_DELLINK, NLM_F_ACK);
  put_link(request, name);
  return transact(request, Kind::Acked, nullptr, nullptr);
}

std::error_code set_link_up(const std::string& name, bool up) {
  if (!valid_name(name)) {
    return invalid();
  }
  // Without NLM_F_CREATE a missing link is ENODEV, never a new one.
  Request request(RTM_NEWLINK, NLM_F_ACK);
  ifinfomsg* message = put_link(request, name);
  // ifi_change says which flags to touch, ifi_flags their new value.
  message->ifi_change = IFF_UP;
  message->ifi_flags = up ? IFF_UP : 0;
  return transact(request, Kind::Acked, nullptr, nullptr);
}

std::error_code list_addresses(int ifindex, std::vector<policy::InterfaceAddress>& out) {
  if (ifindex <= 0) {
    return invalid();
  }
  std::error_code error;
  for (int attempt = 0; attempt < kDumpAttempts; ++attempt) {
    Request request(RTM_GETADDR, NLM_F_DUMP);
    auto* message = request.put_fixed<ifaddrmsg>();
    message->ifa_family = AF_UNSPEC;  // both families in one dump
    message->ifa_index = static_cast<unsigned>(ifindex);
    AddressDump dump{static_cast<unsigned>(ifindex), {}};
    error = transact(request, Kind::Dump, on_address, &dump);
    if (!error) {
      out = std::move(dump.addresses);
      return {};
    }
    // libmnl reports NLM_F_DUMP_INTR as EINTR: the list changed while the kernel sent it.
    if (error.value() != EINTR) {
      break;
    }
  }
  return error;
}

std::error_code add_address(int ifindex, const policy::InterfaceAddress& address) {
  if (ifindex <= 0 || !valid_address(address)) {
    return invalid();
  }
  // REPLACE: an address already there is updated, not refused with EEXIST.
  Request request(RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE);
  put_address(request, ifindex, address);
  return transact(request, Kind::Acked, nullptr, nullptr);
}

std::error_code delete_address(int ifindex, const policy::InterfaceAddress& address) {
  if (ifindex <= 0 || !valid_address(address)) {
    return invalid();
  }
  Request request(RTM_DELADDR, NLM_F_ACK);
  put_address(request, ifindex, address);
  return transact(request, Kind::Acked, nullptr, nullptr);
}

}  // namespace sekisho::net
