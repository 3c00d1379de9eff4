#pragma once
// Typed reading of YAML nodes for the policy parser: each accessor either returns the
// value or reports a precise diagnostic (wrong type, bad syntax) and returns nothing, so
// the parser goes on and reports every problem of the file in one run.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy/address.hpp"
#include "policy/diagnostic.hpp"
#include "policy/model.hpp"
#include "policy/yaml_tree.hpp"

namespace sekisho::policy {

class Reader {
 public:
  explicit Reader(Diagnostics& diagnostics) : diagnostics_(diagnostics) {}

  Diagnostics& diagnostics() { return diagnostics_; }

  // Reports unknown keys of `node` (a mapping at `path`, see keys.hpp). False when `node`
  // is not a mapping (reported as a type error).
  bool mapping(const YamlNode& node, std::string_view path, std::string_view what);
  // A mapping whose keys are names the user chooses (hosts, zones...). Checks the names.
  bool named_mapping(const YamlNode& node, std::string_view what);

  std::optional<std::string> string(const YamlNode& node, std::string_view what);
  // A name: letters, digits, '-', '_', '.', starting with a letter or digit, <= 63 chars.
  std::optional<NameRef> name(const YamlNode& node, std::string_view what);
  std::optional<std::uint64_t> integer(const YamlNode& node, std::string_view what,
                                       std::uint64_t min, std::uint64_t max);
  std::optional<bool> boolean(const YamlNode& node, std::string_view what);
  std::optional<std::int64_t> duration(const YamlNode& node, std::string_view what);
  std::optional<std::uint64_t> byte_size(const YamlNode& node, std::string_view what);
  std::optional<IpAddress> ip(const YamlNode& node, std::string_view what);
  std::optional<Cidr> cidr(const YamlNode& node, std::string_view what);
  // An absolute path without "..", "//" or control characters.
  std::optional<std::string> absolute_path(const YamlNode& node, std::string_view what);
  // An interface name as the kernel accepts it: 1-15 chars, no '/', ':' or whitespace.
  std::optional<NameRef> interface_name(const YamlNode& node);

  // The literal addresses of a host or peer `mapping`: its 'address' or its non-empty
  // 'addresses' list (exactly one of the two). `pos` and `what` name the owner.
  // `positions` receives where each address is written.
  std::vector<IpAddress> addresses(const YamlNode& mapping, SourcePos pos, std::string_view what,
                                   std::vector<SourcePos>& positions);

  // A sequence, or (when `scalar_ok`) one scalar standing for a list of one.
  std::vector<const YamlNode*> list(const YamlNode& node, std::string_view what,
                                    bool scalar_ok = false);
  // The same, for lists that must name at least one thing: `[]` is an error.
  std::vector<const YamlNode*> non_empty_list(const YamlNode& node, std::string_view what,
                                              bool scalar_ok = false);

  // Service references of a rule or target: names of services or inline items.
  std::vector<ServiceUse> service_uses(const YamlNode& node);

  void type_error(const YamlNode& node, std::string_view what, std::string_view expected);
  // Reports that mapping `node` lacks `key`, unless an unknown key of `node` was already
  // reported with "did you mean `key`?" (one typo, one diagnostic).
  void missing(const YamlNode& node, SourcePos pos, std::string_view what, std::string_view key);

 private:
  Diagnostics& diagnostics_;
  // For each mapping checked by mapping(): the keys its unknown keys were taken for.
  std::map<const YamlNode*, std::vector<std::string>> suggested_;
};

// Letters, digits, '-', '_', '.', starting with a letter or digit, at most 63 chars,
// and not something that reads as an IP address.
bool is_valid_name(std::string_view text);
std::string_view node_kind_name(const YamlNode& node);

}  // namespace sekisho::policy
