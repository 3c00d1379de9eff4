#include "daemon/nft/batch.hpp"

#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>
#include <linux/if_arp.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <netinet/in.h>

#include "daemon/net/netlink_attributes.hpp"

namespace sekisho::nft {

namespace {

using ir::FieldType;
using ir::Selector;

// Elements per NEWSETELEM message: well under the 64 KiB a message may hold.
constexpr std::size_t kElementsPerMessage = 256;

// The kernel keeps 32-bit registers and dumps each one that starts a 128-bit register
// under the old 128-bit number (NFT_REG32_00 reads back as NFT_REG_1), as nft writes
// them; writing the same numbers keeps what we send and what we read back comparable.
std::uint32_t register_number(std::uint32_t reg32) {
  const std::uint32_t index = reg32 - NFT_REG32_00;
  return index % 4 == 0 ? NFT_REG_1 + index / 4 : reg32;
}

std::size_t round4(std::size_t n) {
  return (n + 3) & ~std::size_t{3};
}

// nft's datatype ids, so that `nft list` prints our sets readably (the kernel ignores them).
std::uint32_t datatype(FieldType type) {
  switch (type) {
    case FieldType::Ipv4Addr:
      return 7;
    case FieldType::Ipv6Addr:
      return 8;
    case FieldType::InetProto:
      return 12;
    case FieldType::InetService:
      return 13;
    case FieldType::IcmpType:
      return 14;
    case FieldType::Icmpv6Type:
      return 29;
    case FieldType::IfName:
      return 41;
    case FieldType::EtherAddr:
      return 9;
    case FieldType::CtState:
      return 26;
    case FieldType::NfProto:
      return 2;
    case FieldType::Mark:
      return 19;
    case FieldType::Boolean:
      return 39;
  }
  return 0;
}

bool host_order(FieldType type) {
  return type == FieldType::CtState || type == FieldType::Mark;
}

// One field's bytes as the kernel compares them.
std::vector<std::uint8_t> field_bytes(FieldType type, const ir::Value& value) {
  std::vector<std::uint8_t> bytes(value.bytes.begin(), value.bytes.begin() + value.size);
  if (host_order(type)) {
    std::uint32_t number = 0;
    for (std::uint8_t byte : bytes) {
      number = (number << 8) | byte;
    }
    bytes.assign(sizeof number, 0);
    std::memcpy(bytes.data(), &number, sizeof number);
  }
  return bytes;
}

// A concatenated key: each field padded to 4 bytes (a single field is not padded).
std::vector<std::uint8_t> key_bytes(const std::vector<FieldType>& types,
                                    const std::vector<ir::Range>& ranges, bool high) {
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i < types.size(); ++i) {
    auto bytes = field_bytes(types[i], high ? ranges[i].hi : ranges[i].lo);
    out.insert(out.end(), bytes.begin(), bytes.end());
    if (types.size() > 1) {
      out.resize(round4(out.size()), 0);
    }
  }
  return out;
}

int verdict_code(ir::VerdictKind kind) {
  switch (kind) {
    case ir::VerdictKind::Accept:
      return NF_ACCEPT;
    case ir::VerdictKind::Drop:
      return NF_DROP;
    case ir::VerdictKind::Jump:
      return NFT_JUMP;
    case ir::VerdictKind::Goto:
      return NFT_GOTO;
    case ir::VerdictKind::Return:
      return NFT_RETURN;
  }
  return NF_DROP;
}

struct Load {
  enum class Kind { Meta, Payload, Ct, Socket } kind;
  std::uint32_t key = 0;   // meta / ct key
  std::uint32_t base = 0;  // payload base
  std::uint32_t offset = 0;
  std::uint32_t length = 0;
};

Load load_of(Selector selector) {
  switch (selector) {
    case Selector::IifName:
      return {Load::Kind::Meta, NFT_META_IIFNAME, 0, 0, 16};
    case Selector::OifName:
      return {Load::Kind::Meta, NFT_META_OIFNAME, 0, 0, 16};
    case Selector::NfProto:
      return {Load::Kind::Meta, NFT_META_NFPROTO, 0, 0, 1};
    case Selector::L4Proto:
      return {Load::Kind::Meta, NFT_META_L4PROTO, 0, 0, 1};
    case Selector::IpSaddr:
      return {Load::Kind::Payload, 0, NFT_PAYLOAD_NETWORK_HEADER, 12, 4};
    case Selector::IpDaddr:
      return {Load::Kind::Payload, 0, NFT_PAYLOAD_NETWORK_HEADER, 16, 4};
    case Selector::Ip6Saddr:
      return {Load::Kind::Payload, 0, NFT_PAYLOAD_NETWORK_HEADER, 8, 16};
    case Selector::Ip6Daddr:
      return {Load::Kind::Payload, 0, NFT_PAYLOAD_NETWORK_HEADER, 24, 16};
    case Selector::ThDport:
      return {Load::Kind::Payload, 0, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2};
    case Selector::IcmpType:
    case Selector::Icmpv6Type:
      return {Load::Kind::Payload, 0, NFT_PAYLOAD_TRANSPORT_HEADER, 0, 1};
    case Selector::EtherSaddr:
      return {Load::Kind::Payload, 0, NFT_PAYLOAD_LL_HEADER, 6, 6};
    case Selector::CtState:
      return {Load::Kind::Ct, NFT_CT_STATE, 0, 0, 4};
    case Selector::MetaMark:
      return {Load::Kind::Meta, NFT_META_MARK, 0, 0, 4};
    case Selector::SocketTransparent:
      return {Load::Kind::Socket, NFT_SOCKET_TRANSPARENT, 0, 0, 1};
    case Selector::SocketWildcard:
      return {Load::Kind::Socket, NFT_SOCKET_WILDCARD, 0, 0, 1};
  }
  throw std::logic_error("unknown selector");
}

// What a selector needs checked first, as nft adds it: the family for network header
// fields, the family and the protocol for ICMP types, Ethernet for link-layer addresses.
// A check the rule already made (an explicit `meta nfproto`) is not repeated.
struct Dependency {
  std::uint32_t meta_key;
  std::vector<std::uint8_t> value;
  auto operator<=>(const Dependency&) const = default;
};

std::vector<Dependency> dependencies_of(Selector selector) {
  const Dependency v4{NFT_META_NFPROTO, {NFPROTO_IPV4}};
  const Dependency v6{NFT_META_NFPROTO, {NFPROTO_IPV6}};
  switch (selector) {
    case Selector::IpSaddr:
    case Selector::IpDaddr:
      return {v4};
    case Selector::Ip6Saddr:
    case Selector::Ip6Daddr:
      return {v6};
    case Selector::IcmpType:
      return {v4, Dependency{NFT_META_L4PROTO, {IPPROTO_ICMP}}};
    case Selector::Icmpv6Type:
      return {v6, Dependency{NFT_META_L4PROTO, {IPPROTO_ICMPV6}}};
    case Selector::EtherSaddr: {
      std::uint16_t ether = ARPHRD_ETHER;
      std::vector<std::uint8_t> bytes(2);
      std::memcpy(bytes.data(), &ether, 2);
      return {Dependency{NFT_META_IIFTYPE, bytes}};
    }
    default:
      return {};
  }
}

// libnftnl numbers the elements of a list 1, 2, 3...; the netlink spec (and every kernel
// dump) types each NFTA_LIST_ELEM. The kernel accepts both, but libnftnl's own parser,
// which the readback also runs over our messages, accepts only the latter.
void mark_list_elements(nlmsghdr* nlh) {
  const std::optional<net::ByteSpan> attributes = net::payload_after<nfgenmsg>(nlh);
  if (!attributes) {
    return;
  }
  net::walk(*attributes, [](const nlattr* attr) {
    if (net::attribute_type(attr) == NFTA_SET_ELEM_LIST_ELEMENTS) {
      net::walk_nested(attr, [](const nlattr* element) {
        // Our own message, being built: writable.
        auto* writable = const_cast<nlattr*>(element);
        writable->nla_type =
            static_cast<std::uint16_t>(NFTA_LIST_ELEM | (element->nla_type & NLA_F_NESTED));
        return true;
      });
    }
    return true;
  });
}

// A counter or a limit: a statement of the rule, or one per element of a set the packet
// path fills.
nftnl_expr* counter_or_limit(const ir::Statement& statement) {
  if (statement.kind == ir::Statement::Kind::Counter) {
    return nftnl_expr_alloc("counter");
  }
  if (statement.kind != ir::Statement::Kind::Limit) {
    throw std::logic_error("a set element keeps a counter or a limit only");
  }
  nftnl_expr* e = nftnl_expr_alloc("limit");
  nftnl_expr_set_u64(e, NFTNL_EXPR_LIMIT_RATE, statement.limit_rate);
  nftnl_expr_set_u64(e, NFTNL_EXPR_LIMIT_UNIT, 1);
  nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_BURST, statement.limit_burst);
  nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_TYPE, NFT_LIMIT_PKTS);
  nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_FLAGS, 0);
  return e;
}

