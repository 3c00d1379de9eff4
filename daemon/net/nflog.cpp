#include "daemon/net/nflog.hpp"

#include <array>

#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <sys/socket.h>

namespace sekisho::net {

namespace {

constexpr std::uint16_t message_type(std::uint8_t ulog_type) {
  return static_cast<std::uint16_t>((NFNL_SUBSYS_ULOG << 8) | ulog_type);
}

Request config_request(std::uint16_t group, std::uint8_t command) {
  Request request(message_type(NFULNL_MSG_CONFIG), NLM_F_ACK);
  request.nfgen(AF_UNSPEC, NFNETLINK_V0, group);
  const nfulnl_msg_config_cmd cmd{command};
  request.put_bytes(NFULA_CFG_CMD, &cmd, sizeof cmd);
  return request;
}

// An optional big-endian u32: absent is fine, present must be exactly four bytes.
bool read_optional(const nlattr* attribute, std::optional<std::uint32_t>& out) {
  if (attribute == nullptr) {
    return true;
  }
  std::uint32_t value = 0;
  if (!read_be(attribute, value)) {
    return false;
  }
  out = value;
  return true;
}

}  // namespace

Request nflog_bind_request(const NflogConfig& config) {
  Request request = config_request(config.group, NFULNL_CFG_CMD_BIND);
  nfulnl_msg_config_mode mode{};
  mode.copy_range = htobe32(config.copy_range);
  mode.copy_mode = config.copy_range == 0 ? NFULNL_COPY_META : NFULNL_COPY_PACKET;
  request.put_bytes(NFULA_CFG_MODE, &mode, sizeof mode);
  if (config.sequence_numbers) {
    request.put_be16(NFULA_CFG_FLAGS, NFULNL_CFG_F_SEQ);
  }
  return request;
}

Request nflog_unbind_request(std::uint16_t group) {
  return config_request(group, NFULNL_CFG_CMD_UNBIND);
}

bool parse_nflog_packet(const nlmsghdr* message, NflogPacket& packet) {
  if (message->nlmsg_type != message_type(NFULNL_MSG_PACKET)) {
    return false;
  }
  const auto* family = fixed_header<nfgenmsg>(message);
  const std::optional<ByteSpan> attributes = payload_after<nfgenmsg>(message);
  std::array<const nlattr*, NFULA_MAX + 1> top{};
  if (family == nullptr || !attributes || !table(*attributes, top) ||
      top[NFULA_PACKET_HDR] == nullptr) {
    return false;
  }
  NflogPacket parsed;
  nfulnl_msg_packet_hdr header{};
  if (!read(top[NFULA_PACKET_HDR], header)) {
    return false;
  }
  parsed.family = family->nfgen_family;
  parsed.group = be16toh(family->res_id);
  parsed.hw_protocol = be16toh(header.hw_protocol);
  parsed.hook = header.hook;
  if (top[NFULA_PREFIX] != nullptr && !read_string(top[NFULA_PREFIX], parsed.prefix)) {
    return false;
  }
  if (!read_optional(top[NFULA_MARK], parsed.mark) ||
      !read_optional(top[NFULA_IFINDEX_INDEV], parsed.indev) ||
      !read_optional(top[NFULA_IFINDEX_OUTDEV], parsed.outdev) ||
      !read_optional(top[NFULA_SEQ], parsed.seq)) {
    return false;
  }
  if (top[NFULA_PAYLOAD] != nullptr) {
    parsed.payload = payload(top[NFULA_PAYLOAD]);
  }
  packet = std::move(parsed);
  return true;
}

}  // namespace sekisho::net
