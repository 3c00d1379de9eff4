#pragma once
// "probe": a plugin that exists only in the plugin tests (tests/plugins/registry.cpp), to
// prove the seam end to end without the daemon. A section and a rule clause:
//
//   probe:
//     zone: ot          # must name a zone: error[probe-unknown-zone] otherwise
//     port: 5020        # the inspector's transparent listener its flows are steered to
//     misbehave: accept # test only: breaks one rule of the seam (accept, name, ct-mark,
//                       # interval, jump, steer-key, steer-iif)
//   rules:
//     - name: ...
//       probe: true     # needs the section: error[probe-needs-section] otherwise
//
// Compiled: a set the kernel fills (probe_seen), a static set of (address, tcp/502) of the
// zone's IPv4 hosts (probe_flows) steered to the listener on `port` (ir::Steering), and an
// input rule that counts and logs the packets from the zone's interfaces (probe_interfaces)
// to an NFLOG group of its own.

#include <cstdint>
#include <string>

#include "plugins/plugin.hpp"

namespace sekisho::plugins::probe {

struct Section {
  policy::NameRef zone;
  std::uint16_t port = 0;
  std::string misbehave;
  policy::SourcePos pos;
};

struct Clause {
  bool on = false;
  policy::SourcePos pos;
};

extern const Plugin plugin;

}  // namespace sekisho::plugins::probe
