#pragma once
// "probe": a plugin that exists only in the plugin tests (tests/plugins/registry.cpp), to
// prove the seam end to end without the daemon. A section and a rule clause:
//
//   probe:
//     zone: ot          # must name a zone: error[probe-unknown-zone] otherwise
//     port: 5020        # the inspector's transparent listener its flows are steered to
//     inspector: FILE   # test only: a Python inspector sekishod runs (supervised) on `port`
//     misbehave: accept # test only: breaks one rule of the seam (accept, name, ct-mark, jump,
//                       # interval, steer-key, steer-iif, steer-kernel-set, mark-set,
//                       # tproxy, fill-static, fill-core, fill-key,
//                       # fill-timeout, fill-ms, fill-unbounded, fill-log)
//   rules:
//     - name: ...
//       probe: true     # needs the section: error[probe-needs-section] otherwise
//
// Compiled: two sets the kernel fills (probe_seen, probe_scans), a static set of (address,
// tcp/502) of the zone's IPv4 hosts (probe_flows) steered to the listener on `port`
// (ir::Steering), and input rules that count and log the packets from the zone's
// interfaces (probe_interfaces) to an NFLOG group of its own and put their sources (and
// flows, for a minute, with a counter each) into the sets the kernel fills.

#include <cstdint>
#include <string>

#include "plugins/plugin.hpp"

namespace sekisho::plugins {
struct DaemonPart;
struct CtlPart;
}  // namespace sekisho::plugins

namespace sekisho::plugins::probe {

struct Section {
  policy::NameRef zone;
  std::uint16_t port = 0;
  std::string inspector;  // a script sekishod runs with python3 as its supervised child
  std::string misbehave;
  policy::SourcePos pos;
};

struct Clause {
  bool on = false;
  policy::SourcePos pos;
};

// Its control methods (answered by its daemon part, probe_daemon.cpp).
inline constexpr control::MethodInfo kStats{
    "probe.stats", control::Role::Viewer,
    "the test plugin's figures: packets read from its log group, notes written"};
inline constexpr control::MethodInfo kNote{
    "probe.note", control::Role::Operator,
    "the test plugin writes an audit record and a cloud message from a thread of its own "
    "(text)"};

inline constexpr control::MethodInfo kWatch{
    "probe.watch", control::Role::Viewer,
    "a stream: one item per packet the test plugin reads, until the caller closes it"};

extern const Plugin plugin;
extern const DaemonPart daemon_part;  // probe_daemon.cpp
extern const CtlPart ctl_part;        // probe_ctl.cpp

}  // namespace sekisho::plugins::probe
