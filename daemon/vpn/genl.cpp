#include "daemon/vpn/genl.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/time_types.h>
#include <linux/wireguard.h>
#include <netinet/in.h>

#include "daemon/net/netlink_attributes.hpp"
#include "daemon/net/netlink_request.hpp"
#include "daemon/net/netlink_socket.hpp"
#include "daemon/net/netlink_transaction.hpp"

namespace sekisho::vpn {

namespace {

constexpr std::size_t kGenlHeaderSize = NLMSG_HDRLEN + GENL_HDRLEN;
constexpr std::size_t kAttributeHeaderSize = MNL_ATTR_HDRLEN;

constexpr std::size_t attribute_size(std::size_t payload) {
  return kAttributeHeaderSize + MNL_ALIGN(payload);
}

// One IPv6 allowed IP: its nest, family, address and prefix length.
constexpr std::size_t kLargestAllowedIpSize =
    kAttributeHeaderSize + attribute_size(2) + attribute_size(sizeof(in6_addr)) + attribute_size(1);

// Everything a message may hold besides the interface name when it carries one peer's
// header and a single allowed IP; genl_set_messages never uses a smaller limit, so every
// peer fits into a fresh message.
constexpr std::size_t kFixedMessageRoom =
    kGenlHeaderSize + attribute_size(WG_KEY_LEN) /* private key */ +
    attribute_size(2) /* listen port */ + kAttributeHeaderSize /* peers */ +
    kAttributeHeaderSize /* peer */ + attribute_size(WG_KEY_LEN) /* public key */ +
    attribute_size(4) /* flags */ + attribute_size(2) /* keepalive */ +
    kAttributeHeaderSize /* allowed IPs */ + kLargestAllowedIpSize;

// ---- building -------------------------------------------------------------------------

std::vector<std::uint8_t> finished(net::Request& request, std::uint32_t seq) {
  request.header()->nlmsg_seq = seq;
  const net::ByteSpan bytes = request.bytes();
  return {bytes.begin(), bytes.end()};
}

// Builds the SET messages one after another, each in a request of `limit` bytes. Every
// put is checked against the limit; what does not fit is taken back (Nest::cancel) and
// written again into the next message.
class SetMessageBuilder {
 public:
  SetMessageBuilder(std::uint16_t family_id, const std::string& ifname, const WgChange& change,
                    std::uint32_t first_seq, std::size_t limit)
      : family_id_(family_id),
        ifname_(ifname),
        change_(change),
        next_seq_(first_seq),
        limit_(limit) {}

  std::vector<std::vector<std::uint8_t>> build() {
    if (change_.empty()) {
      return {};
    }
    open_message();
    for (const PeerChange& peer : change_.peers) {
      put_peer(peer);
    }
    close_message();
    return std::move(messages_);
  }

 private:
  void open_message() {
    request_.emplace(family_id_, NLM_F_ACK, limit_);
    request_->genl(WG_CMD_SET_DEVICE, WG_GENL_VERSION);
    // The limit leaves room for the name and the device attributes (kFixedMessageRoom).
    request_->put_string(WGDEVICE_A_IFNAME, ifname_);
    if (messages_.empty()) {
      if (change_.private_key) {
        request_->put_bytes(WGDEVICE_A_PRIVATE_KEY, change_.private_key->data(),
                            change_.private_key->size());
      }
      if (change_.listen_port) {
        request_->put_u16(WGDEVICE_A_LISTEN_PORT, *change_.listen_port);
      }
    }
    peers_nest_.reset();
    peers_in_message_ = 0;
  }

  void close_message() {
    if (peers_nest_) {
      if (peers_in_message_ == 0) {
        peers_nest_->cancel();
      } else {
        peers_nest_->end();
      }
      peers_nest_.reset();
    }
    messages_.push_back(finished(*request_, next_seq_++));
  }

  void next_message() {
    if (peers_in_message_ == 0) {
      // A fresh message always has room for one peer and one allowed IP (the limit is at
      // least kFixedMessageRoom), so this is a bug, not a large change.
      throw std::logic_error("genl_set_messages: a peer does not fit into an empty message");
    }
    close_message();
    open_message();
  }

