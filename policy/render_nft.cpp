#include "policy/render_nft.hpp"

#include <cstdio>
#include <sstream>

#include <arpa/inet.h>

#include "policy/service.hpp"
#include "policy/units.hpp"

namespace sekisho::ir {

namespace {

std::uint64_t number_of(const Value& value) {
  std::uint64_t number = 0;
  for (std::size_t i = 0; i < value.size; ++i) {
    number = (number << 8) | value.bytes[i];
  }
  return number;
}

std::string address_text(const Value& value) {
  char buffer[INET6_ADDRSTRLEN] = {};
  inet_ntop(value.size == 4 ? AF_INET : AF_INET6, value.bytes.data(), buffer, sizeof buffer);
  return buffer;
}

// The prefix length when [lo, hi] is exactly one prefix, else -1.
int prefix_length(const Range& range) {
  const int bits = range.lo.size * 8;
  int prefix = bits;
  for (int bit = bits - 1; bit >= 0; --bit) {
    const auto byte = static_cast<std::size_t>(bit / 8);
    const auto mask = static_cast<std::uint8_t>(0x80 >> (bit % 8));
    const bool lo_set = range.lo.bytes[byte] & mask;
    const bool hi_set = range.hi.bytes[byte] & mask;
    if (!lo_set && hi_set) {
      prefix = bit;
    } else {
      break;
    }
  }
  for (int bit = 0; bit < prefix; ++bit) {
    const auto byte = static_cast<std::size_t>(bit / 8);
    const auto mask = static_cast<std::uint8_t>(0x80 >> (bit % 8));
    if ((range.lo.bytes[byte] & mask) != (range.hi.bytes[byte] & mask)) {
      return -1;
    }
  }
  return prefix;
}

std::string single_text(FieldType type, const Value& value) {
  switch (type) {
    case FieldType::Ipv4Addr:
    case FieldType::Ipv6Addr:
      return address_text(value);
    case FieldType::InetProto:
      switch (number_of(value)) {
        case 6:
          return "tcp";
        case 17:
          return "udp";
        case 1:
          return "icmp";
        case 58:
          return "ipv6-icmp";
        default:
          return std::to_string(number_of(value));
      }
    case FieldType::InetService:
    case FieldType::Boolean:
      return std::to_string(number_of(value));
    case FieldType::IcmpType:
      return policy::icmp_type_name(policy::Proto::Icmp, static_cast<int>(number_of(value)));
    case FieldType::Icmpv6Type:
      return policy::icmp_type_name(policy::Proto::Icmpv6, static_cast<int>(number_of(value)));
    case FieldType::IfName: {
      std::string name(reinterpret_cast<const char*>(value.bytes.data()));
      return "\"" + name + "\"";
    }
    case FieldType::EtherAddr: {
      char buffer[18];
      std::snprintf(buffer, sizeof buffer, "%02x:%02x:%02x:%02x:%02x:%02x", value.bytes[0],
                    value.bytes[1], value.bytes[2], value.bytes[3], value.bytes[4], value.bytes[5]);
      return buffer;
    }
    case FieldType::CtState:
      switch (number_of(value)) {
        case 0x1:
          return "invalid";
        case 0x2:
          return "established";
        case 0x4:
          return "related";
        case 0x8:
          return "new";
        case 0x40:
          return "untracked";
        default:
          return std::to_string(number_of(value));
      }
    case FieldType::NfProto:
      return number_of(value) == 2 ? "ipv4" : "ipv6";
    case FieldType::Mark: {
      char buffer[16];
      std::snprintf(buffer, sizeof buffer, "0x%08llx",
                    static_cast<unsigned long long>(number_of(value)));
      return buffer;
    }
  }
  return "?";
}

std::string verdict_text(const Verdict& verdict) {
  switch (verdict.kind) {
    case VerdictKind::Accept:
      return "accept";
    case VerdictKind::Drop:
      return "drop";
    case VerdictKind::Jump:
      return "jump " + verdict.chain;
    case VerdictKind::Goto:
      return "goto " + verdict.chain;
    case VerdictKind::Return:
      return "return";
  }
  return "?";
}

std::string key_text(const std::vector<FieldType>& types, const Element& element) {
  std::string out;
  for (std::size_t i = 0; i < types.size(); ++i) {
    out += (i ? " . " : "") + render_range(types[i], element.key[i]);
  }
  if (element.timeout_ms > 0) {
    out += " timeout " + std::to_string(element.timeout_ms / 1000) + "s";
  }
  if (element.verdict) {
    out += " : " + verdict_text(*element.verdict);
  }
  return out;
}

std::string origin_text(const Origin& origin) {
  std::string out = origin.what;
  if (origin.pos.line > 0) {
    out += (out.empty() ? "line " : ", line ") + std::to_string(origin.pos.line);
  }
  return out;
}

std::string inline_set(const Set& set) {
  std::string out = "{ ";
  for (std::size_t i = 0; i < set.elements.size(); ++i) {
    out += (i ? ", " : "") + key_text(set.key, set.elements[i]);
  }
  return out + " }";
}

std::string quoted(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    out += c == '"' ? '\'' : c;  // nft strings cannot escape a quote
  }
  return out + "\"";
}

class Renderer {
 public:
  explicit Renderer(const Ruleset& ruleset) : ruleset_(ruleset) {}

