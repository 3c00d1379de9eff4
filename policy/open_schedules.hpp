#pragma once
// The ruleset as it must be in the kernel at one instant: the compiled ruleset with the
// elements of every scheduled set whose schedule is open at `now`. Pure: the daemon passes
// its clock, `sekishoctl verify` passes its own, tests pass a fixed instant.

#include <chrono>

#include "policy/ir.hpp"
#include "policy/model.hpp"

namespace sekisho::policy {

// Moves nothing out of `scheduled_elements` (the daemon needs them at the next
// transition); copies them into `elements` for the sets whose schedule is open.
void fill_open_schedules(ir::Ruleset& ruleset, const Policy& policy, std::chrono::sys_seconds now);

// The ruleset as the schedules alone make it at `now`: fill_open_schedules, and the WAN
// gate closed outside wan.up. What the daemon adds besides (jump sessions, link overrides)
// only it knows.
void fill_as_scheduled(ir::Ruleset& ruleset, const Policy& policy, std::chrono::sys_seconds now);

// Whether schedule `name` of `policy` is open at `now` (false for an unknown name).
bool schedule_open(const Policy& policy, std::string_view name, std::chrono::sys_seconds now);

// Closes the WAN gate (the set kWanClosedSet holds the WAN interface) or opens it (empty).
// Nothing to do for a policy without `wan`.
void fill_wan_gate(ir::Ruleset& ruleset, const Policy& policy, bool closed);

}  // namespace sekisho::policy
