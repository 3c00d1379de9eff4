#include "policy/open_schedules.hpp"

#include <date/tz.h>

namespace sekisho::policy {

void fill_open_schedules(ir::Ruleset& ruleset, const Policy& policy, std::chrono::sys_seconds now) {
  // A valid policy names a known time zone (checks.cpp refuses others).
  const date::time_zone* zone = date::locate_zone(policy.timezone);
  for (const ir::RuntimeSets::Scheduled& scheduled : ruleset.runtime.scheduled) {
    const Schedule* schedule = policy.find_schedule(scheduled.schedule);
    const bool open = schedule && is_open(*schedule, *zone, now);
    for (ir::SetId id : scheduled.sets) {
      ir::Set& set = ruleset.at(id);
      if (open) {
        set.elements = set.scheduled_elements;
      } else {
        set.elements.clear();
      }
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
  if (!policy.wan || !ruleset.runtime.wan_gate) {
    return;
  }
  ir::Set& set = ruleset.at(*ruleset.runtime.wan_gate);
  set.elements.clear();
  if (closed) {
    set.elements.push_back(
        ir::Element{{ir::single(ir::value_of_ifname(policy.wan->interface.name))},
                    {},
                    {policy.wan->pos, "the WAN link is down"},
                    {},
                    0});
  }
}

}  // namespace sekisho::policy