class RuleBuilder {
 public:
  explicit RuleBuilder(nftnl_rule* rule) : rule_(rule) {}

  void load(const Load& load, std::uint32_t reg) {
    nftnl_expr* e = nullptr;
    switch (load.kind) {
      case Load::Kind::Meta:
        e = nftnl_expr_alloc("meta");
        nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, load.key);
        nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, reg);
        break;
      case Load::Kind::Ct:
        e = nftnl_expr_alloc("ct");
        nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, load.key);
        nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, reg);
        break;
      case Load::Kind::Socket:
        e = nftnl_expr_alloc("socket");
        nftnl_expr_set_u32(e, NFTNL_EXPR_SOCKET_KEY, load.key);
        nftnl_expr_set_u32(e, NFTNL_EXPR_SOCKET_DREG, reg);
        break;
      case Load::Kind::Payload:
        e = nftnl_expr_alloc("payload");
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, load.base);
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, load.offset);
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, load.length);
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, reg);
        break;
    }
    nftnl_rule_add_expr(rule_, e);
  }

  void cmp_eq(std::uint32_t reg, const std::vector<std::uint8_t>& value) {
    nftnl_expr* e = nftnl_expr_alloc("cmp");
    nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, reg);
    nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, NFT_CMP_EQ);
    nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, value.data(), static_cast<std::uint32_t>(value.size()));
    nftnl_rule_add_expr(rule_, e);
  }

  // `meta KEY == VALUE`, remembered: a dependency it gives is not checked again.
  void meta_check(const Dependency& check) {
    load(Load{Load::Kind::Meta, check.meta_key, 0, 0,
              static_cast<std::uint32_t>(check.value.size())},
         NFT_REG_1);
    cmp_eq(NFT_REG_1, check.value);
    done_.insert(check);
  }

  void dependency(const Dependency& dependency) {
    if (!done_.contains(dependency)) {
      meta_check(dependency);
    }
  }

  // Loads the selectors into consecutive 32-bit registers, as a concatenation.
  void load_key(const std::vector<Selector>& selectors) {
    for (Selector selector : selectors) {
      for (const Dependency& dep : dependencies_of(selector)) {
        dependency(dep);
      }
    }
    std::uint32_t reg = NFT_REG32_00;
    for (Selector selector : selectors) {
      Load l = load_of(selector);
      load(l, register_number(reg));
      reg += static_cast<std::uint32_t>(round4(l.length) / 4);
    }
  }

  // `dreg`: where a map puts what the key maps to (a set: none).
  void lookup(const std::string& set, std::uint32_t set_id, std::optional<std::uint32_t> dreg,
              bool invert) {
    nftnl_expr* e = nftnl_expr_alloc("lookup");
    nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, register_number(NFT_REG32_00));
    nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set.c_str());
    nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, set_id);
    if (dreg) {
      nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, *dreg);
    }
    if (invert) {
      nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_FLAGS, NFT_LOOKUP_F_INV);
    }
    nftnl_rule_add_expr(rule_, e);
  }

  // `add @set { key ... }` / `update @set { key ... }`, the key loaded as for a lookup; as
  // nft writes it: one statement per element in NFTA_DYNSET_EXPR, several in
  // NFTA_DYNSET_EXPRESSIONS with NFT_DYNSET_F_EXPR.
  void set_update(const ir::Statement& statement, const std::string& set, std::uint32_t set_id) {
    load_key(statement.set_key);
    nftnl_expr* e = nftnl_expr_alloc("dynset");
    nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SREG_KEY, register_number(NFT_REG32_00));
    nftnl_expr_set_u32(
        e, NFTNL_EXPR_DYNSET_OP,
        statement.kind == ir::Statement::Kind::SetAdd ? NFT_DYNSET_OP_ADD : NFT_DYNSET_OP_UPDATE);
    nftnl_expr_set_str(e, NFTNL_EXPR_DYNSET_SET_NAME, set.c_str());
    nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SET_ID, set_id);
    if (statement.set_timeout_ms > 0) {
      nftnl_expr_set_u64(e, NFTNL_EXPR_DYNSET_TIMEOUT, statement.set_timeout_ms);
    }
    for (const ir::Statement& per_element : statement.per_element) {
      nftnl_expr_add_expr(e, NFTNL_EXPR_DYNSET_EXPRESSIONS, counter_or_limit(per_element));
    }
    if (statement.per_element.size() > 1) {
      nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_FLAGS, NFT_DYNSET_F_EXPR);
    }
    nftnl_rule_add_expr(rule_, e);
  }

  void ct_set(std::uint32_t key, std::uint32_t reg) {
    nftnl_expr* e = nftnl_expr_alloc("ct");
    nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
    nftnl_expr_set_u32(e, NFTNL_EXPR_CT_SREG, reg);
    nftnl_rule_add_expr(rule_, e);
  }

  void statement(const ir::Statement& statement) {
    nftnl_expr* e = nullptr;
    switch (statement.kind) {
      case ir::Statement::Kind::Counter:
      case ir::Statement::Kind::Limit:
        e = counter_or_limit(statement);
        break;
      case ir::Statement::Kind::Log:
        e = nftnl_expr_alloc("log");
        nftnl_expr_set_u16(e, NFTNL_EXPR_LOG_GROUP, statement.log_group);
        nftnl_expr_set_str(e, NFTNL_EXPR_LOG_PREFIX, statement.log_prefix.c_str());
        break;
      case ir::Statement::Kind::Verdict:
        e = nftnl_expr_alloc("immediate");
        nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
        nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT,
                           static_cast<std::uint32_t>(verdict_code(statement.verdict.kind)));
        if (!statement.verdict.chain.empty()) {
          nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, statement.verdict.chain.c_str());
        }
        break;
      case ir::Statement::Kind::RejectTcpReset:
        e = nftnl_expr_alloc("reject");
        nftnl_expr_set_u32(e, NFTNL_EXPR_REJECT_TYPE, NFT_REJECT_TCP_RST);
        nftnl_expr_set_u8(e, NFTNL_EXPR_REJECT_CODE, 0);
        break;
      case ir::Statement::Kind::Masquerade:
        e = nftnl_expr_alloc("masq");
        break;
      case ir::Statement::Kind::CtMarkFromMap:
      case ir::Statement::Kind::SetAdd:
      case ir::Statement::Kind::SetUpdate:
        throw std::logic_error("a statement that names a set is built by the rule, not alone");
      case ir::Statement::Kind::CtMarkSet:
        // As nft does it: the mark into a register, that register into the connection.
        e = nftnl_expr_alloc("immediate");
        nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_1);
        nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DATA, statement.mark);
        nftnl_rule_add_expr(rule_, e);
        ct_set(NFT_CT_MARK, NFT_REG_1);
        return;
      case ir::Statement::Kind::MarkSet:
        e = nftnl_expr_alloc("immediate");
        nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_1);
        nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DATA, statement.mark);
        nftnl_rule_add_expr(rule_, e);
        e = nftnl_expr_alloc("meta");
        nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, NFT_META_MARK);
        nftnl_expr_set_u32(e, NFTNL_EXPR_META_SREG, NFT_REG_1);
        break;
      case ir::Statement::Kind::Tproxy: {
        // The port into a register (network order), as nft does; family 0 is either.
        const std::uint16_t port = htons(statement.port);
        e = nftnl_expr_alloc("immediate");
        nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_1);
        nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, &port, sizeof port);
        nftnl_rule_add_expr(rule_, e);
        e = nftnl_expr_alloc("tproxy");
        nftnl_expr_set_u32(e, NFTNL_EXPR_TPROXY_FAMILY, statement.nf_family);
        nftnl_expr_set_u32(e, NFTNL_EXPR_TPROXY_REG_PORT, NFT_REG_1);
        break;
      }
    }
    nftnl_rule_add_expr(rule_, e);
  }

 private:
  nftnl_rule* rule_;
  std::set<Dependency> done_;
};