  // The peer's nest with its key and, in its first chunk only, its flags and keepalive;
  // a closed nest when that does not fit.
  net::Request::Nest put_peer_header(const PeerChange& peer, bool first_chunk) {
    if (!peers_nest_) {
      net::Request::Nest peers = request_->nest(WGDEVICE_A_PEERS);
      if (!peers) {
        return peers;
      }
      peers_nest_.emplace(std::move(peers));
    }
    net::Request::Nest peer_nest = request_->nest(0);
    if (!peer_nest) {
      return peer_nest;
    }
    bool fits =
        request_->put_bytes(WGPEER_A_PUBLIC_KEY, peer.public_key.data(), peer.public_key.size());
    if (fits && first_chunk) {
      std::uint32_t flags = 0;
      if (peer.remove) {
        flags |= WGPEER_F_REMOVE_ME;
      } else if (peer.allowed_ips) {
        flags |= WGPEER_F_REPLACE_ALLOWEDIPS;
      }
      if (flags != 0) {
        fits = request_->put_u32(WGPEER_A_FLAGS, flags);
      }
      if (fits && !peer.remove && peer.keepalive_seconds) {
        fits = request_->put_u16(WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, *peer.keepalive_seconds);
      }
    }
    if (!fits) {
      peer_nest.cancel();
    }
    return peer_nest;
  }

  bool put_allowed_ip(const policy::Cidr& cidr) {
    net::Request::Nest nest = request_->nest(0);
    if (!nest) {
      return false;
    }
    const bool v4 = cidr.network.family == policy::Family::V4;
    const bool fits =
        request_->put_u16(WGALLOWEDIP_A_FAMILY, v4 ? AF_INET : AF_INET6) &&
        request_->put_bytes(WGALLOWEDIP_A_IPADDR, cidr.network.bytes.data(),
                            v4 ? sizeof(in_addr) : sizeof(in6_addr)) &&
        request_->put_u8(WGALLOWEDIP_A_CIDR_MASK, static_cast<std::uint8_t>(cidr.prefix));
    if (!fits) {
      nest.cancel();
      return false;
    }
    nest.end();
    return true;
  }

  void put_peer(const PeerChange& peer) {
    static const std::vector<policy::Cidr> kNoAllowedIps;
    const std::vector<policy::Cidr>& allowed_ips =
        (peer.remove || !peer.allowed_ips) ? kNoAllowedIps : *peer.allowed_ips;
    std::size_t next_ip = 0;
    bool first_chunk = true;
    for (;;) {
      net::Request::Nest peer_nest = put_peer_header(peer, first_chunk);
      if (!peer_nest) {
        next_message();
        continue;
      }
      if (next_ip < allowed_ips.size()) {
        net::Request::Nest ips_nest = request_->nest(WGPEER_A_ALLOWEDIPS);
        std::size_t written = 0;
        while (ips_nest && next_ip < allowed_ips.size() && put_allowed_ip(allowed_ips[next_ip])) {
          ++next_ip;
          ++written;
        }
        if (written == 0) {
          // Not even one allowed IP fits: a chunk with a key alone would only widen the
          // window in which REPLACE_ALLOWEDIPS has emptied the list. Start it afresh.
          ips_nest.cancel();
          peer_nest.cancel();
          next_message();
          continue;
        }
        ips_nest.end();
      }
      peer_nest.end();
      ++peers_in_message_;
      if (next_ip == allowed_ips.size()) {
        return;
      }
      first_chunk = false;
      next_message();
    }
  }

