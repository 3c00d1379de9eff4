#include "daemon/sekishod/schedules.hpp"

#include <algorithm>
#include <map>
#include <set>

#include "daemon/common/clock.hpp"
#include "daemon/common/log.hpp"
#include "daemon/net/conntrack.hpp"
#include "daemon/sekishod/method_binding.hpp"
#include "policy/compile.hpp"
#include "policy/open_schedules.hpp"

namespace sekisho::daemon {

namespace {

constexpr std::uint32_t kWholeMark = 0xffffffff;

std::chrono::sys_seconds schedule_now() {
  return std::chrono::time_point_cast<std::chrono::seconds>(schedule_clock_now());
}

}  // namespace

Schedules::Schedules(Host& host, Enforcement& enforcement, net::NetlinkSocket& conntrack,
                     WanQuery& wan)
    : host_(host), enforcement_(enforcement), conntrack_(conntrack), wan_(wan) {}

void Schedules::fill(ir::Ruleset& ruleset, const policy::Policy& policy) {
  policy::fill_open_schedules(ruleset, policy, schedule_now());
}

std::error_code Schedules::end_connections(const std::string& schedule, std::size_t& ended) {
  ended = 0;
  // The mark the rules of the schedule give the connections they accept. A schedule with no
  // scheduled sets in force has no such rules now, but a policy before a reload may have had
  // (the mark is the schedule's name's, the same in every policy).
  const Loaded& current = enforcement_.current();
  const ir::RuntimeSets::Scheduled* scheduled = current.ruleset.runtime.find_scheduled(schedule);
  const std::uint32_t mark =
      scheduled ? scheduled->ct_mark : policy::schedule_mark(current.policy, schedule);
  if ((mark & policy::kScheduleMarkBit) == 0) {
    return {};  // never 0: that would select every unmarked connection
  }
  // Counted first, for the record; then the kernel deletes them by their mark.
  std::vector<net::Flow> flows;
  std::error_code error = net::dump_flows(conntrack_, mark, kWholeMark, flows);
  if (!error && !flows.empty()) {
    error = net::delete_flows(conntrack_, mark, kWholeMark);
  }
  if (error) {
    log_warning("schedule " + schedule + " is closed, but its connections (ct mark " +
                std::to_string(mark) + ") could not be deleted: " + error.message() +
                "; trying again");
    return error;
  }
  ended = flows.size();
  return {};
}

void Schedules::end_closing() {
  const policy::Policy& policy = enforcement_.current().policy;
  const auto now = schedule_now();
  for (auto it = closing_.begin(); it != closing_.end();) {
    const std::string& schedule = it->first;
    nlohmann::json& details = it->second;
    const bool known = std::any_of(policy.schedules.begin(), policy.schedules.end(),
                                   [&](const policy::Schedule& s) { return s.name == schedule; });
    // Open again, or gone with a reload: its connections are no longer to end.
    if (!known || policy::schedule_open(policy, schedule, now)) {
      enforcement_.forget_retry("connections:" + schedule);
      it = closing_.erase(it);
      continue;
    }
    std::size_t ended = 0;
    const std::error_code error = end_connections(schedule, ended);
    enforcement_.note_retry("connections:" + schedule,
                            "delete the connections of closed schedule " + schedule,
                            error ? error.message() : "");
    if (error) {
      ++it;
      continue;
    }
    details["connections_ended"] = ended;
    // At start only a window that left connections behind is worth a record.
    if (!details.value("at_start", false)) {
      log_notice("schedule " + schedule + " closed: " +
                 std::to_string(details.value("elements", std::size_t{0})) + " elements in " +
                 std::to_string(details.value("sets", nlohmann::json::array()).size()) + " sets, " +
                 std::to_string(ended) + " connections ended");
      host_.auditor().record(Auditor::daemon_actor(), "schedule.close", details);
    } else if (ended > 0) {
      // Its window closed while sekishod was not running, and connections outlived it.
      log_notice("schedule " + schedule + " is closed: " + std::to_string(ended) +
                 " connections from before the start ended");
      host_.auditor().record(Auditor::daemon_actor(), "schedule.close", details);
    }
    it = closing_.erase(it);
  }
}

void Schedules::start() {
  const auto now = schedule_now();
  for (const policy::Schedule& schedule : enforcement_.current().policy.schedules) {
    const bool open = policy::schedule_open(enforcement_.current().policy, schedule.name, now);
    states_[schedule.name] = open;
    if (!open) {
      closing_[schedule.name] = {
          {"schedule", schedule.name}, {"clock", utc_text(now)}, {"at_start", true}};
    }
  }
  end_closing();
}

void Schedules::tick() {
  const policy::Policy& policy = enforcement_.current().policy;
  const auto now = schedule_now();
  // The kernel's sets as the clock says (usually already so: a full apply fills them).
  std::vector<SetChange> changes;
  std::map<std::string, std::vector<std::string>> sets;  // by schedule
  std::map<std::string, std::size_t> elements;
  const ir::Ruleset& ruleset = enforcement_.current().ruleset;
  for (const ir::RuntimeSets::Scheduled& scheduled : ruleset.runtime.scheduled) {
    const bool open = policy::schedule_open(policy, scheduled.schedule, now);
    for (ir::SetId id : scheduled.sets) {
      const ir::Set& set = ruleset.at(id);
      sets[scheduled.schedule].push_back(set.name);
      elements[scheduled.schedule] += set.scheduled_elements.size();
      if (open == !set.elements.empty() || set.scheduled_elements.empty()) {
        continue;
      }
      // The ruleset in force keeps what the kernel holds until the kernel has the change.
      changes.push_back(open ? SetChange{id, {}, set.scheduled_elements, set.scheduled_elements}
                             : SetChange{id, set.elements, {}, {}});
    }
  }
  // Transitions against what was recorded, so that one a full apply already made (a
  // restart, reload or restore across it) is still recorded and its connections end.
  std::vector<std::pair<std::string, bool>> transitions;
  std::string names;
  for (const policy::Schedule& schedule : policy.schedules) {
    const bool open = policy::schedule_open(policy, schedule.name, now);
    auto [state, added] = states_.emplace(schedule.name, open);
    if (!added && state->second != open) {
      transitions.emplace_back(schedule.name, open);
      names += (names.empty() ? "" : ", ") + schedule.name + (open ? " opens" : " closes");
    }
  }
  bool applied = !enforcement_.check_pending();
  const std::string what = "schedule change: " + (names.empty() ? std::string("sets") : names);
  if (!changes.empty()) {
    applied = enforcement_.change_elements(changes, what.c_str());
  }
  // A change refused before may have taken with a whole-table apply since.
  if (!changes.empty() || applied) {
    enforcement_.note_retry("schedules", what, applied ? "" : enforcement_.last_kernel_error());
  }
  // Recorded (and the connections ended) once the kernel holds the change.
  if (applied) {
    for (const auto& [schedule, opens] : transitions) {
      states_[schedule] = opens;
      nlohmann::json details = {{"schedule", schedule},
                                {"clock", utc_text(now)},
                                {"sets", sets[schedule]},
                                {"elements", elements[schedule]}};
      if (opens) {
        closing_.erase(schedule);
        log_notice("schedule " + schedule + " opened: " + std::to_string(elements[schedule]) +
                   " elements in " + std::to_string(sets[schedule].size()) + " sets");
        host_.auditor().record(Auditor::daemon_actor(), "schedule.open", details);
      } else {
        closing_[schedule] = std::move(details);  // recorded once its connections end
      }
    }
  }
  end_closing();
}

nlohmann::json Schedules::list_json(const nlohmann::json& params) {
  const policy::Policy& policy = enforcement_.current().policy;
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
          {"wan", wan_.wan_status_json()}};
}

void Schedules::bind_methods(control::MethodTable& table) {
  table.bind(control::kScheduleList,
             [this](const control::MethodTable::Call& call) { return list_json(call.params()); });
}

}  // namespace sekisho::daemon
