#pragma once
// Drift (drift_guard.cpp): nftables change events tell who committed what; a commit by
// another process that touched table inet sekisho is logged with that process and undone
// by applying the compiled ruleset again. The generation id is also polled every second,
// so a lost event cannot hide a change (then the table is read back and compared).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "daemon/sekishod/enforcer.hpp"
#include "daemon/sekishod/host.hpp"
#include "daemon/sekishod/retries.hpp"
#include "daemon/sekishod/subsystem.hpp"

namespace sekisho::daemon {

class DriftGuard final : public Subsystem {
 public:
  // `owners`: the subsystems whose runtime elements change on their own terms in the
  // kernel (compare_owned), asked in this order at each readback.
  DriftGuard(Host& host, Enforcer& enforcer, std::vector<const Subsystem*> owners);

  std::string_view name() const override { return "drift"; }
  // Another subsystem whose elements change on their own terms (Subsystem::compare_owned).
  void add_owner(const Subsystem* owner) { owners_.push_back(owner); }
  // A descriptor of the change monitor to wait on; false (and logged) when there is none.
  // From then on each apply first reads the events waiting.
  bool watch();
  // Waits for events and polls the generation every second.
  void start() override;
  void status(nlohmann::json& out) override { out["drift_restores"] = restores_; }
  void bind_methods(control::MethodTable& table) override;

  // Another process's change, replaced by the whole-table apply that follows.
  void foreign_change_replaced(const std::string& what);
  // Applies the compiled ruleset again after `why`; recorded when it takes and when it
  // first fails.
  bool restore(const std::string& why);
  nlohmann::json verify_json();  // verify

 private:
  void handle_events();
  void check_generation();
  void compare_and_restore();
  // The difference found, if any; `compared` says whether the kernel could be read.
  std::optional<std::string> read_back_and_compare(bool& compared);
  void wait_for_events();

  Host& host_;
  Enforcer& enforcer_;
  std::vector<const Subsystem*> owners_;
  std::uint64_t restores_ = 0;
  Retries retries_;  // a restore the kernel refuses, recorded once per episode
  std::unique_ptr<boost::asio::posix::stream_descriptor> events_;
  boost::asio::steady_timer generation_timer_;
};

}  // namespace sekisho::daemon
