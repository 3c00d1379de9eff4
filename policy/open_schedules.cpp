#include "policy/open_schedules.hpp"

#include <date/tz.h>

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

}  // namespace sekisho::policy
