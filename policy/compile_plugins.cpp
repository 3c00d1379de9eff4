#include "policy/compile_plugins.hpp"

#include <algorithm>
#include <stdexcept>

#include "plugins/plugin.hpp"
#include "policy/compile_steering.hpp"

namespace sekisho::policy {

namespace {

std::string_view hook_suffix(ir::Hook hook) {
  switch (hook) {
    case ir::Hook::Input:
      return "input";
    case ir::Hook::Forward:
      return "forward";
    case ir::Hook::Output:
      return "output";
    default:
      return {};
  }
}

// What every plugin's contribution shares: the log groups and mark bits handed out.
struct Allocations {
  std::uint32_t next_log_group = kFirstPluginLogGroup;
  unsigned next_mark_bit = kFirstPluginMarkBit;
};

class PluginContribution : public plugins::Contribution {
 public:
  PluginContribution(const plugins::Plugin& plugin, ir::Ruleset& ruleset,
                     std::set<std::string>& taken_names, Allocations& allocations)
      : plugin_(plugin),
        prefix_(std::string(plugin.name) + "_"),
        ruleset_(ruleset),
        taken_names_(taken_names),
        allocations_(allocations) {
    resources_.plugin = std::string(plugin.name);
  }

  const ir::Ruleset& ruleset() const override { return ruleset_; }

  ir::SetId add_set(ir::Set set) override {
    take_name(set.name);
    if (set.fill != ir::SetFill::Static && set.fill != ir::SetFill::Kernel) {
      refuse("set " + set.name + ": a plugin's set is filled by itself (Static) or the kernel");
    }
    if (set.fill == ir::SetFill::Kernel &&
        (!set.elements.empty() || !set.scheduled_elements.empty() || set.anonymous)) {
      refuse("set " + set.name + ": a set the kernel fills is created empty and named");
    }
    // The packet path cannot add to an interval set: the kernel would refuse the table.
    if (set.fill == ir::SetFill::Kernel && set.interval) {
      refuse("set " + set.name + ": a set the kernel fills cannot hold intervals");
    }
    if (!set.schedule.empty()) {
      refuse("set " + set.name + ": schedules are the core's");
    }
    const bool kernel = set.fill == ir::SetFill::Kernel;
    const ir::SetId id = ruleset_.add_set(std::move(set));
    own_sets_.push_back(id);
    resources_.sets.push_back(id);
    if (kernel) {
      ruleset_.runtime.kernel_filled.push_back(id);
    }
    return id;
  }

  void add_chain(ir::Chain chain) override {
    take_name(chain.name);
    const bool base = chain.hook != ir::Hook::None;
    for (const ir::Rule& rule : chain.rules) {
      check_rule(chain.name, rule, base);
    }
    if (!base) {
      own_chains_.insert(chain.name);
    }
    ruleset_.chains.push_back(std::move(chain));
  }

  void hook(ir::Hook base, ir::Rule rule) override {
    if (hook_suffix(base).empty()) {
      refuse("a rule hooks into input, forward or output only");
    }
    check_rule(prefix_ + std::string(hook_suffix(base)), rule, false);
    hooked_[base].push_back(std::move(rule));
  }

  std::uint32_t packet_mark_bits(unsigned count) override {
    if (count == 0 || allocations_.next_mark_bit + count > 32) {
      refuse("no " + std::to_string(count) + " packet-mark bits left");
    }
    const std::uint32_t bits =
        static_cast<std::uint32_t>(((std::uint64_t{1} << count) - 1) << allocations_.next_mark_bit);
    allocations_.next_mark_bit += count;
    resources_.packet_mark_bits |= bits;
    return bits;
  }

  std::uint16_t log_group() override {
    if (allocations_.next_log_group > 0xffff) {
      refuse("no NFLOG group left");
    }
    const auto group = static_cast<std::uint16_t>(allocations_.next_log_group++);
    resources_.log_groups.push_back(group);
    return group;
  }

