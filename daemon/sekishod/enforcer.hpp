#pragma once
// The core of the daemon: keeps one compiled policy in force in table inet sekisho. It
// owns the policy in force, the nftables change monitor (paused around each of our
// commits), the generations, the kernel changes being retried and the netlink sockets
// enforcing needs. They are opened at start and kept: with every other descriptor taken
// (a flood of connections, say), the ruleset is still applied, read back and restored, the
// WAN gate and link still close and a closed window's connections still end.
//
// What the runtime sets hold and what happens around a policy change belongs to the
// subsystems; the Enforcer asks them through Hooks.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "daemon/net/netlink_socket.hpp"
#include "daemon/nft/monitor.hpp"
#include "daemon/nft/socket.hpp"
#include "daemon/sekishod/auditor.hpp"
#include "daemon/sekishod/enforcement.hpp"
#include "daemon/sekishod/options.hpp"
#include "daemon/sekishod/retries.hpp"

namespace sekisho::daemon {

class Enforcer final : public Enforcement {
 public:
  // The subsystems' part of an apply, in the order the daemon gives them.
  class Hooks {
   public:
    virtual ~Hooks() = default;
    // Fills the runtime sets of `ruleset` as they are to be now.
    virtual void fill(ir::Ruleset& ruleset, const policy::Policy& policy) = 0;
    // A whole table filled for `policy` took.
    virtual void after_apply(const policy::Policy& policy) = 0;
    // Before and after `next` is applied to replace the policy in force (`ok`: it took and
    // is in force now).
    virtual void before_policy(const policy::Policy& next) = 0;
    virtual void after_policy(const policy::Policy& policy, bool ok) = 0;
    // Another process changed the table: counted before a whole-table apply replaces it,
    // and restored (a whole-table apply) instead of a change of elements.
    virtual void foreign_change_replaced(const std::string& what) = 0;
    virtual bool restore(const std::string& what) = 0;
  };

  Enforcer(const Options& options, Auditor& auditor, Hooks& hooks);

  // The monitor (`event_buffer` bytes of receive buffer) and the netlink sockets, before
  // the first apply; the exit code to leave with when one cannot be opened.
  int open(int event_buffer);

  bool has_current() const override { return current_.has_value(); }
  const Loaded& current() const override { return *current_; }
  bool change_elements(const std::vector<SetChange>& changes, const char* what,
                       bool quiet_fallback = false) override;
  bool full_apply(const char* what) override { return apply_filled(*current_, what); }
  void note_retry(const std::string& change, const std::string& what,
                  const std::string& error) override;
  void forget_retry(const std::string& change) override { retries_.forget(change); }
  bool check_pending() const override { return check_pending_; }
  void check_later() override { check_pending_ = true; }
  const std::string& last_kernel_error() const override { return last_kernel_error_; }

  // Applies `loaded` and makes it current (the policy it replaced goes to `replaced`); a
  // confirmed policy also becomes last-good. On failure the policy in force and the files
  // stay as they were (and the next tick reads the kernel back).
  bool enforce(Loaded& loaded, const char* what, bool confirmed,
               std::optional<Loaded>* replaced = nullptr);
  // Fills `loaded`'s runtime sets as they are to be now and applies it. When `loaded` is
  // the policy in force and the kernel refuses, its runtime sets are put back: the policy
  // in force never claims what the kernel lacks.
  bool apply_filled(Loaded& loaded, const char* what);
  // For commit-confirm at start: the policy a rollback goes back to, set in force before
  // the pending one is enforced over it, and taken back when that fails.
  void set_current(Loaded loaded) { current_ = std::move(loaded); }
  Loaded take_current();
  // One record for an apply that took or failed: where the policy came from, who sent it,
  // and the hashes an auditor can match with the files.
  void record_apply(const char* kind, const audit::Actor& by, const std::string& source,
                    const std::string& how, const std::string& old_hash,
                    nlohmann::json details = nlohmann::json::object());
  // No exception leaves an event-loop handler: it is logged, and the kernel is compared
  // with the policy at the next tick.
  void guarded(const char* what, const std::function<void()>& work);

  struct EventNews {
    std::string foreign;  // what another process did to our table (empty: nothing)
    bool lost = false;    // the kernel dropped events: only a readback can tell
  };
  EventNews read_events();
  // From now on each apply first reads the events waiting (before start's first apply,
  // nothing is waited for yet). Returns a descriptor of the monitor to wait on, or -1.
  int watch_events();
  // The kernel's generation differs from the last one seen.
  std::error_code generation_moved(bool& moved);
  // The kernel was read back at `genid`; then compared, so nothing is pending.
  void read_back_at(std::uint32_t genid) { known_genid_ = genid; }
  void compared() { check_pending_ = false; }

  std::uint32_t applied_generation() const { return applied_genid_; }
  std::chrono::system_clock::time_point applied_at() const { return applied_at_; }
  nft::Socket& nft_socket() { return nft_socket_; }
  net::NetlinkSocket& route_socket() { return route_socket_; }
  net::NetlinkSocket& conntrack_socket() { return conntrack_socket_; }

 private:
  bool apply(const ir::Ruleset& ruleset, const char* what);

  const Options& options_;
  Auditor& auditor_;
  Hooks& hooks_;
  std::optional<Loaded> current_;
  std::uint32_t applied_genid_ = 0;  // the generation of our last commit
  std::chrono::system_clock::time_point applied_at_;
  std::uint32_t known_genid_ = 0;
  bool watching_ = false;          // events are read before each apply
  bool check_pending_ = false;     // an apply or readback failed: compare at the next tick
  std::string last_kernel_error_;  // why the last apply failed, for the audit log
  Retries retries_;
  nft::ChangeMonitor monitor_;
  nft::Socket nft_socket_;
  net::NetlinkSocket route_socket_;
  net::NetlinkSocket conntrack_socket_;
};

}  // namespace sekisho::daemon
