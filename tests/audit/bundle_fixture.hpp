#pragma once
// An audit log with records that are hard on every tool that reads a bundle: non-ASCII
// user names, details with quotes, backslashes, newlines, control characters, 4-byte
// UTF-8, U+2028, a string that looks like the end of a record, nested arrays and objects,
// negative and large integers. Shared by the bundle unit tests, the sekishoctl tests and
// make_test_bundle (the by-hand script's input).

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "daemon/audit/audit_log.hpp"

namespace sekisho::audit::testing {

inline std::string record_time(int i) {
  char text[32];
  std::snprintf(text, sizeof text, "2026-11-%02dT%02d:%02d:%02dZ", 1 + (i / 86400) % 28,
                (i / 3600) % 24, (i / 60) % 60, i % 60);
  return text;
}

// Appends `count` records; false when one could not be appended.
inline bool fill_log(AuditLog& log, int count) {
  const std::vector<Actor> actors = {
      {0, "root", "admin"},
      {1000, "山田太郎", "operator"},
      {1001, "Zoë O'Brien", "viewer"},
      {1002, "back\\slash \"quoted\"", "operator"},
      {-1, "sekishod", "daemon"},
  };
  const std::vector<std::string> kinds = {"policy.apply", "control.refused", "drift.restore",
                                          "daemon.start", "policy.refused"};
  for (int i = 0; i < count; ++i) {
    nlohmann::json details = {{"n", i}};
    switch (i % 7) {
      case 0:
        details["source"] = "/etc/sekisho/policy.yaml";
        details["sha256"] = std::string(64, 'a');
        break;
      case 1:
        details["message"] = "line one\nline two\r\n\ttabbed \"quoted\" back\\slash";
        break;
      case 2:
        details["note"] = "工場 ライン 2 — ü ß é 😀 \u2028 after a line separator";
        break;
      case 3:
        // Looks like the end of a record to a careless pattern.
        details["trap"] = ",\"seq\":999999,\"time\":\"2026-01-01T00:00:00Z\"}";
        break;
      case 4:
        details["nested"] = {{"list", {1, -2, 3, nlohmann::json::array()}},
                             {"null", nullptr},
                             {"flag", true},
                             {"object", {{"z", 1}, {"a", {{"deeper", "x"}}}}}};
        break;
      case 5:
        details["big"] = std::int64_t{9007199254740993};
        details["negative"] = std::int64_t{-9223372036854775807};
        details["control"] = std::string("bell\x07 nul\0 esc\x1b", 15);
        break;
      default:
        details["empty"] = "";
        break;
    }
    const Actor& actor = actors[static_cast<std::size_t>(i) % actors.size()];
    if (log.append(record_time(i), actor, kinds[static_cast<std::size_t>(i) % kinds.size()],
                   details)) {
      return false;
    }
  }
  return true;
}

}  // namespace sekisho::audit::testing