  void steer(ir::Steering steering) override {
    if (std::find(own_sets_.begin(), own_sets_.end(), steering.flows) == own_sets_.end()) {
      refuse("steering names a set that is not the plugin's own");
    }
    // Steered flows skip the forward chain: the set is a permission, so it must be one
    // that verify and drift restore hold to the compiled policy.
    if (ruleset_.at(steering.flows).fill != ir::SetFill::Static) {
      refuse("steering names a set whose elements the compiled policy does not fix");
    }
    if (steering.packet_mark == 0 || (steering.packet_mark & ~resources_.packet_mark_bits) != 0) {
      refuse("steering marks packets with bits the plugin was not given");
    }
    if (steering.port == 0) {
      refuse("steering needs the port of the inspector's listener");
    }
    try {
      check_steering_key(steering, ruleset_.at(steering.flows));
    } catch (const std::invalid_argument& error) {
      refuse(error.what());
    }
    resources_.steering.push_back(std::move(steering));
  }

  // Every jump lands in a chain of the plugin's own; the hooked rules go into a chain
  // "<plugin>_<base>" reached from the base chain at `hook_at`.
  void finish(const std::map<ir::Hook, std::size_t>& hook_at,
              std::map<ir::Hook, std::size_t>& inserted) {
    for (auto& hooked : hooked_) {
      const ir::Hook base = hooked.first;  // not a structured binding: the lambda reads it
      ir::Chain chain;
      chain.name = prefix_ + std::string(hook_suffix(base));
      take_name(chain.name);
      chain.origin = ir::Origin{{}, "plugin " + std::string(plugin_.name)};
      chain.rules = std::move(hooked.second);
      own_chains_.insert(chain.name);
      auto base_chain = std::find_if(
          ruleset_.chains.begin(), ruleset_.chains.end(), [&](const ir::Chain& candidate) {
            return candidate.hook == base && !candidate.nat && candidate.name == hook_suffix(base);
          });
      if (base_chain == ruleset_.chains.end() || !hook_at.contains(base)) {
        refuse("the core has no " + std::string(hook_suffix(base)) + " chain to hook into");
      }
      ir::Statement jump;
      jump.kind = ir::Statement::Kind::Verdict;
      jump.verdict = ir::Verdict{ir::VerdictKind::Jump, chain.name};
      const std::size_t at = hook_at.at(base) + inserted[base]++;
      base_chain->rules.insert(base_chain->rules.begin() + static_cast<std::ptrdiff_t>(at),
                               ir::Rule{{}, {jump}, chain.origin});
      ruleset_.chains.push_back(std::move(chain));
    }
    for (const auto& [from, to] : jumps_) {
      if (!own_chains_.contains(to)) {
        refuse(from + " jumps to " + to + ", not a regular chain of the plugin");
      }
    }
    for (const auto& [from, set] : lookups_) {
      if (!ruleset_.find_set(set)) {
        refuse(from + " reads set " + set + ", which does not exist");
      }
    }
    ruleset_.plugins.push_back(std::move(resources_));
  }

 private:
  [[noreturn]] void refuse(const std::string& why) const {
    throw std::invalid_argument("plugin " + std::string(plugin_.name) + ": " + why);
  }

  void take_name(const std::string& name) {
    if (name.size() <= prefix_.size() || name.compare(0, prefix_.size(), prefix_) != 0) {
      refuse("'" + name + "' does not start with '" + prefix_ + "'");
    }
    // The core's generated names all contain "_to_" (zone pairs): so no policy can make
    // a plugin's name clash.
    if (name.find("_to_") != std::string::npos) {
      refuse("'" + name + "' contains '_to_', which the core's generated names use");
    }
    if (!taken_names_.insert(name).second) {
      refuse("'" + name + "' is taken");
    }
  }

