#include "policy/compile_steering.hpp"

#include <algorithm>
#include <optional>
#include <stdexcept>

namespace sekisho::policy {

namespace {

using ir::Match;
using ir::Selector;
using ir::Statement;

constexpr std::uint8_t kTcp = 6;

// The family a key's addresses are of: IPv4 (2), IPv6 (10) or either (0).
std::uint8_t key_family(const std::vector<Selector>& key) {
  for (Selector selector : key) {
    if (selector == Selector::IpSaddr || selector == Selector::IpDaddr) {
      return 2;
    }
    if (selector == Selector::Ip6Saddr || selector == Selector::Ip6Daddr) {
      return 10;
    }
  }
  return 0;
}

Match equal_to(Selector selector, std::uint64_t number) {
  return Match{
      {selector},
      Match::Op::Equal,
      {},
      {ir::single(ir::value_of_number(number, ir::field_size(ir::selector_type(selector))))}};
}

Statement statement_of(Statement::Kind kind) {
  Statement statement;
  statement.kind = kind;
  return statement;
}

Statement mark_set(std::uint32_t mark) {
  Statement statement = statement_of(Statement::Kind::MarkSet);
  statement.mark = mark;
  return statement;
}

Statement verdict_of(ir::VerdictKind kind) {
  Statement statement = statement_of(Statement::Kind::Verdict);
  statement.verdict = ir::Verdict{kind, {}};
  return statement;
}

// `meta l4proto tcp [meta nfproto F] <key> @<flows>`: the steered flow's packets.
std::vector<Match> flow_matches(const ir::Ruleset& ruleset, const ir::Steering& steering) {
  std::vector<Match> matches{equal_to(Selector::L4Proto, kTcp)};
  if (const std::uint8_t family = key_family(steering.key); family != 0) {
    matches.push_back(equal_to(Selector::NfProto, family));
  }
  matches.push_back(Match{steering.key, Match::Op::InSet, ruleset.at(steering.flows).name, {}});
  return matches;
}

ir::Chain& base_chain(ir::Ruleset& ruleset, ir::Hook hook, std::string_view name) {
  auto chain = std::find_if(ruleset.chains.begin(), ruleset.chains.end(), [&](const ir::Chain& c) {
    return c.hook == hook && !c.nat && c.name == name;
  });
  if (chain == ruleset.chains.end()) {
    throw std::invalid_argument("steering: the core has no " + std::string(name) + " chain");
  }
  return *chain;
}

void insert_at(ir::Chain& chain, std::size_t at, std::vector<ir::Rule> rules) {
  chain.rules.insert(chain.rules.begin() + static_cast<std::ptrdiff_t>(at),
                     std::make_move_iterator(rules.begin()), std::make_move_iterator(rules.end()));
}

}  // namespace

void check_steering_key(const ir::Steering& steering, const ir::Set& set) {
  if (steering.key.size() != set.key.size()) {
    throw std::invalid_argument("steering reads " + std::to_string(steering.key.size()) +
                                " fields of set " + set.name + ", whose key has " +
                                std::to_string(set.key.size()));
  }
  bool v4 = false;
  bool v6 = false;
  for (std::size_t i = 0; i < set.key.size(); ++i) {
    const Selector selector = steering.key[i];
    // Fields a packet from client to server has the same at prerouting and, sent again
    // by the inspector, at output: no interfaces, no marks or connection state.
    switch (selector) {
      case Selector::L4Proto:
      case Selector::ThDport:
        break;
      case Selector::IpSaddr:
      case Selector::IpDaddr:
        v4 = true;
        break;
      case Selector::Ip6Saddr:
      case Selector::Ip6Daddr:
        v6 = true;
        break;
      default:
        throw std::invalid_argument("steering cannot match flows by " +
                                    std::string(ir::selector_name(selector)));
    }
    if (ir::selector_type(selector) != set.key[i]) {
      throw std::invalid_argument("steering reads " + std::string(ir::selector_name(selector)) +
                                  " as field " + std::to_string(i + 1) + " of set " + set.name +
                                  ", which is of type " +
                                  std::string(ir::field_type_name(set.key[i])));
    }
  }
  if (v4 && v6) {
    throw std::invalid_argument("steering reads IPv4 and IPv6 addresses in one key");
  }
}

void add_steering(ir::Ruleset& ruleset, const std::map<ir::Hook, std::size_t>& hook_at,
                  const std::map<ir::Hook, std::size_t>& inserted,
                  std::set<std::string>& taken_names) {
  std::vector<const ir::Steering*> all;
  for (const ir::PluginResources& plugin : ruleset.plugins) {
    for (const ir::Steering& steering : plugin.steering) {
      all.push_back(&steering);
    }
  }
  if (all.empty()) {
    return;
  }
  if (!taken_names.insert(std::string(kSteeringChain)).second) {
    throw std::invalid_argument("steering: the name 'steering' is taken");
  }
  ir::Chain chain;
  chain.name = std::string(kSteeringChain);
  chain.hook = ir::Hook::Prerouting;
  chain.priority = -150;  // mangle: before routing decides where the packet goes
  chain.origin = ir::Origin{{}, "steering to the plugins' inspectors"};
  // Packets of connections an inspector holds (the client's, and its own to the server
  // with the client's address, whose replies would be forwarded otherwise) go up to it.
  // Only connections: a transparent listener bound to 0.0.0.0 matches `socket transparent`
  // for any address on its port (nft's socket lookup, unlike xt_socket, includes such
  // listeners), so without `socket wildcard 0` anyone could reach it past the policy. New
  // connections reach a listener only through the steering rules below. Any steering mark
  // routes locally (daemon/sekishod/steering.hpp): the first one.
  chain.rules.push_back(
      ir::Rule{{equal_to(Selector::L4Proto, kTcp), equal_to(Selector::SocketTransparent, 1),
                equal_to(Selector::SocketWildcard, 0)},
               {mark_set(all.front()->packet_mark), verdict_of(ir::VerdictKind::Accept)},
               {{}, "the inspectors' own connections"}});
  std::vector<ir::Rule> input;
  std::vector<ir::Rule> output;
  std::set<std::uint32_t> marks;
  for (const ir::Steering* steering : all) {
    Statement tproxy = statement_of(Statement::Kind::Tproxy);
    tproxy.port = steering->port;
    tproxy.nf_family = key_family(steering->key);
    chain.rules.push_back(
        ir::Rule{flow_matches(ruleset, *steering),
                 {tproxy, mark_set(steering->packet_mark), verdict_of(ir::VerdictKind::Accept)},
                 steering->origin});
    // tproxy found no listener (the rule ended there): the flow does not pass uninspected.
    chain.rules.push_back(
        ir::Rule{flow_matches(ruleset, *steering),
                 {statement_of(Statement::Kind::Counter), verdict_of(ir::VerdictKind::Drop)},
                 steering->origin});
    // Incoming packets carry mark 0 (a namespace crossing clears it); in this table only
    // the rules above set a steering mark (a plugin's rules may not: compile_plugins.cpp).
    // TCP only, as they are.
    if (marks.insert(steering->packet_mark).second) {
      input.push_back(ir::Rule{
          {equal_to(Selector::L4Proto, kTcp), equal_to(Selector::MetaMark, steering->packet_mark)},
          {verdict_of(ir::VerdictKind::Accept)},
          steering->origin});
    }
    std::vector<Match> own = flow_matches(ruleset, *steering);
    own.push_back(equal_to(Selector::SocketTransparent, 1));
    output.push_back(
        ir::Rule{std::move(own), {verdict_of(ir::VerdictKind::Accept)}, steering->origin});
  }
  for (auto& [hook, name, rules] : {std::tuple{ir::Hook::Input, "input", &input},
                                    std::tuple{ir::Hook::Output, "output", &output}}) {
    const auto done = inserted.find(hook);
    insert_at(base_chain(ruleset, hook, name),
              hook_at.at(hook) + (done == inserted.end() ? 0 : done->second), std::move(*rules));
  }
  ruleset.chains.push_back(std::move(chain));
}

}  // namespace sekisho::policy