class BatchWriter {
 public:
  BatchWriter(std::uint32_t first_seq, const ir::Ruleset& ruleset)
      : ruleset_(ruleset), seq_(first_seq) {
    // libmnl notices a full buffer only after writing one message past its limit: room
    // for that message too. Not zero-filled, so untouched pages cost no memory.
    const std::size_t limit = capacity_for(ruleset);
    buffer_.reset(new char[limit + kOneMessage]);
    batch_ = mnl_nlmsg_batch_start(buffer_.get(), limit);
  }
  ~BatchWriter() { mnl_nlmsg_batch_stop(batch_); }
  BatchWriter(const BatchWriter&) = delete;
  BatchWriter& operator=(const BatchWriter&) = delete;

  Batch run(std::uint32_t expected_genid) {
    begin(expected_genid);
    table(NFT_MSG_NEWTABLE, "create table inet " + ruleset_.table);
    table(NFT_MSG_DELTABLE, "replace table inet " + ruleset_.table);
    table(NFT_MSG_NEWTABLE, "create table inet " + ruleset_.table);
    // Sets, then chains, then elements (verdict maps jump to chains), then rules.
    std::uint32_t set_id = 1;
    for (const ir::Set& set : ruleset_.sets) {
      set_ids_[set.name] = set_id;
      add_set(set, set_id++);
    }
    for (const ir::Chain& chain : ruleset_.chains) {
      add_chain(chain);
    }
    for (const ir::Set& set : ruleset_.sets) {
      element_messages(NFT_MSG_NEWSETELEM, set, set.elements, set_ids_.at(set.name));
    }
    for (const ir::Chain& chain : ruleset_.chains) {
      for (std::size_t i = 0; i < chain.rules.size(); ++i) {
        add_rule(chain, chain.rules[i], i);
      }
    }
    return end();
  }

