#pragma once
// The Ruleset IR: one nftables table as plain values. The compiler produces it; the nft
// text renderer and (later) the netlink backend translate it one to one, without
// decisions. Every object remembers the policy line that produced it, so a kernel error
// can point back at the policy.
//
// Values are bytes in the kernel's layout (network order for addresses, ports and
// protocols), so the backend copies them as they are and the text renderer and test
// evaluator read them the same way.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy/diagnostic.hpp"

namespace sekisho::ir {

// The data type of a set key field (nft's type names in comments).
enum class FieldType {
  Ipv4Addr,     // ipv4_addr
  Ipv6Addr,     // ipv6_addr
  InetProto,    // inet_proto
  InetService,  // inet_service
  IcmpType,     // icmp_type
  Icmpv6Type,   // icmpv6_type
  IfName,       // ifname (16 bytes, NUL padded)
  EtherAddr,    // ether_addr
  CtState,      // ct_state (host-order bit mask, kept big-endian here for ordering)
  NfProto,      // nf_proto
  Mark,         // mark (ct mark; the kernel keeps it in host order)
  Boolean,      // boolean (one byte, 0 or 1)
};

std::size_t field_size(FieldType type);
std::string_view field_type_name(FieldType type);

// A packet field a rule reads.
enum class Selector {
  IifName,
  OifName,
  NfProto,
  L4Proto,
  IpSaddr,
  IpDaddr,
  Ip6Saddr,
  Ip6Daddr,
  ThDport,
  IcmpType,
  Icmpv6Type,
  EtherSaddr,
  CtState,
  MetaMark,           // the packet mark (FieldType::Mark)
  SocketTransparent,  // 1: the packet belongs to a local socket with IP_TRANSPARENT
  SocketWildcard,     // 1: that socket is bound to a wildcard address (a listener on 0.0.0.0)
};

FieldType selector_type(Selector selector);
std::string_view selector_name(Selector selector);  // "ip saddr", "meta l4proto"...

// One field value: `size` significant bytes, most significant first.
struct Value {
  std::array<std::uint8_t, 16> bytes{};
  std::uint8_t size = 0;

  auto operator<=>(const Value&) const = default;
};

// An inclusive range of one field; lo == hi for a single value.
struct Range {
  Value lo;
  Value hi;

  bool single() const { return lo == hi; }
  bool contains(const Value& value) const { return !(value < lo) && !(hi < value); }
  auto operator<=>(const Range&) const = default;
};

// Where an object comes from: a policy position and a few words ("rule 'historian polls
// the line'", "implicit: WireGuard port of vpn maint").
struct Origin {
  policy::SourcePos pos;
  std::string what;
};

enum class VerdictKind { Accept, Drop, Jump, Goto, Return };

struct Verdict {
  VerdictKind kind = VerdictKind::Accept;
  std::string chain;  // Jump, Goto

  auto operator<=>(const Verdict&) const = default;
};

struct Element {
  std::vector<Range> key;          // one range per key field
  std::optional<Verdict> verdict;  // verdict maps
  Origin origin;
  std::optional<Value> data;     // data maps
  std::uint64_t timeout_ms = 0;  // sets with timeouts: the element's lifetime (0: none)
};

// What fills a set's elements, and so who may change them at run time.
enum class SetFill {
  Static,      // the compiler: only a whole apply changes them
  Scheduled,   // the daemon, from `scheduled_elements`, while `schedule` is open
  WanGate,     // the daemon: the WAN interface while the link is to be down (kWanClosedSet)
  SessionMap,  // the daemon: one element per open jump session, with a timeout
  Kernel,      // the kernel itself, from the packet path (meters, detectors): created empty,
               // and readback, drift restore and verify leave its elements alone
};

// A set of one Ruleset, by its place in `Ruleset::sets`: an index, not a pointer, so it
// stays valid in every copy of the ruleset (commit-confirm keeps several).
struct SetId {
  static constexpr std::uint32_t kNone = UINT32_MAX;
  std::uint32_t index = kNone;

