#pragma once
// Whether the WAN link is to be up, and why (JPCERT/CC W-2). Pure: the instant, the
// schedule's state and the open sessions are parameters, so the precedence is tested
// without a clock or a kernel.
//
// Precedence: forced down > jump-session hold > up override > schedule (`wan.up`). A WAN
// without `wan.up` is up unless forced down. There is one override at a time: `link up`
// replaces a `link down` and the other way round, `link auto` clears it, and an override
// whose deadline has passed counts as cleared; a forced down's deadline counts only by a
// synchronised clock. A stored override that cannot be read counts as a forced down.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace sekisho::wan {

enum class OverrideKind { Up, Down };

struct Override {
  OverrideKind kind = OverrideKind::Up;
  std::chrono::sys_seconds since{};
  // Up always has a deadline; Down may have none (until `link auto`).
  std::optional<std::chrono::sys_seconds> until;
  std::string by;  // who asked: the control socket caller's user name
  std::string reason;

  // Whether its deadline has passed. A forced down's passes only by a synchronised clock:
  // one that is not (at early boot, without NTP) may be far ahead, and must not open the
  // WAN; an up override's by any clock, since ending it early only closes the link.
  bool expired(std::chrono::sys_seconds now, bool clock_synchronised) const {
    return until && now >= *until && (clock_synchronised || kind == OverrideKind::Up);
  }
};

nlohmann::json to_json(const Override& override_);
// nullopt (and `error` says why) for anything but what to_json writes.
std::optional<Override> override_from_json(const nlohmann::json& json, std::string& error);
std::string_view kind_name(OverrideKind kind);  // "up", "down"

enum class LinkCause { NoSchedule, Schedule, ForcedDown, SessionHold, UpOverride };
std::string_view cause_name(LinkCause cause);  // "schedule", "forced-down", ...

struct LinkInputs {
  std::string schedule;  // wan.up; empty: none
  bool schedule_open = true;
  std::optional<Override> override_;            // as stored: its deadline is judged here
  std::vector<std::uint32_t> holding_sessions;  // open jump sessions, by number
  std::chrono::sys_seconds now{};
  bool clock_synchronised = false;
  // Why the stored override cannot be read (STATE_DIR/wan.json), or empty. It may hold a
  // forced down, so the link is down until an operator sets or clears the override.
  std::string override_unreadable;
};

struct LinkDecision {
  bool up = true;
  LinkCause cause = LinkCause::NoSchedule;
  std::string why;  // for people: "schedule operating-hours is closed", ...

  bool operator==(const LinkDecision&) const = default;
};

LinkDecision decide_link(const LinkInputs& inputs);

}  // namespace sekisho::wan
