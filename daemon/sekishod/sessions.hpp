#pragma once
// Jump sessions (docs/architecture.md, Kernel layout): an operator lets one VPN peer reach one
// maintenance target until a deadline the kernel enforces; sessions survive a restart
// and a reload, and each one's connections are recorded from conntrack (sessions.cpp).

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "daemon/net/conntrack.hpp"
#include "daemon/net/netlink_socket.hpp"
#include "daemon/sekishod/background_job.hpp"
#include "daemon/sekishod/enforcement.hpp"
#include "daemon/sekishod/host.hpp"
#include "daemon/sekishod/queries.hpp"
#include "daemon/sekishod/subsystem.hpp"
#include "daemon/sessions/store.hpp"

namespace sekisho::daemon {

class Sessions final : public Subsystem, public SessionQuery {
 public:
  // `conntrack`: the Enforcer's socket, kept open so a session's connections still end
  // with every other descriptor taken.
  Sessions(Host& host, Enforcement& enforcement, net::NetlinkSocket& conntrack, WanQuery& wan);

  std::string_view name() const override { return "sessions"; }
  // The store and the open sessions in it: they go into the first ruleset with their
  // remaining time.
  void open(const policy::Policy& first) override;
  // Conntrack accounting and flow events, and the 250 ms deadline timer; sessions that ran
  // out while sekishod was not running end now.
  void start() override;
  // The sessions maps as the open sessions are now (each with its remaining time).
  void fill(ir::Ruleset& ruleset, const policy::Policy& policy) override;
  // Sessions the next policy no longer grants as they were granted end with it: its
  // ruleset leaves them out (and they stay open when it does not take).
  void before_policy(const policy::Policy& next) override;
  void after_policy(const policy::Policy& policy, bool ok) override;
  // The table applied holds the open sessions only.
  void after_apply(const policy::Policy& policy) override;
  void status(nlohmann::json& out) override { out["sessions_open"] = open_sessions_.size(); }
  void bind_methods(control::MethodTable& table) override;
  // Takes the sessions maps' elements out of both images: nullopt when the kernel holds
  // every element of each session with more than a moment left and nothing else, else
  // what differs ("table inet sekisho differs from the open sessions: ...").
  std::optional<std::string> compare_owned(nft::TableImage& want,
                                           nft::TableImage& kernel) const override;

  std::vector<std::uint32_t> holding(std::int64_t now_ms) const override;

  // The control methods session.*.
  nlohmann::json session_open(const nlohmann::json& params, const audit::Actor& by);
  nlohmann::json session_extend(const nlohmann::json& params, const audit::Actor& by);
  nlohmann::json session_close(const nlohmann::json& params, const audit::Actor& by);
  // Read on a job's thread (job_): the store through a connection of its own.
  BackgroundJob::Work session_list_work(bool all);
  BackgroundJob::Work session_show_work(std::uint32_t number);
  static std::uint32_t session_number(const nlohmann::json& params);  // throws invalid
  nlohmann::json session_receipt_json(const nlohmann::json& params);

 private:
  // A session whose end was decided while the kernel still grants its access: retried
  // every second; it ends (recorded, connections deleted) once the access is gone.
  struct ClosingSession {
    sessions::Session session;
    audit::Actor by;
    std::string why;
    std::chrono::steady_clock::time_point next_attempt;
    bool elements_gone = false;  // a whole-table apply without them has taken
  };

  // What the sessions map of `family` holds for the open sessions now, each with its
  // remaining time.
  std::vector<ir::Element> session_elements(policy::Family family) const;
  // Removes and/or adds one session's elements in the kernel (a whole-table apply when the
  // kernel refuses the change); false when neither worked.
  // `may_be_gone`: the elements may have timed out (expiry), not worth a warning.
  bool change_session_elements(const sessions::Session& session, bool remove, bool add,
                               const char* what, bool may_be_gone = false);
  // Ends a session the caller took out of open_sessions_ (its state set): its access goes
  // first; the end is recorded and its connections deleted once the kernel has taken the
  // access away, which a refusing kernel delays (closing_sessions_). False then.
  bool close_session(sessions::Session session, const audit::Actor& by, const std::string& why,
                     bool may_be_gone);
  void finish_closing_sessions();
  nlohmann::json session_json(const sessions::Session& session, bool with_flows);
  // The open or stored session the request's id names; throws invalid or not_found.
  sessions::Session find_session(const nlohmann::json& params);
  void check_sessions();
  // Open sessions a policy would not grant as they were granted (peer, target or their
  // addresses and services changed): a reload to that policy ends them.
  std::vector<std::uint32_t> sessions_without_grant(const policy::Policy& policy);
  void end_sessions_without_grant(const std::vector<sessions::Session>& ended);
  // Deletes the session's connections (when `delete_flows`), records their flows and the
  // end, and signs a checkpoint. The caller took its elements out of the kernel.
  void end_session(sessions::Session& session, const audit::Actor& by, const std::string& why,
                   bool delete_flows);
  void wait_for_flow_events();
  // Reads the events waiting (at most FlowEvents::kReadBatch); how many it read.
  std::size_t handle_flow_events();

  Host& host_;
  Enforcement& enforcement_;
  net::NetlinkSocket& conntrack_;
  WanQuery& wan_;
  sessions::Store session_store_;
  bool session_store_ready_ = false;
  std::uint32_t highest_session_number_ = 0;  // of any session.open in the audit log
  std::map<std::uint32_t, sessions::Session> open_sessions_;  // by number
  std::map<std::uint32_t, ClosingSession> closing_sessions_;  // by number
  // Taken out of open_sessions_ by before_policy: the policy being applied does not grant
  // them; they end when it took, and are open again when it did not.
  std::vector<sessions::Session> ending_;
  net::FlowEvents flow_events_;
  std::unique_ptr<boost::asio::posix::stream_descriptor> flow_events_fd_;
  boost::asio::steady_timer timer_;
  // Long viewer calls (session list, show), one at a time; destroyed first (a running one
  // is waited for).
  BackgroundJob job_;
};

}  // namespace sekisho::daemon
