#include <date/date.h>
#include <date/tz.h>
#include <nlohmann/json.hpp>

#include "daemon/common/exit_codes.hpp"
#include "daemon/sekishoctl/commands.hpp"
#include "daemon/sekishoctl/diagnostics_output.hpp"
#include "policy/explain.hpp"
#include "policy/load.hpp"
#include "policy/units.hpp"

namespace sekisho::ctl {

namespace {

using policy::Family;
using policy::IpAddress;
using policy::Proto;

constexpr std::string_view kUsage =
    "usage: sekishoctl explain FILE --from A --to B (--proto tcp|udp --port N |\n"
    "                          --proto icmp|icmpv6 --type NAME|N) [--at TIME] [--json]\n";

// An endpoint as the user named it, before the address family is known.
struct NamedEndpoint {
  std::string text;
  std::optional<IpAddress> literal;
  const policy::Host* host = nullptr;
  const policy::VpnPeer* peer = nullptr;
  bool gateway = false;

  bool has_family(Family family) const {
    if (gateway)
      return true;
    if (literal)
      return literal->family == family;
    const auto& addresses = host ? host->addresses : peer->addresses;
    return std::any_of(addresses.begin(), addresses.end(),
                       [&](const IpAddress& a) { return a.family == family; });
  }

  std::optional<IpAddress> address(Family family) const {
    if (literal)
      return literal;
    const auto& addresses = host ? host->addresses : peer->addresses;
    for (const IpAddress& a : addresses) {
      if (a.family == family)
        return a;
    }
    return std::nullopt;
  }
};

std::optional<NamedEndpoint> name_endpoint(const policy::Policy& policy, const std::string& text,
                                           std::string& error) {
  NamedEndpoint endpoint;
  endpoint.text = text;
  endpoint.gateway = text == policy::kGatewayName;
  endpoint.literal = policy::parse_ip(text);
  endpoint.host = policy.find_host(text);
  endpoint.peer = endpoint.host ? nullptr : policy.find_peer(text);
  if (!endpoint.gateway && !endpoint.literal && !endpoint.host && !endpoint.peer) {
    error = "'" + text + "' is not a host, VPN peer, 'gateway' or an IP address of the policy";
    return std::nullopt;
  }
  return endpoint;
}

std::string format_local(std::chrono::sys_seconds at, const date::time_zone& zone) {
  return date::format("%FT%T%Ez", date::zoned_seconds(&zone, at));
}

int usage_error(Io& io, const std::string& message) {
  io.err << "sekishoctl explain: " << message << '\n' << kUsage;
  return kExitUsage;
}

}  // namespace

int run_explain(const Args& args, Io& io) {
  if (args.positional.size() != 1) {
    return usage_error(io, "expected one policy FILE");
  }
  const std::string* from_text = args.value("from");
  const std::string* to_text = args.value("to");
  const std::string* proto_text = args.value("proto");
  if (!from_text || !to_text || !proto_text) {
    return usage_error(io, "--from, --to and --proto are required");
  }
  auto proto = policy::parse_proto(*proto_text);
  if (!proto) {
    return usage_error(io, "--proto must be tcp, udp, icmp or icmpv6");
  }
  policy::Packet packet;
  packet.proto = *proto;
  const bool ports = *proto == Proto::Tcp || *proto == Proto::Udp;
  if (ports) {
    const std::string* port = args.value("port");
    auto number = port ? policy::parse_unsigned(*port, 65535) : std::nullopt;
    if (!number || *number == 0 || args.value("type")) {
      return usage_error(io, "--proto " + *proto_text + " needs --port 1-65535 (and no --type)");
    }
    packet.port = static_cast<std::uint16_t>(*number);
  } else {
    const std::string* type = args.value("type");
    auto number = type ? policy::parse_icmp_type(*proto, *type) : std::nullopt;
    if (!number || args.value("port")) {
      return usage_error(
          io, "--proto " + *proto_text + " needs --type NAME|N, e.g. echo-request (and no --port)");
    }
    packet.icmp_type = *number;
  }

  policy::LoadResult loaded = policy::load_policy_file(args.positional[0]);
  if (!loaded.policy) {
    if (args.json) {
      io.out << diagnostics_json(loaded.diagnostics).dump(2) << '\n';
    } else {
      print_diagnostics(loaded.diagnostics, io.err);
    }
    return kExitConfig;
  }
  const policy::Policy& policy = *loaded.policy;
  const date::time_zone* zone = date::locate_zone(policy.timezone);

  std::string error;
  auto from = name_endpoint(policy, *from_text, error);
  auto to = from ? name_endpoint(policy, *to_text, error) : std::nullopt;
  if (!from || !to) {
    return usage_error(io, error);
  }
  // The family: fixed by a literal address or the ICMP version, else IPv4 when both ends
  // have one, else IPv6.
  std::optional<Family> family;
  if (*proto == Proto::Icmp)
    family = Family::V4;
  if (*proto == Proto::Icmpv6)
    family = Family::V6;
  for (const NamedEndpoint* end : {&*from, &*to}) {
    if (end->literal && family && *family != end->literal->family) {
      return usage_error(io, "'" + end->text +
                                 "' does not fit the other end or the protocol "
                                 "(IPv4 vs IPv6)");
    }
    if (end->literal)
      family = end->literal->family;
  }
  if (!family) {
    family = from->has_family(Family::V4) && to->has_family(Family::V4) ? Family::V4 : Family::V6;
  }
  policy::Resolver resolver(policy);
  for (auto [end, side] : {std::pair{&*from, &packet.from}, std::pair{&*to, &packet.to}}) {
    if (end->gateway) {
      side->gateway = true;
      side->address.family = *family;
      continue;
    }
    auto address = end->address(*family);
    if (!address) {
      return usage_error(io, "'" + end->text + "' has no " +
                                 (*family == Family::V4 ? "IPv4" : "IPv6") + " address");
    }
    *side = resolver.endpoint_for(*address);
  }
  // "gateway" names the gateway as a whole; where it has an address of its own on the
  // other end's side (its local broker, its tunnel address), that is the one asked about.
  for (auto [side, other] :
       {std::pair{&packet.to, &packet.from}, std::pair{&packet.from, &packet.to}}) {
    if (side->gateway && !other->gateway) {
      if (auto own = resolver.gateway_address_facing(other->address)) {
        side->address = *own;
      }
    }
  }

  std::chrono::sys_seconds at = io.now;
  if (const std::string* at_text = args.value("at")) {
    auto parsed = policy::parse_instant(*at_text, *zone, error);
    if (!parsed) {
      return usage_error(io, error);
    }
    at = *parsed;
  }

  policy::Verdict verdict = policy::explain(resolver, *zone, packet, at);
  // An end: its address, or null for the gateway as a whole (no address of its own there).
  auto describe = [](const policy::Endpoint& e) {
    const bool unspecified = e.address.bytes == decltype(e.address.bytes){};
    return e.gateway && unspecified ? nlohmann::json() : nlohmann::json(e.address.to_string());
  };
  if (args.json) {
    nlohmann::json out = {
        {"verdict", verdict.accept ? "accept" : "drop"},
        {"rule", verdict.rule.empty() ? nlohmann::json() : nlohmann::json(verdict.rule)},
        {"file", policy.file},
        {"line", verdict.rule.empty() ? nlohmann::json() : nlohmann::json(verdict.pos.line)},
        {"implicit", verdict.implicit},
        {"schedule", verdict.schedule ? nlohmann::json(*verdict.schedule) : nlohmann::json()},
        {"schedule_open",
         verdict.schedule_open ? nlohmann::json(*verdict.schedule_open) : nlohmann::json()},
        {"reason", verdict.reason},
        {"from",
         {{"name", *from_text},
          {"address", describe(packet.from)},
          {"gateway", packet.from.gateway}}},
        {"to",
         {{"name", *to_text}, {"address", describe(packet.to)}, {"gateway", packet.to.gateway}}},
        {"proto", *proto_text},
        {"at", format_local(at, *zone)},
    };
    if (ports) {
      out["port"] = packet.port;
    } else {
      out["type"] = policy::icmp_type_name(*proto, packet.icmp_type);
    }
    io.out << out.dump(2) << '\n';
    return kExitOk;
  }
  std::string where = policy.file + ":" + std::to_string(verdict.pos.line);
  if (verdict.accept) {
    io.out << "accept: " << (verdict.implicit ? "implicit " : "") << '"' << verdict.rule << "\" ("
           << where << ")\n";
    if (verdict.schedule) {
      io.out << "  schedule " << *verdict.schedule << " is open at " << format_local(at, *zone)
             << '\n';
    }
  } else if (verdict.schedule) {
    io.out << "drop: \"" << verdict.rule << "\" (" << where << ") matches, but schedule "
           << *verdict.schedule << " is closed at " << format_local(at, *zone) << '\n';
  } else {
    io.out << "drop: " << verdict.reason << '\n';
  }
  return kExitOk;
}

}  // namespace sekisho::ctl