  // Elements of sets the kernel already holds: all removals, then all additions.
  Batch run(const std::vector<ElementChange>& changes, std::uint32_t expected_genid) {
    begin(expected_genid);
    for (const ElementChange& change : changes) {
      element_messages(NFT_MSG_DELSETELEM, *change.set, change.remove, std::nullopt);
    }
    for (const ElementChange& change : changes) {
      element_messages(NFT_MSG_NEWSETELEM, *change.set, change.add, std::nullopt);
    }
    return end();
  }

 private:
  void begin(std::uint32_t expected_genid) {
    out_.begin_seq = seq_;
    nlmsghdr* begin =
        nftnl_batch_begin(static_cast<char*>(mnl_nlmsg_batch_current(batch_)), seq_++);
    // Always there, so the generation can be set just before sending (0: no check).
    auto* genid = static_cast<nlattr*>(mnl_nlmsg_get_payload_tail(begin));
    mnl_attr_put_u32(begin, NFNL_BATCH_GENID, htonl(expected_genid));
    out_.genid_offset = static_cast<std::size_t>(static_cast<char*>(mnl_attr_get_payload(genid)) -
                                                 static_cast<char*>(mnl_nlmsg_batch_head(batch_)));
    next();
  }

  Batch end() {
    out_.dry_run_size = mnl_nlmsg_batch_size(batch_);
    nftnl_batch_end(static_cast<char*>(mnl_nlmsg_batch_current(batch_)), seq_++);
    next();
    const char* head = static_cast<const char*>(mnl_nlmsg_batch_head(batch_));
    out_.bytes.assign(head, head + mnl_nlmsg_batch_size(batch_));
    return std::move(out_);
  }

