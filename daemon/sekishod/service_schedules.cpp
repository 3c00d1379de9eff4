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

std::chrono::sys_seconds schedule_now() {
  return std::chrono::time_point_cast<std::chrono::seconds>(schedule_clock_now());
}

}  // namespace

std::size_t Service::end_schedule_connections(const std::string& schedule,
                                              nlohmann::json& details) {
  const std::uint32_t mark = policy::schedule_mark(current_->policy, schedule);
  if ((mark & policy::kScheduleMarkBit) == 0) {
    return 0;  // never 0: that would select every unmarked connection
  }
  // Counted first, for the record; then the kernel deletes them by their mark.
  std::vector<net::Flow> flows;
  std::error_code error = net::dump_flows(conntrack_socket_, mark, kWholeMark, flows);
  if (!error && !flows.empty()) {
    error = net::delete_flows(conntrack_socket_, mark, kWholeMark);
  }
  details["connections_ended"] = error ? 0 : flows.size();
  if (error) {
    details["connections_error"] = error.message();
    log_warning("schedule " + schedule + " is closed, but its connections (ct mark " +
                std::to_string(mark) + ") could not be deleted: " + error.message());
  }
  return error ? 0 : flows.size();
}

void Service::end_closed_schedules_at_start() {
  const auto now = schedule_now();
  for (const policy::Schedule& schedule : current_->policy.schedules) {
    const bool open = policy::schedule_open(current_->policy, schedule.name, now);
    schedule_states_[schedule.name] = open;
    nlohmann::json details = {{"schedule", schedule.name}, {"clock", utc_text(now)}};
    if (!open && end_schedule_connections(schedule.name, details) > 0) {
      // Its window closed while sekishod was not running, and connections outlived it.
      details["at_start"] = true;
      log_notice("schedule " + schedule.name +
                 " is closed: " + std::to_string(details["connections_ended"].get<std::size_t>()) +
                 " connections from before the start ended");
      auditor_.record(Auditor::daemon_actor(), "schedule.close", details);
    }
  }
}

void Service::check_schedules() {
  const policy::Policy& policy = current_->policy;
  const auto now = schedule_now();
  // The kernel's sets as the clock says (usually already so: a full apply fills them).
  std::vector<nft::ElementChange> changes;
  std::map<std::string, std::vector<std::string>> sets;  // by schedule
  std::map<std::string, std::size_t> elements;
  for (ir::Set& set : current_->ruleset.sets) {
    if (set.schedule.empty()) {
      continue;
    }
    sets[set.schedule].push_back(set.name);
    elements[set.schedule] += set.scheduled_elements.size();
    const bool open = policy::schedule_open(policy, set.schedule, now);
    if (open == !set.elements.empty() || set.scheduled_elements.empty()) {
      continue;
    }
    changes.push_back(
        nft::ElementChange{&set, open ? std::vector<ir::Element>{} : set.elements,
                           open ? set.scheduled_elements : std::vector<ir::Element>{}});
    set.elements = open ? set.scheduled_elements : std::vector<ir::Element>{};
  }
  // Transitions against what was recorded, so that one a full apply already made (a
  // restart, reload or restore across it) is still recorded and its connections end.
  std::vector<std::pair<std::string, bool>> transitions;
  std::string names;
  for (const policy::Schedule& schedule : policy.schedules) {
    const bool open = policy::schedule_open(policy, schedule.name, now);
    auto [state, added] = schedule_states_.emplace(schedule.name, open);
    if (!added && state->second != open) {
      transitions.emplace_back(schedule.name, open);
      names += (names.empty() ? "" : ", ") + schedule.name + (open ? " opens" : " closes");
    }
  }
  bool applied = !check_pending_;
  if (!changes.empty()) {
    applied = apply_element_changes(
        changes, ("schedule change: " + (names.empty() ? std::string("sets") : names)).c_str());
  }
  if (!applied) {
    return;  // recorded (and the connections ended) once the kernel holds the change
  }
  for (const auto& [schedule, opens] : transitions) {
    schedule_states_[schedule] = opens;
    nlohmann::json details = {{"schedule", schedule},
                              {"clock", utc_text(now)},
                              {"sets", sets[schedule]},
                              {"elements", elements[schedule]}};
    std::string ended;
    if (!opens) {
      ended =
          ", " + std::to_string(end_schedule_connections(schedule, details)) + " connections ended";
    }
    log_notice("schedule " + schedule + (opens ? " opened: " : " closed: ") +
               std::to_string(elements[schedule]) + " elements in " +
               std::to_string(sets[schedule].size()) + " sets" + ended);
    auditor_.record(Auditor::daemon_actor(), opens ? "schedule.open" : "schedule.close", details);
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
