// daemon/net/rtnl_rules without a kernel: the RTM_NEWRULE request against the bytes the
// uapi headers (linux/fib_rules.h) lay out, written here by hand, and dump answers as the
// kernel's fib_nl_fill_rule writes them: a mark rule, rules that are something else, and
// every truncation.

#include "daemon/net/rtnl_rules.hpp"

#include <cstring>

#include <doctest/doctest.h>
#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include "daemon/net/netlink_attributes.hpp"
#include "tests/net/netlink_bytes.hpp"

namespace net = sekisho::net;
namespace policy = sekisho::policy;
using sekisho::testing::Bytes;

namespace {

void put32(Bytes& out, std::uint16_t type, std::uint32_t value) {
  const std::uint16_t length = 8;
  out.resize(out.size() + 8);
  std::memcpy(out.data() + out.size() - 8, &length, 2);
  std::memcpy(out.data() + out.size() - 6, &type, 2);
  std::memcpy(out.data() + out.size() - 4, &value, 4);
}

void put8(Bytes& out, std::uint16_t type, std::uint8_t value) {
  const std::uint16_t length = 5;
  out.resize(out.size() + 8, 0);
  std::memcpy(out.data() + out.size() - 8, &length, 2);
  std::memcpy(out.data() + out.size() - 6, &type, 2);
  out[out.size() - 4] = value;
}

// nlmsghdr, fib_rule_hdr {family, dst_len, src_len, tos, table, res1, res2, action,
// flags (u32)}, then what `attributes` writes; the length set at the end.
Bytes rule_message(std::uint16_t type, std::uint16_t flags, std::uint8_t family, std::uint8_t table,
                   std::uint8_t action, void (*attributes)(Bytes&)) {
  Bytes out(16, 0);
  std::memcpy(out.data() + 4, &type, 2);
  std::memcpy(out.data() + 6, &flags, 2);
  for (const std::uint8_t byte : {family, std::uint8_t{0}, std::uint8_t{0}, std::uint8_t{0}, table,
                                  std::uint8_t{0}, std::uint8_t{0}, action}) {
    out.push_back(byte);
  }
  out.resize(out.size() + 4, 0);  // flags
  attributes(out);
  const auto length = static_cast<std::uint32_t>(out.size());
  std::memcpy(out.data(), &length, 4);
  return out;
}

void mark_rule_attributes(Bytes& out) {
  put32(out, FRA_PRIORITY, 1021);
  put32(out, FRA_FWMARK, 0x10000);
  put32(out, FRA_FWMASK, 0x30000);
  put32(out, FRA_TABLE, 1021);
  put8(out, FRA_PROTOCOL, 83);
}

// As a dump has it: fib_nl_fill_rule always sends the prefix length suppressor, -1 unset.
void dumped_attributes(Bytes& out) {
  mark_rule_attributes(out);
  put32(out, FRA_SUPPRESS_PREFIXLEN, UINT32_MAX);
}

const net::MarkRule kRule{policy::Family::V6, 1021, 0x10000, 0x30000, 1021, 83};

struct Parsed {
  std::optional<net::MarkRule> rule;
  std::error_code error;
};

Parsed parse(const Bytes& bytes) {
  std::vector<std::uint32_t> words((bytes.size() + 3) / 4);
  std::memcpy(words.data(), bytes.data(), bytes.size());
  Parsed out;
  out.rule = net::parse_mark_rule(reinterpret_cast<const nlmsghdr*>(words.data()), out.error);
  return out;
}

// An IPv4 rule of a dump with `attributes`.
Parsed dumped_ipv4(void (*attributes)(Bytes&), std::uint8_t action = FR_ACT_TO_TBL) {
  return parse(rule_message(RTM_NEWRULE, NLM_F_MULTI, AF_INET, 0, action, attributes));
}

}  // namespace

TEST_CASE("RTM_NEWRULE: a fib_rule_hdr of action to-table and every field as an attribute") {
  const net::Request request =
      net::mark_rule_request(RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL, kRule);
  Bytes expected = rule_message(RTM_NEWRULE, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
                                AF_INET6, RT_TABLE_UNSPEC, FR_ACT_TO_TBL, mark_rule_attributes);
  const auto span = request.bytes();
  CHECK(Bytes(span.begin(), span.end()) == expected);
  CHECK_FALSE(request.overflowed());

  // A table id that fits the header goes there too.
  net::MarkRule small = kRule;
  small.table = 100;
  const net::Request in_header = net::mark_rule_request(RTM_DELRULE, 0, small);
  CHECK(in_header.bytes()[16 + 4] == 100);
  CHECK(net::to_string(kRule) == "ipv6 priority 1021 fwmark 0x10000/0x30000 lookup 1021 proto 83");
}

TEST_CASE("a dumped mark rule is read back; other rules are not mark rules") {
  const Bytes dumped = rule_message(RTM_NEWRULE, NLM_F_MULTI, AF_INET6, RT_TABLE_UNSPEC,
                                    FR_ACT_TO_TBL, dumped_attributes);
  const Parsed ok = parse(dumped);
  CHECK_FALSE(ok.error);
  REQUIRE(ok.rule);
  CHECK(*ok.rule == kRule);

  // Another selector besides the mark (an input interface), another action, no mark.
  const Parsed with_iif = dumped_ipv4([](Bytes& out) {
    dumped_attributes(out);
    put32(out, FRA_IIFNAME, 0x00306874);  // "th0" and its NUL: any payload will do
  });
  CHECK_FALSE(with_iif.rule);
  CHECK_FALSE(with_iif.error);
  const Parsed suppressing = dumped_ipv4([](Bytes& out) {
    dumped_attributes(out);
    put32(out, FRA_SUPPRESS_PREFIXLEN, 0);
  });
  CHECK_FALSE(suppressing.rule);
  const Parsed blackhole = dumped_ipv4(dumped_attributes, FR_ACT_BLACKHOLE);
  CHECK_FALSE(blackhole.rule);
  const Parsed unmarked = dumped_ipv4([](Bytes& out) {
    put32(out, FRA_PRIORITY, 1021);
    put32(out, FRA_TABLE, 1021);
  });
  CHECK_FALSE(unmarked.rule);
  CHECK_FALSE(unmarked.error);

  // An attribute of the wrong size is a bad message, not a rule.
  const Parsed short_mark = dumped_ipv4([](Bytes& out) {
    put8(out, FRA_FWMARK, 1);
    put32(out, FRA_TABLE, 1021);
  });
  CHECK_FALSE(short_mark.rule);
  CHECK(short_mark.error == std::errc::bad_message);
}

TEST_CASE("a dumped rule cut at every byte is never read past its end") {
  const Bytes dumped =
      rule_message(RTM_NEWRULE, NLM_F_MULTI, AF_INET, 0, FR_ACT_TO_TBL, dumped_attributes);
  for (std::size_t length = 16; length < dumped.size(); ++length) {
    CAPTURE(length);
    Bytes cut(dumped.begin(), dumped.begin() + static_cast<std::ptrdiff_t>(length));
    const auto nlmsg_len = static_cast<std::uint32_t>(length);
    std::memcpy(cut.data(), &nlmsg_len, 4);
    const Parsed parsed = parse(cut);
    // Cut between attributes the message is a shorter one: a rule without its later
    // fields is no rule of sekishod's (no protocol, or no table).
    if (parsed.rule) {
      CHECK(parsed.rule->table != 0);
      CHECK(parsed.rule->mark == 0x10000);
    }
  }
}
