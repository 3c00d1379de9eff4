// Scheduled rules (DESIGN.md, Kernel layout: no `meta hour`). Each scheduled rule's flows
// are in sets of their own, which the compiler leaves empty; every second sekishod judges
// each schedule by the policy's wall clock and, when one opens or closes, adds or removes
// the elements of its sets in one small batch. A closing window then deletes the
// connections it had let in (they carry the schedule's ct mark), so an established
// connection does not outlive its window. Each transition is audited.
#include <map>
#include <set>

#include "daemon/common/clock.hpp"
#include "daemon/common/log.hpp"
#include "daemon/net/conntrack.hpp"
#include "daemon/sekishod/service.hpp"
#include "policy/compile.hpp"
#include "policy/open_schedules.hpp"

namespace sekisho::daemon {

namespace {

constexpr std::uint32_t kWholeMark = 0xffffffff;

struct Transition {
  bool opens = false;
  std::vector<std::string> sets;
  std::size_t elements = 0;
};

}  // namespace

void Service::check_schedules() {
  const policy::Policy& policy = current_->policy;
  const auto now = std::chrono::time_point_cast<std::chrono::seconds>(schedule_clock_now());
  std::vector<nft::ElementChange> changes;
  std::map<std::string, Transition> transitions;  // by schedule
  for (ir::Set& set : current_->ruleset.sets) {
    if (set.schedule.empty()) {
      continue;
    }
    const bool open = policy::schedule_open(policy, set.schedule, now);
    const bool filled = !set.elements.empty();
    if (open == filled || set.scheduled_elements.empty()) {
      continue;
    }
    changes.push_back(
        nft::ElementChange{&set, open ? std::vector<ir::Element>{} : set.elements,
                           open ? set.scheduled_elements : std::vector<ir::Element>{}});
    Transition& transition = transitions[set.schedule];
    transition.opens = open;
    transition.sets.push_back(set.name);
    transition.elements += set.scheduled_elements.size();
    set.elements = open ? set.scheduled_elements : std::vector<ir::Element>{};
  }
  if (changes.empty()) {
    return;
  }
  std::string names;
  for (const auto& [schedule, transition] : transitions) {
    names += (names.empty() ? "" : ", ") + schedule + (transition.opens ? " opens" : " closes");
  }
  const bool applied = apply_element_changes(changes, ("schedule change: " + names).c_str());
  for (const auto& [schedule, transition] : transitions) {
    nlohmann::json details = {{"schedule", schedule},
                              {"clock", utc_text(now)},
                              {"sets", transition.sets},
                              {"elements", transition.elements},
                              {"applied", applied}};
    if (!transition.opens) {
      // The window's elements are out of the kernel: now its connections. Counted first,
      // for the record; the kernel then deletes them by their schedule's mark.
      const std::uint32_t mark = policy::schedule_mark(policy, schedule);
      std::vector<net::Flow> flows;
      std::error_code error = net::dump_flows(mark, kWholeMark, flows);
      if (!error) {
        error = net::delete_flows(mark, kWholeMark);
      }
      details["connections_ended"] = flows.size();
      if (error) {
        details["connections_error"] = error.message();
        log_warning("schedule " + schedule + " closed, but its connections (ct mark " +
                    std::to_string(mark) + ") could not be deleted: " + error.message());
      }
    }
    log_notice("schedule " + schedule + (transition.opens ? " opened: " : " closed: ") +
               std::to_string(transition.elements) + " elements " +
               (transition.opens ? "added to " : "removed from ") +
               std::to_string(transition.sets.size()) + " sets" +
               (details.contains("connections_ended")
                    ? ", " + std::to_string(details["connections_ended"].get<std::size_t>()) +
                          " connections ended"
                    : ""));
    auditor_.record(Auditor::daemon_actor(), transition.opens ? "schedule.open" : "schedule.close",
                    details);
  }
}

nlohmann::json Service::schedule_list_json(const nlohmann::json& params) {
  const policy::Policy& policy = current_->policy;
  const auto now = std::chrono::time_point_cast<std::chrono::seconds>(schedule_clock_now());
  const std::size_t count =
      std::clamp<std::size_t>(params.value("transitions", std::size_t{3}), 1, 20);
  const date::time_zone* zone = date::locate_zone(policy.timezone);
  nlohmann::json schedules = nlohmann::json::array();
  for (const policy::Schedule& schedule : policy.schedules) {
    nlohmann::json rules = nlohmann::json::array();
    for (const policy::Rule& rule : policy.rules) {
      if (rule.schedule && rule.schedule->name == schedule.name) {
        rules.push_back(rule.name);
      }
    }
    nlohmann::json next = nlohmann::json::array();
    for (const policy::Transition& transition :
         policy::next_transitions(schedule, *zone, now, count)) {
      next.push_back({{"at", utc_text(transition.at)},
                      {"local", date::format("%F %a %R %Z", date::make_zoned(zone, transition.at))},
                      {"opens", transition.opens}});
    }
    schedules.push_back(
        {{"name", schedule.name},
         {"open", policy::is_open(schedule, *zone, now)},
         {"rules", rules},
         {"wan_up", policy.wan && policy.wan->up && policy.wan->up->name == schedule.name},
         {"next", next}});
  }
  return {{"timezone", policy.timezone},
          {"clock", utc_text(now)},
          {"local", date::format("%F %a %T %Z", date::make_zoned(zone, now))},
          {"schedules", schedules},
          {"wan", wan_status_json()}};
}

}  // namespace sekisho::daemon
