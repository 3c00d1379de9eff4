#pragma once
// The plugin seam (docs/architecture.md, "Plugins"). A plugin is one `Plugin` value in
// plugins/<name>/, named by one line of SEKISHO_PLUGINS in plugins/CMakeLists.txt.
// Everything it adds to the product is derived from that value: its policy keys (parsed,
// checked, in the JSON Schema and the sekisho-policy(5) page) and its part of the compiled
// ruleset. No dlopen and no self-registration: a binary has exactly the plugins of the
// registry it links.
//
// Only plain functions and data: a plugin keeps no global state, and every hook is called
// on the thread that loads or compiles the policy.

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "daemon/control/methods.hpp"
#include "policy/diagnostic.hpp"
#include "policy/extensions.hpp"
#include "policy/ir.hpp"
#include "policy/keys.hpp"
#include "policy/model.hpp"
#include "policy/reader.hpp"
#include "policy/yaml_tree.hpp"

namespace sekisho::plugins {

// A plugin's keys in the policy file: a top-level section ("monitor:") or a clause on
// every rule ("rules[].modbus").
struct PolicyPart {
  enum class Place { Section, RuleClause };
  Place place = Place::Section;
  // The key. Core keys are taken (plugins_test refuses a clash).
  std::string_view key;
  // The fixed keys of each mapping under it, with full paths in the notation of
  // policy/keys.hpp: {"monitor", {"meter", "log"}}, {"rules[].modbus", {"functions"}}.
  // The key itself is added to "" or "rules[]" by the registry.
  std::vector<policy::MappingKeys> mappings;
  // The JSON Schema of the key's value: merged into the policy's schema by the build.
  std::string_view schema;
  // Its part of sekisho-policy(5), in roff: inserted at the end of KEYS by the build. A
  // section's fragment starts with ".SS <key>" and names every key.
  std::string_view manual;
  // Reads the key's value. Problems go through `reader` (file:line:col, a code); returns
  // policy::make_extension(value), or an empty Extension when nothing usable was read.
  // Unknown keys of `mappings` are reported by reader.mapping(node, path, what).
  policy::Extension (*parse)(const policy::YamlNode& value, policy::Reader& reader) = nullptr;
  // Checks across the policy once the core's checks ran (names resolved, zones linked),
  // with the usual diagnostics. Called also for a policy without this key.
  void (*check)(const policy::Policy& policy, policy::Diagnostics& diagnostics) = nullptr;
};

// What a plugin's compile adds to the one compiled ruleset, after the core's chains
// exist. Every name a plugin gives starts with "<plugin name>_". A plugin cannot open
// what the policy closes: the rules it adds never accept, except in base chains of its
// own (a base chain's accept ends that chain only, the core's still judge the packet).
// Breaking a rule of the seam throws std::invalid_argument (a bug in the plugin, which
// its tests find).
class Contribution {
 public:
  virtual ~Contribution() = default;

  // The ruleset as the core compiled it (read only).
  virtual const ir::Ruleset& ruleset() const = 0;
  // Adds a set and returns its handle. `fill` Static: the elements given; Kernel: a set
  // the kernel fills from the packet path (meters, detectors), created empty, named, not
  // an interval set, left alone by readback, drift restore and verify.
  virtual ir::SetId add_set(ir::Set set) = 0;
  // Adds a chain: a regular chain, reached from the plugin's own rules, or a base chain
  // of its own (hook != None).
  virtual void add_chain(ir::Chain chain) = 0;
  // Appends a rule to the plugin's part of the core base chain `base` (Input, Forward or
  // Output), which every packet passes after loopback and the WAN gate, before anything
  // else: it may count, log, drop, or jump to the plugin's regular chains. Any rule of the
  // plugin may put packet fields into its own Kernel sets (ir::Statement SetAdd, SetUpdate);
  // a full set ends the rule there.
  virtual void hook(ir::Hook base, ir::Rule rule) = 0;
  // `count` bits of the packet mark (meta mark), for this plugin alone; the core uses
  // none. (The ct mark is all taken by the core: schedule marks and session numbers.)
  virtual std::uint32_t packet_mark_bits(unsigned count) = 0;
  // An NFLOG group of its own, which the daemon will subscribe for the plugin.
  virtual std::uint16_t log_group() = 0;
  // TCP flows of one of its sets go to its userspace inspector's transparent listener
  // (tproxy); with none listening they are dropped. The core's rules and the daemon's
  // policy routing follow (docs/architecture.md, "Steering").
  virtual void steer(ir::Steering steering) = 0;
};

struct Plugin {
  // Lower case letters, digits and '_': the prefix of everything it names.
  std::string_view name;
  std::span<const PolicyPart> policy;
  // Its part of the ruleset for a valid policy; nullptr: none.
  void (*compile)(const policy::Policy& policy, Contribution& contribution) = nullptr;

  // Its control methods, each named "<plugin name>.<what>" with its least role: listed by
  // `sekishoctl methods` (no daemon needed), checked by the control socket like the
  // core's, and answered by handlers its daemon part binds (daemon_part.hpp).
  std::span<const control::MethodInfo> methods;
  // Its part of sekishod (a Subsystem) and of sekishoctl (commands) are registered apart,
  // from the same line of SEKISHO_PLUGINS: daemon_part.hpp and ctl_part.hpp. They are
  // in libraries of their own so that a binary that only reads policies (the fuzzers)
  // links none of the daemon's code.
};

// The plugins of this binary, in registration order: SEKISHO_PLUGINS, or the
// registry of a test binary that links its own (tests/plugins/).
std::span<const Plugin* const> registered();

}  // namespace sekisho::plugins
