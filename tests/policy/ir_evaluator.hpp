#pragma once
// A small interpreter of the Ruleset IR for tests: it walks the chains the way nftables
// does for one packet (base chain by hook, jumps, gotos, verdict maps, set lookups) so a
// test can ask the compiled ruleset the same question it asks explain.

#include <algorithm>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "policy/address.hpp"
#include "policy/ir.hpp"
#include "policy/service.hpp"

namespace sekisho::testing {

struct EvalPacket {
  ir::Hook hook = ir::Hook::Forward;  // Input, Forward or Output
  std::string iif;                    // empty for Output
  std::string oif;                    // empty for Input
  policy::IpAddress source;
  policy::IpAddress destination;
  policy::Proto proto = policy::Proto::Tcp;
  std::uint16_t port = 0;
  int icmp_type = -1;
  std::uint32_t ct_state = 0x8;                    // new
  std::optional<policy::MacAddress> ether_source;  // none: no Ethernet header (tun, WireGuard)
};

class IrEvaluator {
 public:
  // `schedule_open` says whether a scheduled set is filled at the instant judged.
  IrEvaluator(const ir::Ruleset& ruleset, std::function<bool(const std::string&)> schedule_open)
      : ruleset_(ruleset), schedule_open_(std::move(schedule_open)) {}

  bool accepts(const EvalPacket& packet) const {
    if (packet.hook != ir::Hook::Output) {
      for (const ir::Chain& chain : ruleset_.chains) {
        if (chain.hook == ir::Hook::Prerouting && !base(chain, packet)) {
          return false;
        }
      }
    }
    for (const ir::Chain& chain : ruleset_.chains) {
      if (chain.hook == packet.hook && !chain.nat && !base(chain, packet)) {
        return false;
      }
    }
    return true;
  }

 private:
  bool base(const ir::Chain& chain, const EvalPacket& packet) const {
    auto verdict = run(chain, packet, 0);
    return verdict ? *verdict == ir::VerdictKind::Accept : !chain.policy_drop;
  }

  static std::uint8_t protocol_number(policy::Proto proto) {
    using policy::Proto;
    return proto == Proto::Tcp ? 6 : proto == Proto::Udp ? 17 : proto == Proto::Icmp ? 1 : 58;
  }

  // The packet's network header and then its transport header, byte for byte where the
  // kernel has them. The family is the source address's; the protocol is what the header
  // says, whatever the family (an IPv4 packet of protocol 58 is possible).
  static std::vector<std::uint8_t> headers(const EvalPacket& p, std::size_t& transport) {
    const bool v4 = p.source.family == policy::Family::V4;
    std::vector<std::uint8_t> bytes(v4 ? 20 : 40, 0);
    bytes[0] = v4 ? 0x45 : 0x60;
    bytes[v4 ? 9 : 6] = protocol_number(p.proto);
    const std::size_t address = v4 ? 4 : 16;
    std::copy_n(p.source.bytes.begin(), address, bytes.begin() + (v4 ? 12 : 8));
    std::copy_n(p.destination.bytes.begin(), address, bytes.begin() + (v4 ? 16 : 24));
    transport = bytes.size();
    const bool ports = p.proto == policy::Proto::Tcp || p.proto == policy::Proto::Udp;
    std::vector<std::uint8_t> l4(p.proto == policy::Proto::Tcp ? 20 : 8, 0);
    if (ports) {
      l4[0] = 0xc0;  // source port 49152
      l4[2] = static_cast<std::uint8_t>(p.port >> 8);
      l4[3] = static_cast<std::uint8_t>(p.port);
    } else {
      l4[0] = static_cast<std::uint8_t>(p.icmp_type);
      l4[2] = l4[3] = 0xff;  // the checksum, where `th dport` reads: no port set names it
    }
    bytes.insert(bytes.end(), l4.begin(), l4.end());
    return bytes;
  }

  // A selector's value as the kernel loads it: header fields from their offsets, without
  // looking at the family, so a rule that does not state its family reads another family's
  // bytes here as it does in the kernel. Only the dependencies that are not the family are
  // applied: an ICMP type needs its protocol, a MAC address an Ethernet header.
  std::optional<ir::Value> field(ir::Selector selector, const EvalPacket& p) const {
    using ir::Selector;
    const bool v4 = p.source.family == policy::Family::V4;
    std::size_t transport = 0;
    const std::vector<std::uint8_t> bytes = headers(p, transport);
    const auto load = [&](std::size_t offset, std::size_t size) -> std::optional<ir::Value> {
      if (offset + size > bytes.size()) {
        return std::nullopt;  // past the packet: the kernel ends the rule
      }
      return ir::value_of_bytes(bytes.data() + offset, size);
    };
    const auto number = [](std::uint64_t n, std::size_t size) {
      return ir::value_of_number(n, size);
    };
    switch (selector) {
      case Selector::IifName:
        return p.hook == ir::Hook::Output ? std::nullopt
                                          : std::optional{ir::value_of_ifname(p.iif)};
      case Selector::OifName:
        return p.hook == ir::Hook::Input ? std::nullopt : std::optional{ir::value_of_ifname(p.oif)};
      case Selector::NfProto:
        return number(v4 ? 2 : 10, 1);
      case Selector::L4Proto:
        return number(protocol_number(p.proto), 1);
      case Selector::IpSaddr:
        return load(12, 4);
      case Selector::IpDaddr:
        return load(16, 4);
      case Selector::Ip6Saddr:
        return load(8, 16);
      case Selector::Ip6Daddr:
        return load(24, 16);
      case Selector::ThDport:
        return load(transport + 2, 2);
      case Selector::IcmpType:
        return p.proto == policy::Proto::Icmp ? load(transport, 1) : std::nullopt;
      case Selector::Icmpv6Type:
        return p.proto == policy::Proto::Icmpv6 ? load(transport, 1) : std::nullopt;
      case Selector::EtherSaddr:
        return p.ether_source ? std::optional{ir::value_of_bytes(p.ether_source->bytes.data(), 6)}
                              : std::nullopt;
      case Selector::CtState:
        return number(p.ct_state, 4);
      case Selector::MetaMark:
        return number(0, 4);  // packets come in unmarked
      case Selector::SocketTransparent:
      case Selector::SocketWildcard:
        return number(0, 1);  // and of no transparent socket
    }
    return std::nullopt;
  }

