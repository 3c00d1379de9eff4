#include "policy/yaml_tree.hpp"

#include <sstream>
#include <stdexcept>
#include <unordered_map>

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/parser.h>

namespace sekisho::policy {

const YamlNode* YamlNode::find(std::string_view key) const {
  for (const auto& [k, v] : entries) {
    if (k.value == key) {
      return &v;
    }
  }
  return nullptr;
}

SourcePos YamlNode::key_pos(std::string_view key) const {
  for (const auto& [k, v] : entries) {
    if (k.value == key) {
      return k.pos;
    }
  }
  return pos;
}

namespace {

SourcePos to_pos(const YAML::Mark& mark) {
  if (mark.is_null()) {
    return {};
  }
  return SourcePos{mark.line + 1, mark.column + 1};
}

// Thrown from the event handler to stop yaml-cpp's recursive descent early.
struct TooDeep : std::runtime_error {
  explicit TooDeep(SourcePos p) : std::runtime_error("too deep"), pos(p) {}
  SourcePos pos;
};

class TreeBuilder : public YAML::EventHandler {
 public:
  TreeBuilder(std::string_view text, Diagnostics& diagnostics)
      : text_(text), diagnostics_(diagnostics) {}

  std::optional<YamlNode> take_root() { return std::move(root_); }

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}

  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override {
    YamlNode node;
    node.pos = to_pos(mark);
    add(std::move(node));
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override {
    diagnostics_.error(to_pos(mark), "yaml-alias", "YAML aliases are not accepted in a policy",
                       "write the value out, or name hosts once and use a group");
    YamlNode node;
    node.pos = to_pos(mark);
    add(std::move(node));
  }

  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t,
                const std::string& value) override {
    check_tag(mark, tag);
    YamlNode node;
    node.kind = YamlNode::Kind::Scalar;
    node.pos = to_pos(mark);
    node.value = value;
    node.quoted = tag == "!";
    if (node.quoted && !closed_quote(mark.pos)) {
      // yaml-cpp 0.7 takes a quoted scalar that runs to the end of the file as closed.
      diagnostics_.error(node.pos, "yaml", "a quoted string is never closed",
                         "add the closing quote");
    }
    add(std::move(node));
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    open(mark, tag, YamlNode::Kind::Sequence);
  }
  void OnSequenceEnd() override { close(); }

  void OnMapStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    open(mark, tag, YamlNode::Kind::Mapping);
  }
  void OnMapEnd() override { close(); }

 private:
  struct Frame {
    YamlNode node;
    std::optional<YamlNode> pending_key;
    std::unordered_map<std::string, int> key_lines;  // key -> line of its first use
  };

  // Whether the quoted scalar starting at byte `start` has its closing quote.
  bool closed_quote(int start) const {
    if (start < 0 || static_cast<std::size_t>(start) >= text_.size()) {
      return true;
    }
    const char quote = text_[static_cast<std::size_t>(start)];
    if (quote != '"' && quote != '\'') {
      return true;  // a block scalar (| or >)
    }
    for (std::size_t i = static_cast<std::size_t>(start) + 1; i < text_.size(); ++i) {
      if (quote == '"' && text_[i] == '\\') {
        ++i;
      } else if (text_[i] == quote) {
        if (quote == '\'' && i + 1 < text_.size() && text_[i + 1] == '\'') {
          ++i;  // '' is an escaped single quote
          continue;
        }
        return true;
      }
    }
    return false;
  }

  void check_tag(const YAML::Mark& mark, const std::string& tag) {
    if (tag != "?" && tag != "!" && !tag.empty()) {
      diagnostics_.error(to_pos(mark), "yaml-tag", "YAML tag '" + tag + "' is not accepted",
                         "remove the tag; quote the value if it must be a string");
    }
  }

  void open(const YAML::Mark& mark, const std::string& tag, YamlNode::Kind kind) {
    check_tag(mark, tag);
    if (static_cast<int>(stack_.size()) >= kMaxYamlDepth) {
      throw TooDeep(to_pos(mark));
    }
    Frame frame;
    frame.node.kind = kind;
    frame.node.pos = to_pos(mark);
    stack_.push_back(std::move(frame));
  }

  void close() {
    YamlNode node = std::move(stack_.back().node);
    stack_.pop_back();
    add(std::move(node));
  }

  void add(YamlNode node) {
    if (stack_.empty()) {
      root_ = std::move(node);
      return;
    }
    Frame& parent = stack_.back();
    if (parent.node.kind == YamlNode::Kind::Sequence) {
      parent.node.items.push_back(std::move(node));
      return;
    }
    if (!parent.pending_key) {
      parent.pending_key = std::move(node);
      return;
    }
    YamlNode key = std::move(*parent.pending_key);
    parent.pending_key.reset();
    if (!key.is_scalar()) {
      diagnostics_.error(key.pos, "type", "a mapping key must be a plain name",
                         "keys are names such as 'hosts' or 'plc-1'");
      return;
    }
    auto [it, inserted] = parent.key_lines.emplace(key.value, key.pos.line);
    if (!inserted) {
      diagnostics_.error(key.pos, "dup-key", "duplicate key '" + key.value + "'",
                         "first defined at line " + std::to_string(it->second) +
                             "; a key may appear once per mapping");
      return;
    }
    parent.node.entries.push_back(YamlEntry{std::move(key), std::move(node)});
  }

  std::string_view text_;
  Diagnostics& diagnostics_;
  std::vector<Frame> stack_;
  std::optional<YamlNode> root_;
};

}  // namespace

std::optional<YamlNode> parse_yaml(std::string_view text, Diagnostics& diagnostics) {
  if (text.size() > kMaxPolicyBytes) {
    diagnostics.error({}, "too-large",
                      "the file has " + std::to_string(text.size()) +
                          " bytes; a policy may have at most " + std::to_string(kMaxPolicyBytes));
    return std::nullopt;
  }
  if (text.find('\0') != std::string_view::npos) {
    diagnostics.error({}, "yaml", "the file contains NUL bytes: it is not a text file");
    return std::nullopt;
  }
  std::istringstream stream{std::string(text)};
  TreeBuilder builder(text, diagnostics);
  try {
    YAML::Parser parser(stream);
    if (!parser.HandleNextDocument(builder)) {
      YamlNode empty;
      return empty;
    }
    std::optional<YamlNode> root = builder.take_root();
    TreeBuilder rest(text, diagnostics);
    if (parser.HandleNextDocument(rest)) {
      std::optional<YamlNode> second = rest.take_root();
      diagnostics.error(second ? second->pos : SourcePos{}, "yaml",
                        "the file holds more than one YAML document",
                        "a policy is one document; remove the '---' separator");
    }
    return root;
  } catch (const TooDeep& e) {
    diagnostics.error(e.pos, "yaml",
                      "nesting deeper than " + std::to_string(kMaxYamlDepth) + " levels");
  } catch (const YAML::Exception& e) {
    diagnostics.error(to_pos(e.mark), "yaml", e.msg);
  } catch (const std::exception& e) {
    diagnostics.error({}, "yaml", std::string("unreadable YAML: ") + e.what());
  }
  return std::nullopt;
}

}  // namespace sekisho::policy
