// Topic names and filters (MQTT 3.1.1, 4.7): the standard's own examples, a table of
// overlaps, and a brute-force check of matching and overlapping over a small alphabet.

#include "policy/topic_filter.hpp"

#include <cctype>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include <doctest/doctest.h>

using namespace sekisho::policy;

namespace {

// The levels of `text`: "" is one empty level.
std::vector<std::string> levels_of(const std::string& text) {
  std::vector<std::string> levels(1);
  for (char c : text) {
    if (c == '/') {
      levels.emplace_back();
    } else {
      levels.back() += c;
    }
  }
  return levels;
}

// A second reading of 4.7, written as a regular expression, to check topic_matches
// against: '+' is "[^/]*", a trailing "/#" is "(/.*)?" (the parent too), "#" alone ".*".
class ReferenceMatcher {
 public:
  explicit ReferenceMatcher(const std::string& filter)
      : wildcard_first_(filter[0] == '+' || filter[0] == '#') {
    std::string pattern;
    std::vector<std::string> levels = levels_of(filter);
    for (std::size_t i = 0; i < levels.size(); ++i) {
      if (levels[i] == "#") {
        pattern += i == 0 ? ".*" : "(/.*)?";
        break;
      }
      pattern += i > 0 ? "/" : "";
      if (levels[i] == "+") {
        pattern += "[^/]*";
        continue;
      }
      for (char c : levels[i]) {
        pattern += std::isalnum(static_cast<unsigned char>(c)) != 0 ? "" : "\\";
        pattern += c;
      }
    }
    pattern_ = std::regex(pattern);
  }

  bool matches(const std::string& topic) const {
    if (!topic.empty() && topic[0] == '$' && wildcard_first_) {
      return false;
    }
    return std::regex_match(topic, pattern_);
  }

 private:
  bool wildcard_first_;
  std::regex pattern_;
};

std::string joined(const std::vector<std::string>& levels) {
  std::string text;
  for (std::size_t i = 0; i < levels.size(); ++i) {
    text += (i > 0 ? "/" : "") + levels[i];
  }
  return text;
}

// Every valid topic name of 1 to `max_levels` levels drawn from `alphabet`.
std::vector<std::string> all_topics(const std::vector<std::string>& alphabet,
                                    std::size_t max_levels) {
  std::vector<std::string> topics;
  std::vector<std::vector<std::string>> layer{{}};
  for (std::size_t depth = 1; depth <= max_levels; ++depth) {
    std::vector<std::vector<std::string>> next;
    for (const auto& prefix : layer) {
      for (const std::string& level : alphabet) {
        next.push_back(prefix);
        next.back().push_back(level);
        std::string topic = joined(next.back());
        if (topic_name_error(topic).empty()) {
          topics.push_back(topic);
        }
      }
    }
    layer = std::move(next);
  }
  return topics;
}

}  // namespace

TEST_CASE("filter syntax, the standard's examples (4.7.1)") {
  for (const char* valid : {"sport/tennis/player1/#", "sport/#", "#", "sport/tennis/#", "+",
                            "+/tennis/#", "sport/+/player1", "/+", "+/+", "a//b", "/", "$SYS/#"}) {
    CHECK_MESSAGE(topic_filter_error(valid).empty(), valid);
  }
  CHECK(topic_filter_error("sport/tennis#") == "'#' must stand alone as the last level");
  CHECK(topic_filter_error("sport/tennis/#/ranking") == "'#' must stand alone as the last level");
  CHECK(topic_filter_error("sport+") == "'+' must stand alone in its level");
  CHECK(topic_filter_error("sport/+x/a") == "'+' must stand alone in its level");
  CHECK_FALSE(topic_filter_error("").empty());
  CHECK_FALSE(topic_filter_error(std::string("a\0b", 3)).empty());
  CHECK(topic_filter_error(std::string(65535, 'a')).empty());
  CHECK_FALSE(topic_filter_error(std::string(65536, 'a')).empty());
}

TEST_CASE("topic name syntax") {
  for (const char* valid : {"a", "/", "a/b", "$SYS/x", "a//b", " "}) {
    CHECK_MESSAGE(topic_name_error(valid).empty(), valid);
  }
  for (const char* invalid : {"", "a/+", "a/#", "+", "#", "sport+"}) {
    CHECK_MESSAGE(!topic_name_error(invalid).empty(), invalid);
  }
  CHECK_FALSE(topic_name_error(std::string("a\0", 2)).empty());
  CHECK(topic_name_error(std::string(65535, 'a')).empty());
  CHECK_FALSE(topic_name_error(std::string(65536, 'a')).empty());
}