  auto operator<=>(const SetId&) const = default;
};

struct Set {
  std::string name;
  std::vector<FieldType> key;
  bool interval = false;
  bool timeout = false;
  bool verdict_map = false;
  std::optional<FieldType> data;  // a data map: the type each element maps to
  bool anonymous = false;         // rendered inline where it is used; constant
  // The most elements the set will hold (0: unbounded). A hash set the kernel only ever
  // gets whole is given its size: the kernel then picks its fixed-size hash backend.
  std::uint32_t size = 0;
  std::vector<Element> elements;
  // A scheduled set is loaded empty; the daemon adds `scheduled_elements` while
  // `schedule` is open and removes them when it closes.
  std::string schedule;
  std::vector<Element> scheduled_elements;
  SetFill fill = SetFill::Static;
  Origin origin;
};

struct Match {
  enum class Op {
    Equal,       // selectors == values (one Range per selector; single values)
    InSet,       // selectors @set
    NotInSet,    // selectors != @set
    VerdictMap,  // selectors vmap @set
  };
  std::vector<Selector> selectors;
  Op op = Op::Equal;
  std::string set;
  std::vector<Range> values;
};

struct Statement {
  // CtMarkFromMap: `ct mark set <map_key> map @<map>`; a key the map lacks ends the rule
  // there, as a failed match does. CtMarkSet: `ct mark set <mark>`.
  // SetAdd / SetUpdate: the packet path puts the key into a set the kernel fills
  // (SetFill::Kernel): `add @<set> { <set_key> [timeout T] [counter] }` adds it when absent,
  // `update` also restarts its timeout; a full set ends the rule there, as a failed match
  // does. The statements in `per_element` (Counter, Limit) belong to the element: a counter
  // per key, a limit per key. Only plugins use it (compile_plugins.cpp says on which sets).
  enum class Kind {
    Counter,
    Limit,
    Log,
    Verdict,
    RejectTcpReset,
    Masquerade,
    CtMarkFromMap,
    CtMarkSet,
    SetAdd,
    SetUpdate,
    MarkSet,  // `meta mark set <mark>`: the packet mark
    Tproxy    // `tproxy [ip|ip6] to :<port>`: to the local transparent listener on `port`
  };
  Kind kind = Kind::Counter;
  std::uint32_t limit_rate = 0;  // packets per second
  std::uint32_t limit_burst = 0;
  std::uint16_t log_group = 0;
  std::string log_prefix;
  ir::Verdict verdict;
  std::vector<Selector> map_key;  // CtMarkFromMap
  std::string map;
  std::uint32_t mark = 0;         // CtMarkSet, MarkSet
  std::vector<Selector> set_key;  // SetAdd, SetUpdate: `set`'s key, field by field
  std::string set;
  std::uint64_t set_timeout_ms = 0;  // the element's lifetime (0: the set's default)
  std::vector<Statement> per_element;
  std::uint16_t port = 0;      // Tproxy
  std::uint8_t nf_family = 0;  // Tproxy: 2 IPv4, 10 IPv6, 0 both (the rule reads no address)
};

struct Rule {
  using Statements = std::vector<Statement>;
  std::vector<Match> matches;
  std::vector<Statement> statements;
  Origin origin;
};

enum class Hook { None, Prerouting, Input, Forward, Output, Postrouting };

struct Chain {
  std::string name;
  Hook hook = Hook::None;  // None: a regular chain, reached by jumps
  bool nat = false;        // type nat (else filter)
  int priority = 0;
  bool policy_drop = false;
  std::vector<Rule> rules;
  Origin origin;
};

// The sets whose elements change at run time, as the compiler made them: the daemon finds
// them here, never by their names.
struct RuntimeSets {
  std::optional<SetId> wan_gate;                     // policies with a `wan`
  std::array<std::optional<SetId>, 2> session_maps;  // [0] IPv4, [1] IPv6; VPN zones only
  struct Scheduled {
    std::string schedule;
    std::uint32_t ct_mark = 0;  // what connections its sets accept carry (schedule_mark)
    std::vector<SetId> sets;    // in Ruleset::sets order
  };
  std::vector<Scheduled> scheduled;  // in policy order of the schedules
  std::vector<SetId> kernel_filled;  // SetFill::Kernel, in Ruleset::sets order

  const Scheduled* find_scheduled(std::string_view schedule) const;
};

// Flows a plugin's userspace inspector must see (plugins/plugin.hpp), taken from the packet
// path by tproxy (TCP only): the compiler makes the core's rules of it (compile_plugins.hpp:
// chain `steering` at prerouting, accepts in input and output) and the daemon the policy
// routing that delivers the marked packets locally (daemon/sekishod/steering.hpp). With no
// inspector listening the flow is dropped: steering always fails closed.
struct Steering {
  SetId flows;                    // the plugin's set of the flows to steer
  std::vector<Selector> key;      // the packet fields the set's key is made of, client to server
  std::uint32_t packet_mark = 0;  // steered packets carry it (policy routing, input accept)
  std::uint16_t port = 0;         // the inspector's transparent TCP listener
  Origin origin;
};

// What one plugin's part of the ruleset needs from the kernel besides the table: the
// daemon owns these (subscribes the log groups, sets up and removes the steering).
struct PluginResources {
  std::string plugin;
  std::vector<SetId> sets;  // every set it added, in the order it added them
  std::vector<std::uint16_t> log_groups;
  std::uint32_t packet_mark_bits = 0;  // the bits of the packet mark it was given
  std::vector<Steering> steering;
};

// One table `inet sekisho`.
struct Ruleset {
  std::string table = "sekisho";
  std::vector<Set> sets;
  std::vector<Chain> chains;
  RuntimeSets runtime;
  std::vector<PluginResources> plugins;  // one per plugin that contributed, in registry order

  // Adds a set and returns its handle.
  SetId add_set(Set set);
  Set& at(SetId id) { return sets.at(id.index); }
  const Set& at(SetId id) const { return sets.at(id.index); }

  const Set* find_set(std::string_view name) const;
  const Chain* find_chain(std::string_view name) const;
  std::size_t rule_count() const;
  std::size_t element_count() const;  // static and scheduled
};

// Value constructors.
Value value_of_bytes(const std::uint8_t* bytes, std::size_t size);
Value value_of_number(std::uint64_t number, std::size_t size);  // big-endian
Value value_of_ifname(std::string_view name);
Range single(Value value);

}  // namespace sekisho::ir
