#pragma once
// Reading what the kernel sent: netlink messages in a datagram, attributes in a message or
// a nest, and their values, with one set of length rules for every family. Each walk
// checks every header against the bytes that are left: a header cut short, a length
// smaller than its header or larger than what is left, or bytes after the last item that
// cannot be one (only the last item's padding may be missing) make the walk false, after
// visiting what came before. So a message cut inside an attribute never looks like a
// shorter, valid one, and nothing here reads outside the span it was given.
//
// Values are read only at their exact size (read, read_be), strings only with their NUL
// (read_string); table() keeps the last of duplicate types and skips types above the
// table (newer than our headers).

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <utility>

#include <endian.h>
#include <linux/netlink.h>

namespace sekisho::net {

using ByteSpan = std::span<const std::uint8_t>;

inline std::uint16_t attribute_type(const nlattr* attribute) {
  return attribute->nla_type & NLA_TYPE_MASK;
}

inline ByteSpan payload(const nlattr* attribute) {
  return {reinterpret_cast<const std::uint8_t*>(attribute) + NLA_HDRLEN,
          static_cast<std::size_t>(attribute->nla_len - NLA_HDRLEN)};
}

// Calls visit(const nlmsghdr*) for each message in `datagram`; visit returns false to
// stop the walk (which is then false).
template <typename Visit>
bool walk_messages(ByteSpan datagram, Visit&& visit) {
  std::size_t offset = 0;
  while (offset < datagram.size()) {
    const std::size_t left = datagram.size() - offset;
    if (left < sizeof(nlmsghdr)) {
      return false;
    }
    const auto* message = reinterpret_cast<const nlmsghdr*>(datagram.data() + offset);
    if (message->nlmsg_len < sizeof(nlmsghdr) || message->nlmsg_len > left) {
      return false;
    }
    if (!visit(message)) {
      return false;
    }
    offset += NLMSG_ALIGN(static_cast<std::size_t>(message->nlmsg_len));
  }
  return true;
}

// Calls visit(const nlattr*) for each attribute in `bytes`, the same way.
template <typename Visit>
bool walk(ByteSpan bytes, Visit&& visit) {
  std::size_t offset = 0;
  while (offset < bytes.size()) {
    const std::size_t left = bytes.size() - offset;
    if (left < sizeof(nlattr)) {
      return false;
    }
    const auto* attribute = reinterpret_cast<const nlattr*>(bytes.data() + offset);
    if (attribute->nla_len < sizeof(nlattr) || attribute->nla_len > left) {
      return false;
    }
    if (!visit(attribute)) {
      return false;
    }
    offset += NLA_ALIGN(static_cast<std::size_t>(attribute->nla_len));
  }
  return true;
}

template <typename Visit>
bool walk_nested(const nlattr* nest, Visit&& visit) {
  return walk(payload(nest), std::forward<Visit>(visit));
}

// The message's payload (after its netlink header), as nlmsg_len says. The message must
// have passed walk_messages (or an equal check of nlmsg_len).
inline ByteSpan payload(const nlmsghdr* message) {
  return {reinterpret_cast<const std::uint8_t*>(message) + NLMSG_HDRLEN,
          message->nlmsg_len - std::min<std::size_t>(message->nlmsg_len, NLMSG_HDRLEN)};
}

// The family's fixed header at the start of the payload; nullptr when the message is
// too short to hold it.
template <typename Fixed>
const Fixed* fixed_header(const nlmsghdr* message) {
  if (message->nlmsg_len < NLMSG_HDRLEN + sizeof(Fixed)) {
    return nullptr;
  }
  return reinterpret_cast<const Fixed*>(reinterpret_cast<const std::uint8_t*>(message) +
                                        NLMSG_HDRLEN);
}

// The attributes after the fixed header `Fixed` (nfgenmsg, genlmsghdr, ifinfomsg...);
// nullopt when the message is too short to hold it.
template <typename Fixed>
std::optional<ByteSpan> payload_after(const nlmsghdr* message) {
  const std::size_t start = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(Fixed));
  if (message->nlmsg_len < NLMSG_HDRLEN + sizeof(Fixed)) {
    return std::nullopt;
  }
  if (message->nlmsg_len <= start) {
    return ByteSpan{};
  }
  return ByteSpan{reinterpret_cast<const std::uint8_t*>(message) + start,
                  message->nlmsg_len - start};
}

// Fills `table` by type from the attributes in `bytes`: the walk's rules, later
// duplicates win, types beyond the table are skipped.
template <std::size_t Size>
bool table(ByteSpan bytes, std::array<const nlattr*, Size>& out) {
  return walk(bytes, [&](const nlattr* attribute) {
    const std::uint16_t type = attribute_type(attribute);
    if (type < Size) {
      out[type] = attribute;
    }
    return true;
  });
}

// The table of the attributes after the fixed header `Fixed`; false also when the message
// is too short to hold that header.
template <typename Fixed, std::size_t Size>
bool table_after(const nlmsghdr* message, std::array<const nlattr*, Size>& out) {
  const std::optional<ByteSpan> attributes = payload_after<Fixed>(message);
  return attributes && table(*attributes, out);
}

template <std::size_t Size>
bool table_nested(const nlattr* nest, std::array<const nlattr*, Size>& out) {
  return table(payload(nest), out);
}

// The payload as a T of exactly sizeof(T) bytes, in host byte order.
template <typename T>
bool read(const nlattr* attribute, T& out) {
  if (attribute->nla_len != NLA_HDRLEN + sizeof(T)) {
    return false;
  }
  std::memcpy(&out, payload(attribute).data(), sizeof(T));
  return true;
}

// The payload as a big-endian number of exactly sizeof(Number) bytes.
template <typename Number>
bool read_be(const nlattr* attribute, Number& out) {
  Number raw;
  if (!read(attribute, raw)) {
    return false;
  }
  if constexpr (sizeof(Number) == 1) {
    out = raw;
  } else if constexpr (sizeof(Number) == 2) {
    out = static_cast<Number>(be16toh(raw));
  } else if constexpr (sizeof(Number) == 4) {
    out = static_cast<Number>(be32toh(raw));
  } else {
    static_assert(sizeof(Number) == 8);
    out = static_cast<Number>(be64toh(raw));
  }
  return true;
}

// A NUL-terminated string: the payload's last byte must be its NUL (as the kernel's
// nla_put_string writes it); the text is what comes before the first NUL.
inline bool read_string(const nlattr* attribute, std::string& out) {
  const ByteSpan bytes = payload(attribute);
  if (bytes.empty() || bytes.back() != 0) {
    return false;
  }
  const auto* text = reinterpret_cast<const char*>(bytes.data());
  out.assign(text, strnlen(text, bytes.size()));
  return true;
}

// The code an NLMSG_ERROR or NLMSG_DONE message carries (its payload starts with an
// int: 0 or -errno); nullopt when it is too short to carry one.
inline std::optional<int> message_error(const nlmsghdr* message) {
  if (message->nlmsg_len < NLMSG_HDRLEN + sizeof(int)) {
    return std::nullopt;
  }
  int error = 0;
  std::memcpy(&error, reinterpret_cast<const std::uint8_t*>(message) + NLMSG_HDRLEN, sizeof error);
  return error;
}

}  // namespace sekisho::net
