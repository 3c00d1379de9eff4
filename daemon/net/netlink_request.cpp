#include "daemon/net/netlink_request.hpp"

#include <algorithm>
#include <string>

#include <endian.h>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/netfilter/nfnetlink.h>

namespace sekisho::net {

Request::Request(std::uint16_t type, std::uint16_t flags, std::size_t limit)
    : buffer_(std::max<std::size_t>(limit, MNL_NLMSG_HDRLEN), 0) {
  nlmsghdr* message = mnl_nlmsg_put_header(buffer_.data());
  message->nlmsg_type = type;
  message->nlmsg_flags = static_cast<std::uint16_t>(NLM_F_REQUEST | flags);
}

nlmsghdr* Request::header() {
  return reinterpret_cast<nlmsghdr*>(buffer_.data());
}

const nlmsghdr* Request::header() const {
  return reinterpret_cast<const nlmsghdr*>(buffer_.data());
}

std::uint32_t Request::size() const {
  return header()->nlmsg_len;
}

std::span<const std::uint8_t> Request::bytes() const {
  return {buffer_.data(), size()};
}

void* Request::put_extra(std::size_t size) {
  if (header()->nlmsg_len + MNL_ALIGN(size) > buffer_.size()) {
    overflowed_ = true;
    return nullptr;
  }
  return mnl_nlmsg_put_extra_header(header(), size);
}

nfgenmsg* Request::nfgen(std::uint8_t family, std::uint8_t version, std::uint16_t res_id) {
  auto* fixed = put_fixed<nfgenmsg>();
  if (fixed != nullptr) {
    fixed->nfgen_family = family;
    fixed->version = version;
    fixed->res_id = htobe16(res_id);
  }
  return fixed;
}

genlmsghdr* Request::genl(std::uint8_t command, std::uint8_t version) {
  auto* fixed = put_fixed<genlmsghdr>();
  if (fixed != nullptr) {
    fixed->cmd = command;
    fixed->version = version;
  }
  return fixed;
}

nlattr* Request::put_attribute(std::uint16_t type, const void* value, std::size_t length) {
  // An attribute's length is 16 bits, header included.
  if (length > UINT16_MAX - MNL_ATTR_HDRLEN ||
      !mnl_attr_put_check(header(), buffer_.size(), type, length, value)) {
    overflowed_ = true;
    return nullptr;
  }
  return reinterpret_cast<nlattr*>(buffer_.data() + header()->nlmsg_len -
                                   MNL_ALIGN(MNL_ATTR_HDRLEN + length));
}

bool Request::put_u8(std::uint16_t type, std::uint8_t value) {
  return put_attribute(type, &value, sizeof value) != nullptr;
}
bool Request::put_u16(std::uint16_t type, std::uint16_t value) {
  return put_attribute(type, &value, sizeof value) != nullptr;
}
bool Request::put_u32(std::uint16_t type, std::uint32_t value) {
  return put_attribute(type, &value, sizeof value) != nullptr;
}
bool Request::put_u64(std::uint16_t type, std::uint64_t value) {
  return put_attribute(type, &value, sizeof value) != nullptr;
}
bool Request::put_be16(std::uint16_t type, std::uint16_t value) {
  return put_u16(type, htobe16(value));
}
bool Request::put_be32(std::uint16_t type, std::uint32_t value) {
  return put_u32(type, htobe32(value));
}
bool Request::put_be64(std::uint16_t type, std::uint64_t value) {
  return put_u64(type, htobe64(value));
}

bool Request::put_string(std::uint16_t type, std::string_view text) {
  if (text.find('\0') != std::string_view::npos || text.size() >= UINT16_MAX) {
    overflowed_ = true;
    return false;
  }
  const std::string terminated(text);
  return put_attribute(type, terminated.c_str(), terminated.size() + 1) != nullptr;
}

bool Request::put_bytes(std::uint16_t type, const void* value, std::size_t length) {
  return put_attribute(type, value, length) != nullptr;
}

Request::Nest Request::nest(std::uint16_t type) {
  return Nest(*this, type);
}

Request::Nest::Nest(Request& request, std::uint16_t type) : request_(&request) {
  offset_ = request.header()->nlmsg_len;
  open_ = mnl_attr_nest_start_check(request.header(), request.buffer_.size(), type) != nullptr;
  if (!open_) {
    request.overflowed_ = true;
  }
}

Request::Nest::Nest(Nest&& other) noexcept
    : request_(other.request_), offset_(other.offset_), open_(other.open_) {
  other.open_ = false;
}

Request::Nest::~Nest() {
  end();
}

void Request::Nest::end() {
  if (open_) {
    mnl_attr_nest_end(request_->header(),
                      reinterpret_cast<nlattr*>(request_->buffer_.data() + offset_));
    open_ = false;
  }
}

void Request::Nest::cancel() {
  if (open_) {
    mnl_attr_nest_cancel(request_->header(),
                         reinterpret_cast<nlattr*>(request_->buffer_.data() + offset_));
    open_ = false;
  }
}

}  // namespace sekisho::net
