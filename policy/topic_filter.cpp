#include "policy/topic_filter.hpp"

#include <cstdio>

namespace sekisho::policy {

namespace {

// A topic or filter one level at a time; "" is one empty level, "a/" two levels.
class Levels {
 public:
  explicit Levels(std::string_view text) : rest_(text) {}

  bool done() const { return done_; }

  std::string_view next() {
    const std::size_t slash = rest_.find('/');
    const std::string_view level = rest_.substr(0, slash);
    if (slash == std::string_view::npos) {
      done_ = true;
      rest_ = {};
    } else {
      rest_.remove_prefix(slash + 1);
    }
    return level;
  }

 private:
  std::string_view rest_;
  bool done_ = false;
};

bool starts_with_wildcard(std::string_view filter) {
  return !filter.empty() && (filter.front() == '+' || filter.front() == '#');
}

}  // namespace

std::string topic_filter_error(std::string_view filter) {
  if (filter.empty()) {
    return "a topic filter may not be empty";
  }
  if (filter.size() > 65535) {
    return "a topic filter has at most 65535 bytes";
  }
  if (filter.find('\0') != std::string_view::npos) {
    return "a topic filter may not contain NUL";
  }
  Levels levels(filter);
  while (!levels.done()) {
    const std::string_view level = levels.next();
    if (level.find('#') != std::string_view::npos && (level != "#" || !levels.done())) {
      return "'#' must stand alone as the last level";
    }
    if (level.find('+') != std::string_view::npos && level != "+") {
      return "'+' must stand alone in its level";
    }
  }
  return {};
}

std::string broker_acl_filter_error(std::string_view filter) {
  for (const char c : filter) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) {
      char code[8];
      std::snprintf(code, sizeof code, "U+%04X", byte);
      return std::string("the topic filter holds the control character ") + code +
             ", which the local broker's ACL file cannot hold";
    }
  }
  if (!filter.empty() && (filter.front() == ' ' || filter.back() == ' ')) {
    return "the topic filter starts or ends with a space, which the local broker's ACL file "
           "would drop";
  }
  return {};
}

std::string topic_name_error(std::string_view topic) {
  if (topic.empty()) {
    return "a topic name may not be empty";
  }
  if (topic.size() > 65535) {
    return "a topic name has at most 65535 bytes";
  }
  if (topic.find('\0') != std::string_view::npos) {
    return "a topic name may not contain NUL";
  }
  if (topic.find_first_of("+#") != std::string_view::npos) {
    return "a topic name may not contain the wildcards '+' or '#'";
  }
  return {};
}

bool topic_matches(std::string_view filter, std::string_view topic) {
  if (!topic.empty() && topic.front() == '$' && starts_with_wildcard(filter)) {
    return false;
  }
  Levels wanted(filter);
  Levels given(topic);
  while (!wanted.done()) {
    const std::string_view level = wanted.next();
    if (level == "#") {
      // '#' also matches its parent: "a/#" matches "a".
      return true;
    }
    if (given.done()) {
      return false;
    }
    const std::string_view name = given.next();
    if (level != "+" && level != name) {
      return false;
    }
  }
  return given.done();
}

bool filters_overlap(std::string_view a, std::string_view b) {
  // A topic matched by a filter that starts with a wildcard cannot start with '$', so it
  // cannot be one that the other filter's literal first level puts a '$' in front of. When
  // both start with a wildcard the topic can start with anything else.
  if (starts_with_wildcard(a) != starts_with_wildcard(b)) {
    const std::string_view literal = starts_with_wildcard(a) ? b : a;
    if (!literal.empty() && literal.front() == '$') {
      return false;
    }
  }
  // Level by level, a topic exists as long as the levels agree: '+' takes any level (so
  // the other's literal, or "x" against another '+'), and '#' takes whatever the other
  // filter still asks for, nothing included.
  Levels x(a);
  Levels y(b);
  std::size_t agreed = 0;
  while (!x.done() && !y.done()) {
    const std::string_view p = x.next();
    const std::string_view q = y.next();
    if (p == "#" || q == "#") {
      return true;
    }
    if (p != "+" && q != "+" && p != q) {
      return false;
    }
    ++agreed;
  }
  if (x.done() && y.done()) {
    return true;
  }
  // One filter ends here; the other matches a topic that ends here only through '#'. That
  // topic is the levels agreed so far, which is no topic at all when it is one empty
  // level: "/#" and "+" share only "".
  if ((x.done() ? y : x).next() != "#") {
    return false;
  }
  return agreed > 1 || !(a.starts_with('/') || b.starts_with('/'));
}

}  // namespace sekisho::policy