  std::uint16_t family_id_;
  const std::string& ifname_;
  const WgChange& change_;
  std::uint32_t next_seq_;
  std::size_t limit_;
  std::optional<net::Request> request_;
  std::optional<net::Request::Nest> peers_nest_;
  std::size_t peers_in_message_ = 0;
  std::vector<std::vector<std::uint8_t>> messages_;
};

// ---- parsing --------------------------------------------------------------------------

std::error_code bad_message() {
  return std::make_error_code(std::errc::bad_message);
}

std::error_code kernel_error(int negative_errno) {
  // The kernel sends -errno; take either sign rather than report a negative code.
  return {negative_errno < 0 ? -negative_errno : negative_errno, std::system_category()};
}

using net::walk_messages;
using net::walk_nested;

// The attributes after the genetlink header; false when the message is too short to have
// one, or as walk.
template <typename Visit>
bool walk_genl_attributes(const nlmsghdr* message, Visit&& visit) {
  const std::optional<net::ByteSpan> attributes = net::payload_after<genlmsghdr>(message);
  return attributes && net::walk(*attributes, std::forward<Visit>(visit));
}

const genlmsghdr* genl_header(const nlmsghdr* message) {
  return net::fixed_header<genlmsghdr>(message);
}

// The payload as a T of exactly sizeof(T) bytes, in `out`.
template <typename T>
bool read_into(const nlattr* attribute, std::optional<T>& out) {
  T value;
  if (!net::read(attribute, value)) {
    return false;
  }
  out = value;
  return true;
}

std::optional<Endpoint> parse_endpoint(const nlattr* attribute, bool& ok) {
  sockaddr_in v4{};
  sockaddr_in6 v6{};
  Endpoint endpoint;
  if (net::read(attribute, v4) && v4.sin_family == AF_INET) {
    endpoint.address.family = policy::Family::V4;
    std::memcpy(endpoint.address.bytes.data(), &v4.sin_addr, sizeof v4.sin_addr);
    endpoint.port = ntohs(v4.sin_port);
    return endpoint;
  }
  if (net::read(attribute, v6) && v6.sin6_family == AF_INET6) {
    // The scope id of a link-local endpoint has no place in Endpoint and is dropped.
    endpoint.address.family = policy::Family::V6;
    std::memcpy(endpoint.address.bytes.data(), &v6.sin6_addr, sizeof v6.sin6_addr);
    endpoint.port = ntohs(v6.sin6_port);
    return endpoint;
  }
  ok = false;
  return std::nullopt;
}

bool parse_allowed_ip(const nlattr* nest, policy::Cidr& cidr) {
  std::optional<std::uint16_t> family;
  const nlattr* address = nullptr;
  std::optional<std::uint8_t> prefix;
  const bool walked = walk_nested(nest, [&](const nlattr* attribute) {
    switch (net::attribute_type(attribute)) {
      case WGALLOWEDIP_A_FAMILY:
        return read_into(attribute, family);
      case WGALLOWEDIP_A_IPADDR:
        address = attribute;
        return true;  // its length is checked against the family below
      case WGALLOWEDIP_A_CIDR_MASK:
        return read_into(attribute, prefix);
      default:
        return true;
    }
  });
  if (!walked || !family || address == nullptr || !prefix) {
    return false;
  }
  policy::IpAddress network;
  const net::ByteSpan bytes = net::payload(address);
  if (*family == AF_INET && bytes.size() == sizeof(in_addr)) {
    network.family = policy::Family::V4;
  } else if (*family == AF_INET6 && bytes.size() == sizeof(in6_addr)) {
    network.family = policy::Family::V6;
  } else {
    return false;
  }
  if (*prefix > network.bits()) {
    return false;
  }
  std::memcpy(network.bytes.data(), bytes.data(), bytes.size());
  // The kernel stores networks masked already; masking again keeps Cidr's promise even
  // if it ever did not.
  cidr = policy::mask(network, *prefix);
  return true;
}

bool parse_peer(const nlattr* nest, WgPeer& peer) {
  bool has_public_key = false;
  const bool walked = walk_nested(nest, [&](const nlattr* attribute) {
    switch (net::attribute_type(attribute)) {
      case WGPEER_A_PUBLIC_KEY:
        has_public_key = net::read(attribute, peer.public_key);
        return has_public_key;
      case WGPEER_A_ENDPOINT: {
        bool ok = true;
        peer.endpoint = parse_endpoint(attribute, ok);
        return ok;
      }
      case WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL:
        return net::read(attribute, peer.keepalive_seconds);
      case WGPEER_A_LAST_HANDSHAKE_TIME: {
        __kernel_timespec time{};
        if (!net::read(attribute, time)) {
          return false;
        }
        peer.last_handshake_seconds = time.tv_sec;
        peer.last_handshake_nanoseconds = time.tv_nsec;
        return true;
      }
      case WGPEER_A_RX_BYTES:
        return net::read(attribute, peer.rx_bytes);
      case WGPEER_A_TX_BYTES:
        return net::read(attribute, peer.tx_bytes);
      case WGPEER_A_ALLOWEDIPS:
        return walk_nested(attribute, [&](const nlattr* entry) {
          policy::Cidr cidr;
          if (!parse_allowed_ip(entry, cidr)) {
            return false;
          }
          peer.allowed_ips.push_back(cidr);
          return true;
        });
      default:
        // The preshared key, the protocol version and whatever later kernels add.
        return true;
    }
  });
  return walked && has_public_key;
}

// A continuation (the same key as the peer before it) only adds allowed IPs.
void add_peer(WgDevice& device, WgPeer&& peer) {
  if (!device.peers.empty() && device.peers.back().public_key == peer.public_key) {
    auto& allowed_ips = device.peers.back().allowed_ips;
    allowed_ips.insert(allowed_ips.end(), peer.allowed_ips.begin(), peer.allowed_ips.end());
    return;
  }
  device.peers.push_back(std::move(peer));
}

bool parse_device_message(const nlmsghdr* message, WgDevice& device) {
  const genlmsghdr* genl = genl_header(message);
  if (genl == nullptr || genl->cmd != WG_CMD_GET_DEVICE) {
    return false;
  }
  return walk_genl_attributes(message, [&](const nlattr* attribute) {
    switch (net::attribute_type(attribute)) {
      case WGDEVICE_A_PRIVATE_KEY: {
        Key key;
        if (!net::read(attribute, key)) {
          return false;
        }
        device.private_key = key;
        return true;
      }
      case WGDEVICE_A_LISTEN_PORT:
        return net::read(attribute, device.listen_port);
      case WGDEVICE_A_FWMARK:
        return net::read(attribute, device.fwmark);
      case WGDEVICE_A_PEERS:
        return walk_nested(attribute, [&](const nlattr* nest) {
          WgPeer peer;
          if (!parse_peer(nest, peer)) {
            return false;
          }
          add_peer(device, std::move(peer));
          return true;
        });
      default:
        // The interface's name and index and its public key (derived from the private).
        return true;
    }
  });
}

// ---- the socket -----------------------------------------------------------------------

// The kernel always answers; a timeout only keeps a wedged kernel from hanging sekishod.
constexpr std::chrono::seconds kReceiveTimeout{5};
// A dump is read again when the device changed while it was read (NLM_F_DUMP_INTR).
constexpr int kDumpAttempts = 5;

std::error_code send_message(net::NetlinkSocket& socket, const std::vector<std::uint8_t>& message) {
  return socket.send(message.data(), message.size());
}

// The first datagram that answers `seq`: an answer an earlier request left behind (one
// that came after its request timed out) is skipped.
std::error_code receive_answer(net::NetlinkSocket& socket, std::uint32_t seq,
                               std::vector<std::uint8_t>& datagram) {
  for (;;) {
    if (auto error = socket.receive(datagram)) {
      return error;
    }
    const auto* first = reinterpret_cast<const nlmsghdr*>(datagram.data());
    if (datagram.size() < sizeof(nlmsghdr) || first->nlmsg_seq == seq) {
      return {};
    }
  }
}

std::error_code resolve_family(net::NetlinkSocket& socket, std::uint16_t& family_id) {
  const std::uint32_t seq = socket.next_sequence();
  if (auto error = send_message(socket, genl_family_request(seq))) {
    return error;
  }
  std::vector<std::uint8_t> reply;
  if (auto error = receive_answer(socket, seq, reply)) {
    return error;
  }
  return parse_genl_family_reply(reply, family_id);
}

// A generic netlink socket of its own and WireGuard's family id on it.
std::error_code open_wireguard(net::NetlinkSocket& socket, std::uint16_t& family_id) {
  if (auto error = socket.open(NETLINK_GENERIC, kReceiveTimeout)) {
    return error;
  }
  return resolve_family(socket, family_id);
}

// Whether a dump part ends the dump. A part that cannot be walked ends it too: the parser
// reports it, and waiting for more would only run into the timeout.
bool ends_dump(const std::vector<std::uint8_t>& datagram) {
  bool end = false;
  const bool walked = walk_messages(datagram, [&](const nlmsghdr* message) {
    end = end || message->nlmsg_type == NLMSG_DONE || message->nlmsg_type == NLMSG_ERROR;
    return true;
  });
  return end || !walked;
}

}  // namespace

std::vector<std::uint8_t> genl_family_request(std::uint32_t seq) {
  // Without NLM_F_ACK the answer is one message: the family, or an error.
  net::Request request(GENL_ID_CTRL, 0);
  request.genl(CTRL_CMD_GETFAMILY, 1);
  request.put_string(CTRL_ATTR_FAMILY_NAME, WG_GENL_NAME);
  return finished(request, seq);
}

std::error_code parse_genl_family_reply(const std::vector<std::uint8_t>& reply,
                                        std::uint16_t& family_id) {
  std::optional<std::uint16_t> found;
  std::error_code error;
  const bool walked = walk_messages(reply, [&](const nlmsghdr* message) {
    if (message->nlmsg_type == NLMSG_ERROR) {
      const auto code = net::message_error(message);
      if (!code) {
        return false;
      }
      if (*code != 0) {
        error = kernel_error(*code);
      }
      return true;
    }
    if (message->nlmsg_type != GENL_ID_CTRL) {
      return true;
    }
    const genlmsghdr* genl = genl_header(message);
    if (genl == nullptr || genl->cmd != CTRL_CMD_NEWFAMILY) {
      return false;
    }
    return walk_genl_attributes(message, [&](const nlattr* attribute) {
      return net::attribute_type(attribute) != CTRL_ATTR_FAMILY_ID || read_into(attribute, found);
    });
  });
  if (!walked) {
    return bad_message();
  }
  if (error) {
    return error;
  }
  if (!found) {
    return bad_message();
  }
  family_id = *found;
  return {};
}

std::vector<std::uint8_t> genl_get_request(std::uint16_t family_id, const std::string& ifname,
                                           std::uint32_t seq) {
  net::Request request(family_id, NLM_F_DUMP, kGenlHeaderSize + attribute_size(ifname.size() + 1));
  request.genl(WG_CMD_GET_DEVICE, WG_GENL_VERSION);
  request.put_string(WGDEVICE_A_IFNAME, ifname);
  return finished(request, seq);
}

std::vector<std::vector<std::uint8_t>> genl_set_messages(std::uint16_t family_id,
                                                         const std::string& ifname,
                                                         const WgChange& change,
                                                         std::uint32_t first_seq,
                                                         std::size_t max_message) {
  const std::size_t limit =
      std::max(max_message, kFixedMessageRoom + attribute_size(ifname.size() + 1));
  return SetMessageBuilder(family_id, ifname, change, first_seq, limit).build();
}

std::error_code parse_genl_device_dump(const std::vector<std::vector<std::uint8_t>>& messages,
                                       WgDevice& device) {
  WgDevice parsed;
  bool done = false;
  bool interrupted = false;
  std::error_code error;
  for (const auto& datagram : messages) {
    const bool walked = walk_messages(datagram, [&](const nlmsghdr* message) {
      if (done || error) {
        return true;  // nothing after the end counts
      }
      if ((message->nlmsg_flags & NLM_F_DUMP_INTR) != 0) {
        interrupted = true;
      }
      switch (message->nlmsg_type) {
        case NLMSG_NOOP:
          return true;
        case NLMSG_DONE:
        case NLMSG_ERROR: {
          const auto code = net::message_error(message);
          if (!code) {
            return false;
          }
          if (*code != 0) {
            error = kernel_error(*code);
          }
          // An NLMSG_ERROR of 0 is an ACK, which a dump does not end with.
          done = message->nlmsg_type == NLMSG_DONE || *code != 0;
          return true;
        }
        default:
          if (message->nlmsg_type < NLMSG_MIN_TYPE) {
            return true;  // NLMSG_OVERRUN and reserved types carry no device
          }
          return parse_device_message(message, parsed);
      }
    });
    if (!walked) {
      return bad_message();
    }
    if (done || error) {
      break;
    }
  }
  if (error) {
    return error;
  }
  if (!done) {
    return bad_message();  // the dump was cut short
  }
  if (interrupted) {
    return std::make_error_code(std::errc::interrupted);
  }
  device = std::move(parsed);
  return {};
}

std::error_code GenlControl::get(WgDevice& device) {
  net::NetlinkSocket socket;
  std::uint16_t family_id = 0;
  if (auto error = open_wireguard(socket, family_id)) {
    return error;
  }
  // parse_genl_device_dump reports a dump the device changed under as interrupted.
  return net::retry_interrupted(kDumpAttempts, [&]() -> std::error_code {
    const std::uint32_t seq = socket.next_sequence();
    if (auto error = send_message(socket, genl_get_request(family_id, ifname_, seq))) {
      return error;
    }
    std::vector<std::vector<std::uint8_t>> parts;
    do {
      parts.emplace_back();
      if (auto error = receive_answer(socket, seq, parts.back())) {
        return error;
      }
    } while (!ends_dump(parts.back()));
    return parse_genl_device_dump(parts, device);
  });
}

std::error_code GenlControl::set(const WgChange& change) {
  if (change.empty()) {
    return {};
  }
  net::NetlinkSocket socket;
  std::uint16_t family_id = 0;
  if (auto error = open_wireguard(socket, family_id)) {
    return error;
  }
  // Numbered once the messages are known: one sequence number each.
  auto messages = genl_set_messages(family_id, ifname_, change, 0);
  std::uint32_t seq = socket.next_sequence(static_cast<std::uint32_t>(messages.size()));
  for (auto& message : messages) {
    reinterpret_cast<nlmsghdr*>(message.data())->nlmsg_seq = seq;
    if (auto error = send_message(socket, message)) {
      return error;
    }
    if (auto error = socket.run_until_stop(seq++, nullptr, nullptr)) {
      return error;
    }
  }
  return {};
}

}  // namespace sekisho::vpn
