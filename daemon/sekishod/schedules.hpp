#pragma once
// Scheduled rules (docs/architecture.md, Kernel layout: no `meta hour`). Each scheduled rule's
// flows are in sets of their own, which the compiler leaves empty; every second sekishod judges
// each schedule by the policy's wall clock and, when one opens or closes, adds or removes
// the elements of its sets in one small batch. A closing window then deletes the
// connections it had let in (they carry the schedule's ct mark), so an established
// connection does not outlive its window. Each transition is audited.

#include <map>
#include <string>
#include <system_error>

#include "daemon/net/netlink_socket.hpp"
#include "daemon/sekishod/enforcement.hpp"
#include "daemon/sekishod/host.hpp"
#include "daemon/sekishod/queries.hpp"
#include "daemon/sekishod/subsystem.hpp"

namespace sekisho::daemon {

class Schedules final : public Subsystem {
 public:
  // `conntrack`: the Enforcer's socket, kept open so a window closes also with every other
  // descriptor taken.
  Schedules(Host& host, Enforcement& enforcement, net::NetlinkSocket& conntrack, WanQuery& wan);

  std::string_view name() const override { return "schedules"; }
  // The scheduled sets as their schedules are now.
  void fill(ir::Ruleset& ruleset, const policy::Policy& policy) override;
  // Deletes the connections of schedules that are closed now (their window may have closed
  // while sekishod did not run) and notes each schedule's state.
  void start() override;
  // At a transition the affected sets' elements change in one small batch, and a closing
  // window's connections are deleted (by their schedule's ct mark).
  void tick() override;
  void bind_methods(control::MethodTable& table) override;

  nlohmann::json list_json(const nlohmann::json& params);  // schedule.list

 private:
  // Deletes the connections a closed schedule's rules let in; `ended`: how many there were.
  std::error_code end_connections(const std::string& schedule, std::size_t& ended);
  // The schedules closed in the kernel whose connections are still to be deleted: deleted
  // now, and each closing recorded once they are gone; a failed delete is tried again at
  // the next tick.
  void end_closing();

  Host& host_;
  Enforcement& enforcement_;
  net::NetlinkSocket& conntrack_;
  WanQuery& wan_;
  // Each schedule's state as last recorded (schedule.open/close): a full apply fills the
  // sets by the clock, so the sets alone cannot tell that a transition is still to record.
  std::map<std::string, bool> states_;
  // Closed schedules whose connections are still to be deleted: the details of their
  // schedule.close record, by name.
  std::map<std::string, nlohmann::json> closing_;
};

}  // namespace sekisho::daemon