  std::string run(std::string_view source) {
    out_ << "#!/usr/sbin/nft -f\n"
         << "# sekisho ruleset compiled from " << source << "; do not edit.\n"
         << "# Scheduled sets (_s_) are empty here: sekishod fills them while their schedule\n"
         << "# is open. Anything no rule allows is dropped and logged.\n"
         << "table inet " << ruleset_.table << "\n"
         << "delete table inet " << ruleset_.table << "\n"
         << "table inet " << ruleset_.table << " {\n";
    render_plugin_resources();
    bool first = true;
    for (const Set& set : ruleset_.sets) {
      if (!set.anonymous) {
        out_ << (first ? "" : "\n");
        render_set(set);
        first = false;
      }
    }
    for (const Chain& chain : ruleset_.chains) {
      out_ << (first ? "" : "\n");
      render_chain(chain);
      first = false;
    }
    out_ << "}\n";
    return out_.str();
  }

 private:
  // What the plugins' part of the table needs besides it, which sekishod sets up.
  void render_plugin_resources() {
    const auto before = out_.tellp();
    for (const PluginResources& plugin : ruleset_.plugins) {
      for (std::uint16_t group : plugin.log_groups) {
        out_ << "\t# plugin " << plugin.plugin << ": NFLOG group " << group << "\n";
      }
      if (plugin.packet_mark_bits != 0) {
        out_ << "\t# plugin " << plugin.plugin << ": packet mark bits "
             << hex(plugin.packet_mark_bits) << "\n";
      }
      for (const Steering& steering : plugin.steering) {
        out_ << "\t# plugin " << plugin.plugin << " steers @" << ruleset_.at(steering.flows).name
             << " to tproxy port " << steering.port << ", packets marked "
             << hex(steering.packet_mark) << " (chain steering; sekishod routes them to this host)";
        const std::string origin = origin_text(steering.origin);
        out_ << (origin.empty() ? "" : " (" + origin + ")") << "\n";
      }
    }
    if (out_.tellp() != before) {
      out_ << "\n";
    }
  }

  static std::string hex(std::uint32_t value) {
    std::ostringstream text;
    text << "0x" << std::hex << value;
    return text.str();
  }

  void render_set(const Set& set) {
    if (!set.origin.what.empty() || set.origin.pos.line > 0) {
      out_ << "\t# " << origin_text(set.origin) << "\n";
    }
    if (!set.schedule.empty()) {
      out_ << "\t# filled while schedule " << set.schedule << " is open ("
           << set.scheduled_elements.size() << " elements)\n";
    }
    if (set.fill == SetFill::Kernel) {
      out_ << "\t# filled by the kernel; readback, drift restore and verify leave its elements\n";
    }
    const bool map = set.verdict_map || set.data;
    out_ << "\t" << (map ? "map " : "set ") << set.name << " {\n\t\ttype ";
    for (std::size_t i = 0; i < set.key.size(); ++i) {
      out_ << (i ? " . " : "") << field_type_name(set.key[i]);
    }
    if (set.verdict_map) {
      out_ << " : verdict";
    } else if (set.data) {
      out_ << " : " << field_type_name(*set.data);
    }
    out_ << "\n";
    if (set.size > 0) {
      out_ << "\t\tsize " << set.size << "\n";
    }
    std::vector<std::string_view> flags;  // in nft's order
    if (set.fill == SetFill::Kernel) {
      flags.push_back("dynamic");
    }
    if (set.interval) {
      flags.push_back("interval");
    }
    if (set.timeout) {
      flags.push_back("timeout");
    }
    for (std::size_t i = 0; i < flags.size(); ++i) {
      out_ << (i ? "," : "\t\tflags ") << flags[i] << (i + 1 == flags.size() ? "\n" : "");
    }
    if (!set.elements.empty()) {
      out_ << "\t\telements = {";
      for (std::size_t i = 0; i < set.elements.size(); ++i) {
        const Element& element = set.elements[i];
        out_ << (i ? "\n\t\t\t     " : " ") << key_text(set.key, element)
             << (element.data && set.data ? " : " + single_text(*set.data, *element.data) : "")
             << (i + 1 < set.elements.size() ? "," : " }");
        std::string origin = origin_text(element.origin);
        if (!origin.empty()) {
          out_ << "  # " << origin;
        }
      }
      out_ << "\n";
    }
    out_ << "\t}\n";
  }

  void render_chain(const Chain& chain) {
    if (!chain.origin.what.empty()) {
      out_ << "\t# " << origin_text(chain.origin) << "\n";
    }
    out_ << "\tchain " << chain.name << " {\n";
    if (chain.hook != Hook::None) {
      static constexpr const char* kHooks[] = {"",        "prerouting", "input",
                                               "forward", "output",     "postrouting"};
      out_ << "\t\ttype " << (chain.nat ? "nat" : "filter") << " hook "
           << kHooks[static_cast<int>(chain.hook)] << " priority " << chain.priority << "; policy "
           << (chain.policy_drop ? "drop" : "accept") << ";\n";
    }
    for (const Rule& rule : chain.rules) {
      out_ << "\t\t" << rule_text(rule) << "\n";
    }
    out_ << "\t}\n";
  }