  // A plugin cannot open what the policy closes: outside its own base chains no accept
  // (nor a verdict map, whose elements may accept); the ct mark is the core's.
  void check_rule(const std::string& chain, const ir::Rule& rule, bool may_accept) {
    for (const ir::Match& match : rule.matches) {
      if (match.op == ir::Match::Op::VerdictMap && !may_accept) {
        refuse(chain + ": a verdict map outside the plugin's own base chains");
      }
      if (match.op != ir::Match::Op::Equal) {
        lookups_.emplace_back(chain, match.set);
      }
    }
    for (const ir::Statement& statement : rule.statements) {
      using Kind = ir::Statement::Kind;
      if (statement.kind == Kind::CtMarkSet || statement.kind == Kind::CtMarkFromMap) {
        refuse(chain + ": the ct mark is the core's");
      }
      // The input chain accepts a steering mark, so setting one would open it; steering is
      // the core's rules, made from Contribution::steer.
      if (statement.kind == Kind::MarkSet || statement.kind == Kind::Tproxy) {
        refuse(chain + ": the packet mark and tproxy are set by the core's steering only");
      }
      if (statement.kind == Kind::SetAdd || statement.kind == Kind::SetUpdate) {
        check_set_update(chain, statement);
      }
      if (statement.kind != Kind::Verdict) {
        continue;
      }
      const ir::VerdictKind kind = statement.verdict.kind;
      if (kind == ir::VerdictKind::Accept && !may_accept) {
        refuse(chain + ": accepts outside the plugin's own base chains");
      }
      if (kind == ir::VerdictKind::Jump || kind == ir::VerdictKind::Goto) {
        jumps_.emplace_back(chain, statement.verdict.chain);
      }
    }
  }

  // The packet path fills only the plugin's own sets the kernel fills, added before the
  // rule, bounded, with a key of the set's types; a timeout only where the set has them,
  // in whole seconds (the kernel keeps it in jiffies: anything finer could read back
  // otherwise and look like drift).
  void check_set_update(const std::string& chain, const ir::Statement& statement) {
    const ir::Set* set = ruleset_.find_set(statement.set);
    const bool own =
        set && std::find(own_sets_.begin(), own_sets_.end(),
                         ir::SetId{static_cast<std::uint32_t>(set - ruleset_.sets.data())}) !=
                   own_sets_.end();
    if (!own || set->fill != ir::SetFill::Kernel) {
      refuse(chain + ": updates set " + statement.set +
             ", which is not a set of the plugin's own that the kernel fills");
    }
    if (set->size == 0 || set->verdict_map || set->data) {
      refuse(chain + ": set " + statement.set +
             " is filled from the packet path: it needs a size, and cannot be a map");
    }
    std::vector<ir::FieldType> key;
    for (ir::Selector selector : statement.set_key) {
      key.push_back(ir::selector_type(selector));
    }
    if (key != set->key) {
      refuse(chain + ": the key put into set " + statement.set + " is not of the set's types");
    }
    if (statement.set_timeout_ms > 0 && (!set->timeout || statement.set_timeout_ms % 1000 != 0)) {
      refuse(chain + ": a timeout in set " + statement.set +
             " needs a set with timeouts, in whole seconds");
    }
    for (const ir::Statement& per_element : statement.per_element) {
      if (per_element.kind != ir::Statement::Kind::Counter &&
          per_element.kind != ir::Statement::Kind::Limit) {
        refuse(chain + ": an element of set " + statement.set + " keeps a counter or a limit only");
      }
    }
  }

  const plugins::Plugin& plugin_;
  const std::string prefix_;
  ir::Ruleset& ruleset_;
  std::set<std::string>& taken_names_;
  Allocations& allocations_;
  ir::PluginResources resources_;
  std::vector<ir::SetId> own_sets_;
  std::set<std::string> own_chains_;
  std::map<ir::Hook, std::vector<ir::Rule>> hooked_;
  std::vector<std::pair<std::string, std::string>> jumps_;    // chain -> chain
  std::vector<std::pair<std::string, std::string>> lookups_;  // chain -> set
};

}  // namespace

void compile_plugins(const Policy& policy, ir::Ruleset& ruleset,
                     const std::map<ir::Hook, std::size_t>& hook_at,
                     std::set<std::string>& taken_names) {
  Allocations allocations;
  std::map<ir::Hook, std::size_t> inserted;
  for (const plugins::Plugin* plugin : plugins::registered()) {
    if (!plugin->compile) {
      continue;
    }
    PluginContribution contribution(*plugin, ruleset, taken_names, allocations);
    plugin->compile(policy, contribution);
    contribution.finish(hook_at, inserted);
  }
  add_steering(ruleset, hook_at, inserted, taken_names);
}

}  // namespace sekisho::policy
