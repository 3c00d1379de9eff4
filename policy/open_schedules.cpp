#include "policy/open_schedules.hpp"

#include <algorithm>

#include <date/tz.h>

#include "policy/compile.hpp"

namespace sekisho::policy {

void fill_open_schedules(ir::Ruleset& ruleset, const Policy& policy, std::chrono::sys_seconds now) {
  // A valid policy names a known time zone (checks.cpp refuses others).
  const date::time_zone* zone = date::locate_zone(policy.timezone);
  for (ir::Set& set : ruleset.sets) {
    if (set.schedule.empty()) {
      continue;
    }
    const Schedule* schedule = policy.find_schedule(set.schedule);
    if (schedule && is_open(*schedule, *zone, now)) {
      set.elements = set.scheduled_elements;
    } else {
      set.elements.clear();
    }
  }
}

void fill_as_scheduled(ir::Ruleset& ruleset, const Policy& policy, std::chrono::sys_seconds now) {
  fill_open_schedules(ruleset, policy, now);
  fill_wan_gate(ruleset, policy,
                policy.wan && policy.wan->up && !schedule_open(policy, policy.wan->up->name, now));
}

bool schedule_open(const Policy& policy, std::string_view name, std::chrono::sys_seconds now) {
  const Schedule* schedule = policy.find_schedule(name);
  return schedule && is_open(*schedule, *date::locate_zone(policy.timezone), now);
}

void fill_wan_gate(ir::Ruleset& ruleset, const Policy& policy, bool closed) {
  auto set = std::find_if(ruleset.sets.begin(), ruleset.sets.end(),
                          [](const ir::Set& candidate) { return candidate.name == kWanClosedSet; });
  if (!policy.wan || set == ruleset.sets.end()) {
    return;
  }
  set->elements.clear();
  if (closed) {
    set->elements.push_back(
        ir::Element{{ir::single(ir::value_of_ifname(policy.wan->interface.name))},
                    {},
                    {policy.wan->pos, "the WAN link is down"},
                    {},
                    0});
  }
}

}  // namespace sekisho::policy
