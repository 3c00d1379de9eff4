#pragma once
// A YAML document as a tree that remembers where each node stands in the file.
//
// yaml-cpp's node API silently keeps one value of a duplicated key and forgets whether
// a scalar was quoted; a policy language cannot afford either. So the file is read
// through yaml-cpp's event parser into this small tree: every mapping entry in file
// order, duplicate keys reported (and the later one dropped), quoted scalars marked,
// aliases refused (no "billion laughs"), nesting and size bounded.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "policy/diagnostic.hpp"

namespace sekisho::policy {

struct YamlEntry;

struct YamlNode {
  enum class Kind { Null, Scalar, Sequence, Mapping };

  Kind kind = Kind::Null;
  SourcePos pos;
  std::string value;            // Scalar: the text as written, quotes removed
  bool quoted = false;          // Scalar: written in quotes (so "8883" is a string, not a number)
  std::vector<YamlNode> items;  // Sequence
  std::vector<YamlEntry> entries;  // Mapping, in file order

  bool is_null() const { return kind == Kind::Null; }
  bool is_scalar() const { return kind == Kind::Scalar; }
  bool is_sequence() const { return kind == Kind::Sequence; }
  bool is_mapping() const { return kind == Kind::Mapping; }
  // The value of a mapping entry, or nullptr.
  const YamlNode* find(std::string_view key) const;
  // Where the key itself is written (for "this section lacks ..."), else this node's place.
  SourcePos key_pos(std::string_view key) const;
};

// One mapping entry. Keys are scalars.
struct YamlEntry {
  YamlNode key;
  YamlNode value;
};

inline constexpr std::size_t kMaxPolicyBytes = 16 * 1024 * 1024;
inline constexpr int kMaxYamlDepth = 32;

// Parses one YAML document. Problems (syntax, duplicate keys, aliases, depth, size, more
// than one document) go to `diagnostics`; the result is nullopt when nothing usable was
// read. An empty file yields a Null root.
std::optional<YamlNode> parse_yaml(std::string_view text, Diagnostics& diagnostics);

}  // namespace sekisho::policy