  // The largest single message: a chunk of elements or one rule, with plenty to spare.
  static constexpr std::size_t kOneMessage = 1024 * 1024;

  // An upper bound of the batch's size: generous per object (an element of the widest
  // key with a verdict and chain name takes under 200 bytes, a rule under 1 KiB).
  static std::size_t capacity_for(const ir::Ruleset& ruleset) {
    std::size_t bytes = 64 * 1024 + ruleset.sets.size() * 1024 + ruleset.chains.size() * 512;
    for (const ir::Set& set : ruleset.sets) {
      bytes += (set.elements.size() + set.elements.size() / kElementsPerMessage + 1) * 256;
    }
    return bytes + ruleset.rule_count() * 2048;
  }

  nlmsghdr* header(std::uint16_t type, std::uint16_t flags, const ir::Origin& origin,
                   std::string what) {
    const std::uint32_t seq = seq_++;
    nlmsghdr* nlh = nftnl_nlmsg_build_hdr(static_cast<char*>(mnl_nlmsg_batch_current(batch_)), type,
                                          NFPROTO_INET, flags | NLM_F_ACK, seq);
    out_.seqs.push_back(seq);
    out_.origins.push_back(origin);
    out_.what.push_back(std::move(what));
    return nlh;
  }

  void next() {
    if (!mnl_nlmsg_batch_next(batch_)) {
      throw std::length_error("the ruleset does not fit in one netlink batch buffer");
    }
  }

  void table(std::uint16_t type, std::string what) {
    std::unique_ptr<nftnl_table, decltype(&nftnl_table_free)> t(nftnl_table_alloc(),
                                                                nftnl_table_free);
    nftnl_table_set_str(t.get(), NFTNL_TABLE_NAME, ruleset_.table.c_str());
    nftnl_table_set_u32(t.get(), NFTNL_TABLE_FAMILY, NFPROTO_INET);
    nlmsghdr* nlh = header(type, type == NFT_MSG_NEWTABLE ? NLM_F_CREATE : 0, {}, std::move(what));
    nftnl_table_nlmsg_build_payload(nlh, t.get());
    next();
  }

  std::string kernel_set_name(const ir::Set& set) const {
    return set.anonymous ? "__set%d" : set.name;
  }

