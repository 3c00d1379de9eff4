#pragma once
// One part of the daemon with its own state and timers (the VPN, cloud brokering, ...).
// Service calls the hooks in an explicit order (service.cpp); each defaults to nothing.
// A subsystem reaches the rest of the daemon only through its Host, the Enforcement and
// the small query interfaces it is handed in its constructor.

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "daemon/nft/image.hpp"
#include "policy/ir.hpp"
#include "policy/model.hpp"

namespace sekisho::control {
class MethodTable;
}

namespace sekisho::daemon {

class Subsystem {
 public:
  virtual ~Subsystem() = default;

  virtual std::string_view name() const = 0;
  // State from disk, before the first policy is applied (`first`).
  virtual void open(const policy::Policy& first) { (void)first; }
  // Its runtime sets of `ruleset` as they are to be now.
  virtual void fill(ir::Ruleset& ruleset, const policy::Policy& policy) {
    (void)ruleset;
    (void)policy;
  }
  // Around a change of the policy in force (`ok`: `policy` took and is in force now).
  virtual void before_policy(const policy::Policy& next) { (void)next; }
  virtual void after_policy(const policy::Policy& policy, bool ok) {
    (void)policy;
    (void)ok;
  }
  // A whole table filled for `policy` took.
  virtual void after_apply(const policy::Policy& policy) { (void)policy; }
  // After the first policy is in force: its own timers and descriptors.
  virtual void start() {}
  // The shared poll, every second.
  virtual void tick() {}
  virtual void stop() {}
  // Adds its own keys to the answer of `status`.
  virtual void status(nlohmann::json& out) { (void)out; }
  // Takes the elements it owns out of both images (they change on their own terms): the
  // difference, if any.
  virtual std::optional<std::string> compare_owned(nft::TableImage& want,
                                                   nft::TableImage& kernel) const {
    (void)want;
    (void)kernel;
    return std::nullopt;
  }
  // Binds the handlers of the control methods it answers.
  virtual void bind_methods(control::MethodTable& table) { (void)table; }
};

}  // namespace sekisho::daemon
