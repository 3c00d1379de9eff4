#pragma once
// Small policies for tests: a valid base (three zones, a few hosts) that each test extends
// with the rules and sections it is about. Addresses are from the lab's ranges
// (docs/architecture.md, Lab).

#include <stdexcept>
#include <string>
#include <string_view>

#include "policy/load.hpp"

namespace sekisho::policy::testing {

inline constexpr std::string_view kBaseSections = R"(version: 1
gateway: { name: gw, timezone: Europe/Berlin }
zones:
  ot: { interfaces: [lan0], networks: [192.0.2.0/24, "2001:db8:1::/64"] }
  it: { interfaces: [it0], networks: [198.18.0.0/16] }
  wan: { interfaces: [wan0] }
  maint: { vpn: maint }
hosts:
  plc: { address: 192.0.2.10 }
  hmi: { addresses: [192.0.2.20, "2001:db8:1::20"] }
  scada: { address: 198.18.1.5 }
  laptop: { address: 198.18.1.6 }
  v6only: { address: "2001:db8:1::30" }
  cloud: { addresses: [203.0.113.10] }
groups:
  line: [plc, hmi]
services:
  modbus: tcp/502
  web: [tcp/80, tcp/443]
vpn:
  maint:
    interface: wg0
    listen_port: 51820
    address: 198.19.0.1/24
    private_key_file: /etc/sekisho/keys/wg0.key
    peers:
      vendor: { public_key: "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=", address: 198.19.0.2 }
)";

inline constexpr std::string_view kDefaultRules = R"(rules:
  - name: scada polls plc
    from: scada
    to: plc
    services: [modbus]
)";

// The base policy with `rules` (a whole "rules:" section, or empty for the default one)
// and `extra` top-level sections appended.
inline std::string policy_text(std::string_view rules = {}, std::string_view extra = {}) {
  std::string text(kBaseSections);
  text += rules.empty() ? kDefaultRules : rules;
  text += extra;
  return text;
}

// `text` with its first `from` replaced by `to`; `from` must be there.
inline std::string replaced(std::string text, std::string_view from, std::string_view to) {
  auto at = text.find(from);
  if (at == std::string::npos) {
    throw std::logic_error("test fixture: '" + std::string(from) + "' not found");
  }
  return text.replace(at, from.size(), to);
}

inline LoadResult load(std::string_view text) {
  return load_policy_text(text, "test.yaml");
}

// The text of 1-based line `line` of `text`.
inline std::string line_text(std::string_view text, int line) {
  std::size_t start = 0;
  for (int i = 1; i < line && start != std::string_view::npos; ++i) {
    start = text.find('\n', start);
    start = start == std::string_view::npos ? start : start + 1;
  }
  if (start == std::string_view::npos || line < 1) {
    return {};
  }
  return std::string(text.substr(start, text.find('\n', start) - start));
}

// The first diagnostic with `code`, or nullptr.
inline const Diagnostic* find_code(const Diagnostics& diagnostics, std::string_view code) {
  for (const Diagnostic& d : diagnostics.items()) {
    if (d.code == code) {
      return &d;
    }
  }
  return nullptr;
}

// All diagnostics as text, for failure messages.
inline std::string dump(const Diagnostics& diagnostics) {
  std::string out;
  for (const Diagnostic& d : diagnostics.sorted()) {
    out += format_diagnostic(d) + "\n";
  }
  return out;
}

}  // namespace sekisho::policy::testing
