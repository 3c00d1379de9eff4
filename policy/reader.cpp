#include "policy/reader.hpp"

#include <algorithm>
#include <limits>

#include "policy/keys.hpp"
#include "policy/service.hpp"
#include "policy/units.hpp"

namespace sekisho::policy {

bool is_valid_name(std::string_view text) {
  // A name that reads as an address ("10.0.0.1") would make rules ambiguous.
  if (text.empty() || text.size() > 63 || parse_ip(text)) {
    return false;
  }
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  if (!alnum(text.front())) {
    return false;
  }
  for (char c : text) {
    if (!alnum(c) && c != '-' && c != '_' && c != '.') {
      return false;
    }
  }
  return true;
}

std::string_view node_kind_name(const YamlNode& node) {
  switch (node.kind) {
    case YamlNode::Kind::Null:
      return "nothing";
    case YamlNode::Kind::Scalar:
      return node.quoted ? "a quoted string" : "a scalar";
    case YamlNode::Kind::Sequence:
      return "a list";
    case YamlNode::Kind::Mapping:
      return "a mapping";
  }
  return "?";
}

void Reader::type_error(const YamlNode& node, std::string_view what, std::string_view expected) {
  diagnostics_.error(node.pos, "type",
                     std::string(what) + " must be " + std::string(expected) + ", not " +
                         std::string(node_kind_name(node)));
}

void Reader::missing(const YamlNode& node, SourcePos pos, std::string_view what,
                     std::string_view key) {
  auto suggested = suggested_.find(&node);
  if (suggested != suggested_.end() && std::find(suggested->second.begin(), suggested->second.end(),
                                                 key) != suggested->second.end()) {
    return;
  }
  diagnostics_.error(pos, "missing-key", std::string(what) + " needs '" + std::string(key) + "'");
}

bool Reader::mapping(const YamlNode& node, std::string_view path, std::string_view what) {
  if (!node.is_mapping()) {
    type_error(node, what, "a mapping");
    return false;
  }
  const auto& allowed = keys_at(path);
  for (const auto& [key, value] : node.entries) {
    if (std::find(allowed.begin(), allowed.end(), key.value) != allowed.end()) {
      continue;
    }
    std::string suggestion = did_you_mean(key.value, allowed);
    if (!suggestion.empty()) {
      suggested_[&node].push_back(suggestion);
    }
    std::string hint = suggestion.empty() ? std::string{} : "did you mean '" + suggestion + "'?";
    if (hint.empty()) {
      hint = "allowed here:";
      for (std::string_view k : allowed) {
        hint += ' ';
        hint += k;
      }
    }
    diagnostics_.error(key.pos, "unknown-key",
                       "unknown key '" + key.value + "' in " + std::string(what), hint);
  }
  return true;
}

bool Reader::named_mapping(const YamlNode& node, std::string_view what) {
  if (!node.is_mapping()) {
    type_error(node, what, "a mapping of names");
    return false;
  }
  for (const auto& [key, value] : node.entries) {
    if (!is_valid_name(key.value)) {
      diagnostics_.error(key.pos, "bad-name", "'" + key.value + "' is not a valid name",
                         "names use letters, digits, '-', '_' and '.', start with a letter or "
                         "digit, have at most 63 characters and do not read as an IP address");
    }
  }
  return true;
}

std::optional<std::string> Reader::string(const YamlNode& node, std::string_view what) {
  if (!node.is_scalar()) {
    type_error(node, what, "a string");
    return std::nullopt;
  }
  return node.value;
}

std::optional<NameRef> Reader::name(const YamlNode& node, std::string_view what) {
  auto text = string(node, what);
  if (!text) {
    return std::nullopt;
  }
  if (!is_valid_name(*text)) {
    diagnostics_.error(node.pos, "bad-name",
                       "'" + *text + "' is not a valid name for " + std::string(what));
    return std::nullopt;
  }
  return NameRef{*text, node.pos};
}

std::optional<std::uint64_t> Reader::integer(const YamlNode& node, std::string_view what,
                                             std::uint64_t min, std::uint64_t max) {
  if (!node.is_scalar() || node.quoted) {
    type_error(node, what, "an integer");
    return std::nullopt;
  }
  auto value = parse_unsigned(node.value, std::numeric_limits<std::uint64_t>::max());
  if (!value || *value < min || *value > max) {
    diagnostics_.error(node.pos, "range",
                       std::string(what) + " must be an integer from " + std::to_string(min) +
                           " to " + std::to_string(max) + ", not '" + node.value + "'");
    return std::nullopt;
  }
  return value;
}

std::optional<bool> Reader::boolean(const YamlNode& node, std::string_view what) {
  if (node.is_scalar() && !node.quoted && (node.value == "true" || node.value == "false")) {
    return node.value == "true";
  }
  diagnostics_.error(node.pos, "type", std::string(what) + " must be true or false",
                     node.is_scalar() ? "YAML 1.1 words such as yes/no/on/off are not booleans "
                                        "here: write true or false"
                                      : "");
  return std::nullopt;
}

std::optional<std::int64_t> Reader::duration(const YamlNode& node, std::string_view what) {
  auto text = string(node, what);
  if (!text) {
    return std::nullopt;
  }
  auto seconds = parse_duration(*text);
  if (!seconds) {
    diagnostics_.error(node.pos, "bad-duration",
                       "'" + *text + "' is not a duration for " + std::string(what),
                       "write <int><d|h|m|s>, largest unit first (90s, 1h30m, 400d) or plain "
                       "seconds");
  }
  return seconds;
}

std::optional<std::uint64_t> Reader::byte_size(const YamlNode& node, std::string_view what) {
  auto text = string(node, what);
  if (!text) {
    return std::nullopt;
  }
  auto bytes = parse_byte_size(*text);
  if (!bytes) {
    diagnostics_.error(node.pos, "bad-size",
                       "'" + *text + "' is not a size for " + std::string(what),
                       "write bytes, or a number with KiB, MiB, GiB, TiB, kB, MB, GB or TB");
  }
  return bytes;
}

std::optional<IpAddress> Reader::ip(const YamlNode& node, std::string_view what) {
  auto text = string(node, what);
  if (!text) {
    return std::nullopt;
  }
  auto address = parse_ip(*text);
  if (!address) {
    diagnostics_.error(node.pos, "bad-address",
                       "'" + *text + "' is not an IPv4 or IPv6 address (" + std::string(what) + ")",
                       text->find('/') != std::string::npos
                           ? "a single address is expected here, without a prefix"
                           : "");
  }
  return address;
}

std::optional<Cidr> Reader::cidr(const YamlNode& node, std::string_view what) {
  auto text = string(node, what);
  if (!text) {
    return std::nullopt;
  }
  std::string error;
  auto network = parse_cidr(*text, &error);
  if (!network) {
    diagnostics_.error(node.pos, "bad-network", "'" + *text + "': " + error);
  }
  return network;
}

std::optional<std::string> Reader::absolute_path(const YamlNode& node, std::string_view what) {
  auto text = string(node, what);
  if (!text) {
    return std::nullopt;
  }
  bool control = false;
  for (char c : *text) {
    control = control || static_cast<unsigned char>(c) < 0x20 || c == 0x7F;
  }
  if (text->empty() || text->front() != '/' || text->find("/../") != std::string::npos ||
      text->ends_with("/..") || text->find("//") != std::string::npos || control ||
      text->size() > 4096) {
    diagnostics_.error(
        node.pos, "bad-path",
        std::string(what) + " must be an absolute path without '..': '" + *text + "'");
    return std::nullopt;
  }
  return text;
}

std::optional<NameRef> Reader::interface_name(const YamlNode& node) {
  auto text = string(node, "an interface name");
  if (!text) {
    return std::nullopt;
  }
  bool ok = !text->empty() && text->size() <= 15 && *text != "." && *text != "..";
  for (char c : *text) {
    ok = ok && c > 0x20 && c < 0x7F && c != '/' && c != ':' && c != '*' && c != '"';
  }
  if (!ok) {
    diagnostics_.error(node.pos, "bad-interface", "'" + *text + "' is not an interface name",
                       "Linux interface names have 1 to 15 characters, without '/', ':', "
                       "spaces or wildcards");
    return std::nullopt;
  }
  return NameRef{*text, node.pos};
}

std::vector<IpAddress> Reader::addresses(const YamlNode& mapping, SourcePos pos,
                                         std::string_view what, std::vector<SourcePos>& positions) {
  std::vector<IpAddress> out;
  const YamlNode* one = mapping.find("address");
  const YamlNode* many = mapping.find("addresses");
  if (one && many) {
    diagnostics_.error(many->pos, "conflict",
                       std::string(what) + " has both 'address' and 'addresses'",
                       "use 'addresses: [..]' alone");
    return out;
  }
  if (!one && !many) {
    missing(mapping, pos, what, "address");
    return out;
  }
  std::vector<const YamlNode*> items = one ? std::vector{one} : list(*many, "addresses");
  for (const YamlNode* item : items) {
    if (auto address = ip(*item, "an address of " + std::string(what))) {
      out.push_back(*address);
      positions.push_back(item->pos);
    }
  }
  if (many && many->is_sequence() && many->items.empty()) {
    diagnostics_.error(many->pos, "bad-value", std::string(what) + " has an empty address list");
  }
  return out;
}

std::vector<const YamlNode*> Reader::list(const YamlNode& node, std::string_view what,
                                          bool scalar_ok) {
  std::vector<const YamlNode*> out;
  if (node.is_sequence()) {
    for (const YamlNode& item : node.items) {
      out.push_back(&item);
    }
  } else if (scalar_ok && node.is_scalar()) {
    out.push_back(&node);
  } else {
    type_error(node, what, scalar_ok ? "a name or a list" : "a list");
  }
  return out;
}

std::vector<const YamlNode*> Reader::non_empty_list(const YamlNode& node, std::string_view what,
                                                    bool scalar_ok) {
  if (node.is_sequence() && node.items.empty()) {
    diagnostics_.error(node.pos, "bad-value", std::string(what) + " is an empty list",
                       "name at least one; to allow nothing, remove the entry");
  }
  return list(node, what, scalar_ok);
}

std::vector<ServiceUse> Reader::service_uses(const YamlNode& node) {
  std::vector<ServiceUse> uses;
  for (const YamlNode* item : non_empty_list(node, "services", true)) {
    auto text = string(*item, "a service");
    if (!text) {
      continue;
    }
    ServiceUse use{NameRef{*text, item->pos}, {}};
    if (*text == "any" || text->find('/') != std::string::npos) {
      std::string error;
      auto parsed = parse_service_item(*text, error);
      if (!parsed) {
        diagnostics_.error(item->pos, "bad-service", error);
        continue;
      }
      use.items.push_back(*parsed);
    } else if (!is_valid_name(*text)) {
      diagnostics_.error(item->pos, "bad-name", "'" + *text + "' is not a service name",
                         "name a service from 'services:' or write proto/port");
      continue;
    }
    uses.push_back(std::move(use));
  }
  return uses;
}

}  // namespace sekisho::policy
