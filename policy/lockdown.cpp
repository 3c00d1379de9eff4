#include "policy/lockdown.hpp"

namespace sekisho::policy {

namespace {

ir::Rule loopback_accept(ir::Selector selector) {
  ir::Rule rule;
  ir::Match match;
  match.selectors = {selector};
  match.values = {ir::single(ir::value_of_ifname("lo"))};
  rule.matches.push_back(match);
  ir::Statement accept;
  accept.kind = ir::Statement::Kind::Verdict;
  accept.verdict.kind = ir::VerdictKind::Accept;
  rule.statements.push_back(accept);
  rule.origin.what = "lockdown: loopback";
  return rule;
}

ir::Chain drop_chain(const char* name, ir::Hook hook) {
  ir::Chain chain;
  chain.name = name;
  chain.hook = hook;
  chain.policy_drop = true;
  chain.origin.what = "lockdown";
  return chain;
}

}  // namespace

ir::Ruleset lockdown_ruleset() {
  ir::Ruleset ruleset;
  ir::Chain input = drop_chain("input", ir::Hook::Input);
  input.rules.push_back(loopback_accept(ir::Selector::IifName));
  ir::Chain output = drop_chain("output", ir::Hook::Output);
  output.rules.push_back(loopback_accept(ir::Selector::OifName));
  ruleset.chains = {input, drop_chain("forward", ir::Hook::Forward), output};
  return ruleset;
}

}  // namespace sekisho::policy