  void add_set(const ir::Set& set, std::uint32_t id) {
    std::unique_ptr<nftnl_set, decltype(&nftnl_set_free)> s(nftnl_set_alloc(), nftnl_set_free);
    nftnl_set_set_str(s.get(), NFTNL_SET_TABLE, ruleset_.table.c_str());
    nftnl_set_set_str(s.get(), NFTNL_SET_NAME, kernel_set_name(set).c_str());
    nftnl_set_set_u32(s.get(), NFTNL_SET_FAMILY, NFPROTO_INET);
    nftnl_set_set_u32(s.get(), NFTNL_SET_ID, id);
    std::uint32_t flags = 0;
    if (set.anonymous)
      flags |= NFT_SET_ANONYMOUS | NFT_SET_CONSTANT;
    if (set.interval)
      flags |= NFT_SET_INTERVAL;
    if (set.interval && set.key.size() > 1)
      flags |= NFT_SET_CONCAT;
    if (set.verdict_map || set.data)
      flags |= NFT_SET_MAP;
    if (set.timeout)
      flags |= NFT_SET_TIMEOUT;
    if (set.fill == ir::SetFill::Kernel)
      flags |= NFT_SET_EVAL;  // updated from the packet path: image.hpp
    nftnl_set_set_u32(s.get(), NFTNL_SET_FLAGS, flags);
    if (set.size > 0) {
      nftnl_set_set_u32(s.get(), NFTNL_SET_DESC_SIZE, set.size);
    }
    std::uint32_t key_type = 0;
    std::uint32_t key_len = 0;
    std::vector<std::uint8_t> field_lengths;
    for (FieldType type : set.key) {
      key_type = (key_type << 6) | datatype(type);
      key_len += static_cast<std::uint32_t>(set.key.size() > 1 ? round4(ir::field_size(type))
                                                               : ir::field_size(type));
      field_lengths.push_back(static_cast<std::uint8_t>(ir::field_size(type)));
    }
    nftnl_set_set_u32(s.get(), NFTNL_SET_KEY_TYPE, key_type);
    nftnl_set_set_u32(s.get(), NFTNL_SET_KEY_LEN, key_len);
    if (flags & NFT_SET_CONCAT) {
      nftnl_set_set_data(s.get(), NFTNL_SET_DESC_CONCAT, field_lengths.data(),
                         static_cast<std::uint32_t>(field_lengths.size()));
    }
    // nft prints a single-field key of a host-order type (interface names, ct state)
    // byte-swapped unless told its byte order, as nft itself does in the set's user data.
    if (set.key.size() == 1 &&
        (set.key[0] == FieldType::IfName || set.key[0] == FieldType::CtState)) {
      constexpr std::uint32_t kHostEndian = 1;  // nft's BYTEORDER_HOST_ENDIAN
      std::unique_ptr<nftnl_udata_buf, decltype(&nftnl_udata_buf_free)> udata(
          nftnl_udata_buf_alloc(64), nftnl_udata_buf_free);
      nftnl_udata_put_u32(udata.get(), NFTNL_UDATA_SET_KEYBYTEORDER, kHostEndian);
      nftnl_set_set_data(s.get(), NFTNL_SET_USERDATA, nftnl_udata_buf_data(udata.get()),
                         nftnl_udata_buf_len(udata.get()));
    }
    if (set.verdict_map) {
      nftnl_set_set_u32(s.get(), NFTNL_SET_DATA_TYPE, NFT_DATA_VERDICT);
      nftnl_set_set_u32(s.get(), NFTNL_SET_DATA_LEN, 0);
    } else if (set.data) {
      nftnl_set_set_u32(s.get(), NFTNL_SET_DATA_TYPE, datatype(*set.data));
      nftnl_set_set_u32(s.get(), NFTNL_SET_DATA_LEN,
                        static_cast<std::uint32_t>(ir::field_size(*set.data)));
    }
    // Everything is new after the table was deleted: EXCL makes a name clash an error
    // instead of a silent merge of two objects.
    nlmsghdr* nlh =
        header(NFT_MSG_NEWSET, NLM_F_CREATE | NLM_F_EXCL, set.origin, "set " + set.name);
    nftnl_set_nlmsg_build_payload(nlh, s.get());
    next();
  }

