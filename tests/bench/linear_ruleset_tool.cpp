// The forwarding benchmark's baseline: a policy as a naive firewall would hold it, one
// rule per allowed flow, tried in order, and the established-connection rule after them
// (as hand-written lists often have it), so every packet walks the list. It allows exactly
// what sekisho's ruleset allows; only the per-packet cost differs.
//   sekisho_linear_ruleset POLICY.yaml > linear.nft

#include <algorithm>
#include <iostream>

#include "policy/compile.hpp"
#include "policy/load.hpp"
#include "policy/render_nft.hpp"

namespace {

using sekisho::ir::Match;
using sekisho::ir::Rule;

// The ct state verdict map moves to the end of its chain.
bool is_ct_state_rule(const Rule& rule) {
  return !rule.matches.empty() && rule.matches[0].op == Match::Op::VerdictMap &&
         rule.matches[0].selectors == std::vector{sekisho::ir::Selector::CtState};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: sekisho_linear_ruleset POLICY.yaml\n";
    return 2;
  }
  auto loaded = sekisho::policy::load_policy_file(argv[1]);
  if (!loaded.policy) {
    std::cerr << argv[1] << ": invalid policy\n";
    return 78;
  }
  sekisho::ir::Ruleset ruleset = sekisho::policy::compile(*loaded.policy);
  std::vector<std::string> expanded;
  for (sekisho::ir::Chain& chain : ruleset.chains) {
    std::vector<Rule> rules;
    std::vector<Rule> last;
    for (Rule& rule : chain.rules) {
      // An allow rule: its family, then the lookup.
      const sekisho::ir::Set* set =
          !rule.matches.empty() && rule.matches.back().op == Match::Op::InSet
              ? ruleset.find_set(rule.matches.back().set)
              : nullptr;
      if (is_ct_state_rule(rule)) {
        last.push_back(rule);
      } else if (set && !set->anonymous && set->schedule.empty()) {
        for (const sekisho::ir::Element& element : set->elements) {
          Rule one = rule;
          one.matches.back().op = Match::Op::Equal;
          one.matches.back().set.clear();
          one.matches.back().values = element.key;
          rules.push_back(std::move(one));
        }
        expanded.push_back(set->name);
      } else {
        rules.push_back(rule);
      }
    }
    // After the allow rules, before the closing drop-and-log rule of a base chain.
    auto at = !rules.empty() && rules.back().matches.empty() ? rules.end() - 1 : rules.end();
    rules.insert(at, last.begin(), last.end());
    chain.rules = std::move(rules);
  }
  std::erase_if(ruleset.sets, [&](const sekisho::ir::Set& set) {
    return std::find(expanded.begin(), expanded.end(), set.name) != expanded.end();
  });
  std::cout << sekisho::ir::render_nft(ruleset, argv[1]);
  return 0;
}