  // The element of `set` that the packet's key falls in, or nullptr.
  const ir::Element* find(const ir::Set& set, const std::vector<ir::Value>& key) const {
    auto in = [&](const std::vector<ir::Element>& elements) -> const ir::Element* {
      for (const ir::Element& element : elements) {
        bool all = true;
        for (std::size_t i = 0; i < key.size() && all; ++i) {
          all = element.key[i].contains(key[i]);
        }
        if (all) {
          return &element;
        }
      }
      return nullptr;
    };
    if (const ir::Element* element = in(set.elements)) {
      return element;
    }
    return !set.schedule.empty() && schedule_open_(set.schedule) ? in(set.scheduled_elements)
                                                                 : nullptr;
  }

  bool map_has(const ir::Statement& statement, const EvalPacket& packet) const {
    std::vector<ir::Value> key;
    for (ir::Selector selector : statement.map_key) {
      auto value = field(selector, packet);
      if (!value) {
        return false;
      }
      key.push_back(*value);
    }
    const ir::Set* set = ruleset_.find_set(statement.map);
    if (!set) {
      throw std::logic_error("rule uses a missing map " + statement.map);
    }
    return find(*set, key) != nullptr;
  }

  // nullopt: the chain ended without a verdict (return to the caller).
  std::optional<ir::VerdictKind> run(const ir::Chain& chain, const EvalPacket& packet,
                                     int depth) const {
    if (depth > 16) {
      throw std::logic_error("jump loop in the ruleset");
    }
    for (const ir::Rule& rule : chain.rules) {
      std::optional<ir::Verdict> map_verdict;
      bool matched = true;
      for (const ir::Match& match : rule.matches) {
        std::vector<ir::Value> key;
        for (ir::Selector selector : match.selectors) {
          auto value = field(selector, packet);
          if (!value) {
            matched = false;
            break;
          }
          key.push_back(*value);
        }
        if (!matched) {
          break;
        }
        if (match.op == ir::Match::Op::Equal) {
          for (std::size_t i = 0; i < key.size(); ++i) {
            matched = matched && match.values[i].contains(key[i]);
          }
        } else {
          const ir::Set* set = ruleset_.find_set(match.set);
          if (!set) {
            throw std::logic_error("rule uses a missing set " + match.set);
          }
          const ir::Element* element = find(*set, key);
          if (match.op == ir::Match::Op::VerdictMap) {
            if (element) {
              map_verdict = *element->verdict;
            } else {
              matched = false;
            }
          } else {
            matched = (element != nullptr) == (match.op == ir::Match::Op::InSet);
          }
        }
        if (!matched) {
          break;
        }
      }
      for (const ir::Statement& statement : rule.statements) {
        if (matched && statement.kind == ir::Statement::Kind::CtMarkFromMap) {
          matched = map_has(statement, packet);  // a miss ends the rule, as in the kernel
        }
      }
      if (!matched) {
        continue;
      }
      std::vector<ir::Verdict> verdicts;
      if (map_verdict) {
        verdicts.push_back(*map_verdict);
      }
      for (const ir::Statement& statement : rule.statements) {
        if (statement.kind == ir::Statement::Kind::Verdict) {
          verdicts.push_back(statement.verdict);
        } else if (statement.kind == ir::Statement::Kind::RejectTcpReset) {
          return ir::VerdictKind::Drop;
        }
      }
      for (const ir::Verdict& verdict : verdicts) {
        switch (verdict.kind) {
          case ir::VerdictKind::Accept:
          case ir::VerdictKind::Drop:
            return verdict.kind;
          case ir::VerdictKind::Return:
            return std::nullopt;
          case ir::VerdictKind::Jump:
          case ir::VerdictKind::Goto: {
            const ir::Chain* target = ruleset_.find_chain(verdict.chain);
            if (!target) {
              throw std::logic_error("jump to a missing chain " + verdict.chain);
            }
            auto result = run(*target, packet, depth + 1);
            if (result || verdict.kind == ir::VerdictKind::Goto) {
              return result;
            }
            break;
          }
        }
      }
    }
    return std::nullopt;
  }

  const ir::Ruleset& ruleset_;
  std::function<bool(const std::string&)> schedule_open_;
};

}  // namespace sekisho::testing