  // Elements in messages of a bounded size; scheduled sets start empty. `id` names a set
  // created in the same batch.
  void element_messages(std::uint16_t type, const ir::Set& set,
                        const std::vector<ir::Element>& list, std::optional<std::uint32_t> id) {
    for (std::size_t start = 0; start < list.size(); start += kElementsPerMessage) {
      std::unique_ptr<nftnl_set, decltype(&nftnl_set_free)> chunk(nftnl_set_alloc(),
                                                                  nftnl_set_free);
      nftnl_set_set_str(chunk.get(), NFTNL_SET_TABLE, ruleset_.table.c_str());
      nftnl_set_set_str(chunk.get(), NFTNL_SET_NAME, kernel_set_name(set).c_str());
      if (id) {
        nftnl_set_set_u32(chunk.get(), NFTNL_SET_ID, *id);
      }
      nftnl_set_set_u32(chunk.get(), NFTNL_SET_FAMILY, NFPROTO_INET);
      const bool add = type == NFT_MSG_NEWSETELEM;
      const std::size_t end = std::min(list.size(), start + kElementsPerMessage);
      for (std::size_t i = start; i < end; ++i) {
        nftnl_set_elem_add(chunk.get(), element(set, list[i], add));
      }
      // At run time an element already there is a conflict, not something to merge.
      const std::uint16_t flags = !add ? 0 : id ? NLM_F_CREATE : NLM_F_CREATE | NLM_F_EXCL;
      nlmsghdr* elements =
          header(type, flags, list[start].origin,
                 std::string(add ? "elements of set " : "removal of elements of set ") + set.name);
      nftnl_set_elems_nlmsg_build_payload(elements, chunk.get());
      mark_list_elements(elements);
      next();
    }
  }

  // A removal names the element by its key alone.
  nftnl_set_elem* element(const ir::Set& set, const ir::Element& element, bool with_values) {
    nftnl_set_elem* e = nftnl_set_elem_alloc();
    auto key = key_bytes(set.key, element.key, false);
    nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, key.data(), static_cast<std::uint32_t>(key.size()));
    if (set.interval) {
      auto end = key_bytes(set.key, element.key, true);
      nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY_END, end.data(),
                         static_cast<std::uint32_t>(end.size()));
    }
    if (!with_values) {
      return e;
    }
    if (element.data && set.data) {
      auto data = field_bytes(*set.data, *element.data);
      nftnl_set_elem_set(e, NFTNL_SET_ELEM_DATA, data.data(),
                         static_cast<std::uint32_t>(data.size()));
    }
    if (element.timeout_ms > 0) {
      nftnl_set_elem_set_u64(e, NFTNL_SET_ELEM_TIMEOUT, element.timeout_ms);
    }
    if (element.verdict) {
      nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_VERDICT,
                             static_cast<std::uint32_t>(verdict_code(element.verdict->kind)));
      if (!element.verdict->chain.empty()) {
        nftnl_set_elem_set_str(e, NFTNL_SET_ELEM_CHAIN, element.verdict->chain.c_str());
      }
    }
    return e;
  }

  void add_chain(const ir::Chain& chain) {
    std::unique_ptr<nftnl_chain, decltype(&nftnl_chain_free)> c(nftnl_chain_alloc(),
                                                                nftnl_chain_free);
    nftnl_chain_set_str(c.get(), NFTNL_CHAIN_TABLE, ruleset_.table.c_str());
    nftnl_chain_set_str(c.get(), NFTNL_CHAIN_NAME, chain.name.c_str());
    nftnl_chain_set_u32(c.get(), NFTNL_CHAIN_FAMILY, NFPROTO_INET);
    if (chain.hook != ir::Hook::None) {
      static constexpr std::uint32_t kHooks[] = {0,
                                                 NF_INET_PRE_ROUTING,
                                                 NF_INET_LOCAL_IN,
                                                 NF_INET_FORWARD,
                                                 NF_INET_LOCAL_OUT,
                                                 NF_INET_POST_ROUTING};
      nftnl_chain_set_u32(c.get(), NFTNL_CHAIN_HOOKNUM, kHooks[static_cast<int>(chain.hook)]);
      nftnl_chain_set_s32(c.get(), NFTNL_CHAIN_PRIO, chain.priority);
      nftnl_chain_set_str(c.get(), NFTNL_CHAIN_TYPE, chain.nat ? "nat" : "filter");
      nftnl_chain_set_u32(c.get(), NFTNL_CHAIN_POLICY, chain.policy_drop ? NF_DROP : NF_ACCEPT);
    }
    nlmsghdr* nlh =
        header(NFT_MSG_NEWCHAIN, NLM_F_CREATE | NLM_F_EXCL, chain.origin, "chain " + chain.name);
    nftnl_chain_nlmsg_build_payload(nlh, c.get());
    next();
  }

  void add_rule(const ir::Chain& chain, const ir::Rule& rule, std::size_t index) {
    std::unique_ptr<nftnl_rule, decltype(&nftnl_rule_free)> r(nftnl_rule_alloc(), nftnl_rule_free);
    nftnl_rule_set_str(r.get(), NFTNL_RULE_TABLE, ruleset_.table.c_str());
    nftnl_rule_set_str(r.get(), NFTNL_RULE_CHAIN, chain.name.c_str());
    nftnl_rule_set_u32(r.get(), NFTNL_RULE_FAMILY, NFPROTO_INET);
    RuleBuilder builder(r.get());
    for (const ir::Match& match : rule.matches) {
      if (match.op == ir::Match::Op::Equal) {
        for (std::size_t i = 0; i < match.selectors.size(); ++i) {
          const Selector selector = match.selectors[i];
          const FieldType type = ir::selector_type(selector);
          // An explicit family or protocol gives the dependency of the fields after it,
          // which nft then does not check again.
          if (selector == Selector::NfProto || selector == Selector::L4Proto) {
            builder.meta_check(
                Dependency{load_of(selector).key, field_bytes(type, match.values[i].lo)});
            continue;
          }
          for (const Dependency& dep : dependencies_of(selector)) {
            builder.dependency(dep);
          }
          builder.load(load_of(selector), NFT_REG_1);
          builder.cmp_eq(NFT_REG_1, field_bytes(type, match.values[i].lo));
        }
        continue;
      }
      const ir::Set* set = ruleset_.find_set(match.set);
      if (!set) {
        throw std::logic_error("rule refers to a missing set " + match.set);
      }
      builder.load_key(match.selectors);
      builder.lookup(kernel_set_name(*set), set_ids_.at(set->name),
                     match.op == ir::Match::Op::VerdictMap
                         ? std::optional<std::uint32_t>(NFT_REG_VERDICT)
                         : std::nullopt,
                     match.op == ir::Match::Op::NotInSet);
    }
    for (const ir::Statement& statement : rule.statements) {
      if (statement.kind == ir::Statement::Kind::CtMarkFromMap) {
        // As nft does it: the key into registers, the map's value over its first one, and
        // that register into the connection's mark.
        const ir::Set* map = ruleset_.find_set(statement.map);
        if (!map) {
          throw std::logic_error("rule refers to a missing map " + statement.map);
        }
        builder.load_key(statement.map_key);
        const std::uint32_t value = register_number(NFT_REG32_00);
        builder.lookup(kernel_set_name(*map), set_ids_.at(map->name), value, false);
        builder.ct_set(NFT_CT_MARK, value);
        continue;
      }
      if (statement.kind == ir::Statement::Kind::SetAdd ||
          statement.kind == ir::Statement::Kind::SetUpdate) {
        const ir::Set* set = ruleset_.find_set(statement.set);
        if (!set) {
          throw std::logic_error("rule updates a missing set " + statement.set);
        }
        builder.set_update(statement, kernel_set_name(*set), set_ids_.at(set->name));
        continue;
      }
      builder.statement(statement);
    }
    nlmsghdr* nlh = header(NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND,
                           rule.origin.pos.line > 0 ? rule.origin : chain.origin,
                           "rule " + std::to_string(index + 1) + " of chain " + chain.name);
    nftnl_rule_nlmsg_build_payload(nlh, r.get());
    next();
  }

  const ir::Ruleset& ruleset_;
  std::uint32_t seq_;
  std::unique_ptr<char[]> buffer_;
  mnl_nlmsg_batch* batch_;
  std::map<std::string, std::uint32_t> set_ids_;
  Batch out_;
};

}  // namespace