  std::string rule_text(const Rule& rule) {
    std::vector<std::string> parts;
    for (const Match& match : rule.matches) {
      parts.push_back(match_text(match));
    }
    for (const Statement& statement : rule.statements) {
      parts.push_back(statement_text(statement));
    }
    std::string out;
    for (const std::string& part : parts) {
      out += (out.empty() ? "" : " ") + part;
    }
    return out;
  }

  std::string match_text(const Match& match) {
    std::string selectors;
    for (Selector selector : match.selectors) {
      selectors += (selectors.empty() ? "" : " . ") + std::string(selector_name(selector));
    }
    auto reference = [&]() -> std::string {
      const Set* set = ruleset_.find_set(match.set);
      if (set && set->anonymous) {
        return inline_set(*set);
      }
      return "@" + match.set;
    };
    switch (match.op) {
      case Match::Op::Equal: {
        std::string out;
        for (std::size_t i = 0; i < match.selectors.size(); ++i) {
          out += (i ? " " : "") + std::string(selector_name(match.selectors[i])) + " " +
                 render_range(selector_type(match.selectors[i]), match.values[i]);
        }
        return out;
      }
      case Match::Op::InSet:
        return selectors + " " + reference();
      case Match::Op::NotInSet:
        return selectors + " != " + reference();
      case Match::Op::VerdictMap:
        return selectors + " vmap " + reference();
    }
    return "?";
  }

  static std::string statement_text(const Statement& statement) {
    switch (statement.kind) {
      case Statement::Kind::Counter:
        return "counter";
      case Statement::Kind::Limit:
        return "limit rate " + std::to_string(statement.limit_rate) + "/second burst " +
               std::to_string(statement.limit_burst) + " packets";
      case Statement::Kind::Log:
        return "log prefix " + quoted(statement.log_prefix) + " group " +
               std::to_string(statement.log_group);
      case Statement::Kind::Verdict:
        return verdict_text(statement.verdict);
      case Statement::Kind::RejectTcpReset:
        return "reject with tcp reset";
      case Statement::Kind::Masquerade:
        return "masquerade";
      case Statement::Kind::CtMarkSet: {
        char hex[16];
        std::snprintf(hex, sizeof hex, "0x%08x", statement.mark);
        return std::string("ct mark set ") + hex;
      }
      case Statement::Kind::MarkSet: {
        char hex[16];
        std::snprintf(hex, sizeof hex, "0x%08x", statement.mark);
        return std::string("meta mark set ") + hex;
      }
      case Statement::Kind::Tproxy: {
        const char* family = statement.nf_family == 2    ? "ip "
                             : statement.nf_family == 10 ? "ip6 "
                                                         : "";
        return std::string("tproxy ") + family + "to :" + std::to_string(statement.port);
      }
      case Statement::Kind::CtMarkFromMap: {
        std::string key;
        for (Selector selector : statement.map_key) {
          key += (key.empty() ? "" : " . ") + std::string(selector_name(selector));
        }
        return "ct mark set " + key + " map @" + statement.map;
      }
      case Statement::Kind::SetAdd:
      case Statement::Kind::SetUpdate: {
        std::string out = statement.kind == Statement::Kind::SetAdd ? "add @" : "update @";
        out += statement.set + " {";
        for (std::size_t i = 0; i < statement.set_key.size(); ++i) {
          out += (i ? " . " : " ") + std::string(selector_name(statement.set_key[i]));
        }
        if (statement.set_timeout_ms > 0) {
          out += " timeout " + timeout_text(statement.set_timeout_ms);
        }
        for (const Statement& per_element : statement.per_element) {
          out += " " + statement_text(per_element);
        }
        return out + " }";
      }
    }
    return "?";
  }

  // As nft prints a time: "1h30m", "1s500ms".
  static std::string timeout_text(std::uint64_t ms) {
    std::string out =
        ms >= 1000 ? policy::format_duration(static_cast<std::int64_t>(ms / 1000)) : "";
    return ms % 1000 ? out + std::to_string(ms % 1000) + "ms" : out;
  }

  const Ruleset& ruleset_;
  std::ostringstream out_;
};

}  // namespace

std::string render_range(FieldType type, const Range& range) {
  if (range.single()) {
    return single_text(type, range.lo);
  }
  if (type == FieldType::Ipv4Addr || type == FieldType::Ipv6Addr) {
    int prefix = prefix_length(range);
    if (prefix >= 0) {
      return address_text(range.lo) + "/" + std::to_string(prefix);
    }
  }
  return single_text(type, range.lo) + "-" + single_text(type, range.hi);
}

std::string render_nft(const Ruleset& ruleset, std::string_view source) {
  return Renderer(ruleset).run(source);
}

}  // namespace sekisho::ir
