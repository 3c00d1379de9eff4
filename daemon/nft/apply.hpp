#pragma once
// Applying a whole ruleset: a kernel dry run of the replace batch first, then the batch
// itself, conditional on the generation read just before (another process committing in
// between makes the kernel refuse it with ERESTART, and the apply is tried again on the
// new generation). Either the whole table is replaced or nothing changes.

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "daemon/nft/batch.hpp"
#include "daemon/nft/socket.hpp"
#include "policy/ir.hpp"

namespace sekisho::nft {

struct ApplyOutcome {
  bool ok = false;
  std::vector<std::string> errors;  // with the policy line of each refused object
  std::uint32_t genid = 0;          // the generation our commit created
  std::size_t messages = 0;
  std::size_t bytes = 0;
  std::chrono::microseconds took{0};     // all of it, from reading the generation
  std::chrono::microseconds build{0};    // the batch from the IR
  std::chrono::microseconds dry_run{0};  // the kernel's check
  std::chrono::microseconds commit{0};   // the kernel's commit
};

// On `socket` (socket.hpp). `policy_label` is the file name errors are reported against.
ApplyOutcome apply_ruleset(Socket& socket, const ir::Ruleset& ruleset,
                           const std::string& policy_label);

// Changes elements of sets the table in force holds (built from `ruleset`), in one batch
// conditional on the generation like apply_ruleset, without its dry run. `label` names the
// change in errors.
ApplyOutcome apply_elements(Socket& socket, const ir::Ruleset& ruleset,
                            const std::vector<ElementChange>& changes, const std::string& label);

}  // namespace sekisho::nft
