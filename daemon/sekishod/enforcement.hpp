#pragma once
// The narrow view of the policy in force that the daemon's subsystems get from the
// Enforcer (enforcer.hpp): what is in force, and the three ways to change the kernel (a
// few elements, the whole table, a retry noted). Loop thread only.

#include <string>
#include <vector>

#include "policy/ir.hpp"
#include "policy/model.hpp"

namespace sekisho::daemon {

// A policy as read from its file and compiled.
struct Loaded {
  policy::Policy policy;
  // Compiled once; the elements of scheduled sets are filled in place while their
  // schedule is open (one copy of a ruleset that can hold a hundred thousand elements).
  ir::Ruleset ruleset;
  std::string text;
};

// One runtime set of the ruleset in force (a schedule's, the WAN gate, a sessions map: its
// handle in `Ruleset::runtime`) to change in the kernel: the elements to remove and add, and
// what the set holds once it took.
struct SetChange {
  ir::SetId set;
  std::vector<ir::Element> remove;
  std::vector<ir::Element> add;
  std::vector<ir::Element> after;
};

class Enforcement {
 public:
  virtual ~Enforcement() = default;

  // False only while the first policy is being enforced at start.
  virtual bool has_current() const = 0;
  virtual const Loaded& current() const = 0;
  // Changes elements in the kernel in one small batch; each set holds its `after` once the
  // kernel took it (the runtime sets of current() change only here and in a full apply, so
  // they say what the kernel holds). When the kernel refuses (or another process changed the table
  // first), the whole table is applied instead (`quiet_fallback`: without a warning, for changes
  // that may meet timed-out elements). False when neither worked: nothing changed, and the
  // caller tries again.
  virtual bool change_elements(const std::vector<SetChange>& changes, const char* what,
                               bool quiet_fallback = false) = 0;
  // The whole table again, each runtime set as it is to be now.
  virtual bool full_apply(const char* what) = 0;
  // A kernel change that must take (`change` a key, `what` for people), after an attempt
  // that failed with `error` (empty: it took): audited when it first fails and when it
  // takes after failing (kernel.change_failed, kernel.change_applied), never at each retry.
  virtual void note_retry(const std::string& change, const std::string& what,
                          const std::string& error) = 0;
  // The change is no longer wanted (the decision turned before it took).
  virtual void forget_retry(const std::string& change) = 0;
  // An apply or readback failed: the kernel is read back and compared at the next tick.
  virtual bool check_pending() const = 0;
  virtual void check_later() = 0;
  // Why the last apply failed, for the audit log.
  virtual const std::string& last_kernel_error() const = 0;
};

}  // namespace sekisho::daemon