TEST_CASE("matching, the standard's examples (4.7.1, 4.7.2)") {
  // '#': the parent and any number of levels below.
  CHECK(topic_matches("sport/tennis/player1/#", "sport/tennis/player1"));
  CHECK(topic_matches("sport/tennis/player1/#", "sport/tennis/player1/ranking"));
  CHECK(topic_matches("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon"));
  CHECK_FALSE(topic_matches("sport/tennis/player1/#", "sport/tennis/player2"));
  CHECK_FALSE(topic_matches("sport/tennis/player1/#", "sport/tennis"));
  CHECK(topic_matches("sport/#", "sport"));
  CHECK(topic_matches("#", "sport/tennis"));
  CHECK(topic_matches("#", "/"));
  // '+': exactly one level, an empty one included.
  CHECK(topic_matches("sport/tennis/+", "sport/tennis/player1"));
  CHECK(topic_matches("sport/tennis/+", "sport/tennis/player2"));
  CHECK_FALSE(topic_matches("sport/tennis/+", "sport/tennis/player1/ranking"));
  CHECK(topic_matches("sport/+", "sport/"));
  CHECK_FALSE(topic_matches("sport/+", "sport"));
  CHECK(topic_matches("+/+", "/finance"));
  CHECK(topic_matches("/+", "/finance"));
  CHECK_FALSE(topic_matches("+", "/finance"));
  CHECK(topic_matches("+/tennis/#", "sport/tennis"));
  CHECK_FALSE(topic_matches("sport/tennis", "sport/tennis/"));
  CHECK_FALSE(topic_matches("sport", "Sport"));
  // '$' topics and wildcards at the start.
  CHECK_FALSE(topic_matches("#", "$SYS/monitor/Clients"));
  CHECK_FALSE(topic_matches("+/monitor/Clients", "$SYS/monitor/Clients"));
  CHECK(topic_matches("$SYS/#", "$SYS/monitor/Clients"));
  CHECK(topic_matches("$SYS/monitor/+", "$SYS/monitor/Clients"));
  CHECK(topic_matches("a/+", "a/$x"));
  CHECK(topic_matches("a/#", "a/$x"));
}

TEST_CASE("overlapping filters") {
  struct Case {
    const char* a;
    const char* b;
    bool overlap;
  };
  const Case cases[] = {
      {"a/b", "a/b", true},
      {"a/b", "a/c", false},
      {"a/+", "a/b", true},
      {"a/+", "a", false},
      {"a/#", "a", true},
      {"a/#", "a/b/c", true},
      {"a/#", "b/#", false},
      {"a/+/#", "a", false},
      {"a/+/#", "a/b", true},
      {"a/+/c", "+/b/#", true},
      {"a/+/c", "+/b/d", false},
      {"+/#", "#", true},
      {"#", "+", true},
      {"+", "/a", false},
      {"+/+", "/+", true},
      {"a//b", "a/+/b", true},
      {"a//b", "a/x/b", false},
      {"#", "/", true},
      {"/#", "+", false},  // only "", which is not a topic
      {"/#", "/", true},
      {"/#", "+/+", true},
      {"+/#", "+", true},
      {"#", "$SYS/x", false},
      {"+/x", "$SYS/x", false},
      {"+/#", "$SYS", false},
      {"$SYS/#", "$SYS/+", true},
      {"$x/#", "$x", true},
      {"a/$x", "a/+", true},
      {"line1/#", "line1/recipes/set", true},
      {"+/recipes/+", "line1/recipes/set", true},
      {"line1/+/telemetry", "line1/recipes/set", false},
      {"line1/alarms/#", "line1/recipes/set", false},
      {"line1/+", "line1/recipes/set", false},
  };
  for (const Case& c : cases) {
    CHECK_MESSAGE(filters_overlap(c.a, c.b) == c.overlap, c.a << " vs " << c.b);
    CHECK_MESSAGE(filters_overlap(c.b, c.a) == c.overlap, c.b << " vs " << c.a);
  }
}

TEST_CASE("matching and overlapping against brute force over a small alphabet") {
  const std::vector<std::string> alphabet{"a", "b", "", "$x"};
  // Filters of up to four levels need at most four levels in a witness; five are searched.
  const std::vector<std::string> topics = all_topics(alphabet, 5);
  REQUIRE(topics.size() == 4 + 16 + 64 + 256 + 1024 - 1);

  std::mt19937 random(20240611);
  auto random_filter = [&] {
    while (true) {
      const std::size_t count = 1 + random() % 4;
      std::vector<std::string> levels;
      for (std::size_t i = 0; i < count; ++i) {
        const std::size_t pick = random() % 7;
        levels.push_back(pick < 4 ? alphabet[pick] : pick < 6 ? "+" : "#");
        if (levels.back() == "#") {
          break;
        }
      }
      std::string filter = joined(levels);
      if (topic_filter_error(filter).empty()) {
        return filter;
      }
    }
  };

  std::size_t overlapping = 0;
  for (int round = 0; round < 1500; ++round) {
    const std::string a = random_filter();
    const std::string b = random_filter();
    const ReferenceMatcher reference(a);
    bool witness = false;
    for (const std::string& topic : topics) {
      const bool in_a = topic_matches(a, topic);
      const bool in_b = topic_matches(b, topic);
      if (in_a != reference.matches(topic)) {
        FAIL(a << " on '" << topic << "': " << in_a);
      }
      witness = witness || (in_a && in_b);
    }
    // Both directions: a topic in both means overlap, and overlap means such a topic.
    REQUIRE_MESSAGE(filters_overlap(a, b) == witness, a << " vs " << b);
    overlapping += witness ? 1 : 0;
  }
  // The alphabet is small enough that both answers are common.
  CHECK(overlapping > 150);
  CHECK(overlapping < 1350);
}
