#pragma once
// explain: what the policy does with one packet at one instant. The same resolution as
// the checks and the compiler (resolve.hpp), so explain and the kernel ruleset agree.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include <date/tz.h>

#include "policy/model.hpp"
#include "policy/resolve.hpp"

namespace sekisho::policy {

struct Packet {
  Endpoint from;
  Endpoint to;
  Proto proto = Proto::Tcp;  // not Any
  std::uint16_t port = 0;    // tcp/udp destination port
  int icmp_type = -1;        // icmp/icmpv6
};

struct Verdict {
  bool accept = false;
  std::string rule;       // the deciding rule's name; empty when none
  SourcePos pos;          // where that rule is written
  bool implicit = false;  // a service the gateway opens by itself (VPN port, local broker)
  std::optional<std::string> schedule;
  std::optional<bool> schedule_open;
  std::string reason;  // one sentence for a human
};

// `zone` is the policy's time zone; `at` the instant to judge scheduled rules at.
Verdict explain(const Resolver& resolver, const date::time_zone& zone, const Packet& packet,
                std::chrono::sys_seconds at);

// "YYYY-MM-DDTHH:MM[:SS]" in `zone`, or with a "Z" / "+hh:mm" / "-hh:mm" suffix. A local
// time that the clock skips (DST gap) is an error; one it passes twice means the first.
std::optional<std::chrono::sys_seconds> parse_instant(std::string_view text,
                                                      const date::time_zone& zone,
                                                      std::string& error);

}  // namespace sekisho::policy
