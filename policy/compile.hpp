#pragma once
// The compiler: a checked Policy -> the Ruleset IR of table `inet sekisho`, in the shape
// DESIGN.md describes. Pure: no kernel, no clock. Scheduled rules go into their own sets,
// which are loaded empty; the daemon fills them while their schedule is open.
//
// The number of rules depends on the zones and on which kinds of services are used,
// never on the number of hosts, groups or rules: those become set elements.

#include <cstdint>

#include "policy/ir.hpp"
#include "policy/model.hpp"

namespace sekisho::policy {

// NFLOG groups the ruleset logs to (the daemon listens on them).
inline constexpr std::uint16_t kDropLogGroup = 1;
inline constexpr std::uint16_t kAcceptLogGroup = 2;
// Drop logging is rate-limited so that a scan cannot flood the log.
inline constexpr std::uint32_t kDropLogRate = 10;  // packets per second
inline constexpr std::uint32_t kDropLogBurst = 20;

// `policy` must have loaded without errors.
ir::Ruleset compile(const Policy& policy);

}  // namespace sekisho::policy
