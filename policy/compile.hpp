#pragma once
// The compiler: a checked Policy -> the Ruleset IR of table `inet sekisho`, in the shape
// of (docs/architecture.md, Kernel layout). Pure: no kernel, no clock. Scheduled rules go
// into their own sets, which are loaded empty; the daemon fills them while their schedule
// is open.
//
// The number of rules depends on the zones and on which kinds of services are used,
// never on the number of hosts, groups or rules: those become set elements.

#include <cstdint>
#include <string_view>

#include "policy/ir.hpp"
#include "policy/model.hpp"

namespace sekisho::policy {

// NFLOG groups the ruleset logs to (the daemon listens on them).
inline constexpr std::uint16_t kDropLogGroup = 1;
inline constexpr std::uint16_t kAcceptLogGroup = 2;
// Drop logging is rate-limited so that a scan cannot flood the log.
inline constexpr std::uint32_t kDropLogRate = 10;  // packets per second
inline constexpr std::uint32_t kDropLogBurst = 20;

// The WAN gate (W-2): while the WAN link is to be down, set `wan_closed` holds the WAN
// interface's name, and every packet in or out through it is counted, logged (rate-limited)
// and dropped in input, forward and output, established connections included. So a link
// brought up by hand outside operating hours still passes nothing. Compiled whenever the
// policy has a `wan`; loaded open (empty), the daemon closes and opens it.
inline constexpr std::string_view kWanClosedSet = "wan_closed";

// Connections a scheduled rule accepts carry their schedule's ct mark, so that sekishod can
// delete exactly those (by mark) when the window closes: kScheduleMarkBit with the low 31
// bits from a hash of the schedule's name (stable across reloads; distinct within a
// policy). 0 for a name the policy lacks. Session numbers stay below the bit.
// A chain tries its permanent sets before its scheduled ones, so a connection that a
// permanent rule also allows is never marked and outlives the window.
inline constexpr std::uint32_t kScheduleMarkBit = 0x80000000;
std::uint32_t schedule_mark(const Policy& policy, std::string_view schedule);

// `policy` must have loaded without errors.
ir::Ruleset compile(const Policy& policy);

}  // namespace sekisho::policy