void set_expected_genid(Batch& batch, std::uint32_t genid) {
  const std::uint32_t network = htonl(genid);
  std::memcpy(batch.bytes.data() + batch.genid_offset, &network, sizeof network);
}

std::uint32_t sequence_count(const Batch& batch) {
  return static_cast<std::uint32_t>(batch.seqs.size() + 2);
}

void set_first_seq(Batch& batch, std::uint32_t first_seq) {
  const std::uint32_t shift = first_seq - batch.begin_seq;  // modulo 2^32, as seqs are
  if (shift == 0) {
    return;
  }
  int remaining = static_cast<int>(batch.bytes.size());
  for (auto* nlh = reinterpret_cast<nlmsghdr*>(batch.bytes.data()); mnl_nlmsg_ok(nlh, remaining);
       nlh = static_cast<nlmsghdr*>(mnl_nlmsg_next(nlh, &remaining))) {
    nlh->nlmsg_seq += shift;
  }
  batch.begin_seq += shift;
  for (std::uint32_t& seq : batch.seqs) {
    seq += shift;
  }
}

Batch build_replace_batch(const ir::Ruleset& ruleset, std::uint32_t first_seq,
                          std::uint32_t expected_genid) {
  return BatchWriter(first_seq, ruleset).run(expected_genid);
}

Batch build_element_batch(const ir::Ruleset& ruleset, const std::vector<ElementChange>& changes,
                          std::uint32_t first_seq, std::uint32_t expected_genid) {
  return BatchWriter(first_seq, ruleset).run(changes, expected_genid);
}

}  // namespace sekisho::nft
