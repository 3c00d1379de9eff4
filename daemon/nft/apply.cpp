#include "daemon/nft/apply.hpp"

#include <cerrno>
#include <thread>

#include "daemon/nft/batch.hpp"
#include "daemon/nft/readback.hpp"
#include "daemon/nft/socket.hpp"

namespace sekisho::nft {

namespace {

// Each attempt loses only to a commit that landed between reading the generation and
// sending the batch: a few tries are plenty even with other tools busy.
constexpr int kAttempts = 8;

std::chrono::microseconds since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                               start);
}

// Sends `batch` conditional on the generation read just before (retried while others
// commit), after a kernel dry run when `check_first`.
void send_conditional(Socket& socket, Batch& batch, bool check_first,
                      const std::string& policy_label, ApplyOutcome& out) {
  const auto start = std::chrono::steady_clock::now();
  out.messages = batch.seqs.size();
  out.bytes = batch.bytes.size();
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    if (attempt > 0) {
      // Someone else is committing: give them a moment, a little longer each time.
      std::this_thread::sleep_for(std::chrono::milliseconds(5 << attempt));
    }
    std::uint32_t genid = 0;
    if (std::error_code error = read_genid(socket, genid)) {
      out.errors.push_back("netlink: cannot read the nftables generation: " + error.message());
      return;
    }
    set_expected_genid(batch, genid);
    auto mark = std::chrono::steady_clock::now();
    if (check_first) {
      BatchOutcome checked = socket.send_batch(batch, Send::DryRun);
      out.dry_run = since(mark);
      if (checked.batch_error == ERESTART) {
        continue;
      }
      if (!checked.ok()) {
        out.errors = describe(batch, checked, policy_label);
        return;
      }
      mark = std::chrono::steady_clock::now();
    }
    BatchOutcome applied = socket.send_batch(batch, Send::Commit);
    out.commit = since(mark);
    if (applied.batch_error == ERESTART) {
      continue;
    }
    if (!applied.ok()) {
      out.errors = describe(batch, applied, policy_label);
      return;
    }
    out.ok = true;
    out.genid = genid + 1;  // the kernel held the commit lock from the check to the end
    out.took += since(start);
    return;
  }
  out.errors.push_back(policy_label + ": other processes kept changing nftables; gave up after " +
                       std::to_string(kAttempts) + " attempts");
}

}  // namespace

ApplyOutcome apply_ruleset(Socket& socket, const ir::Ruleset& ruleset,
                           const std::string& policy_label) {
  ApplyOutcome out;
  const auto start = std::chrono::steady_clock::now();
  Batch batch = build_replace_batch(ruleset, 1);
  out.build = since(start);
  out.took = out.build;
  send_conditional(socket, batch, true, policy_label, out);
  return out;
}

ApplyOutcome apply_elements(Socket& socket, const ir::Ruleset& ruleset,
                            const std::vector<ElementChange>& changes, const std::string& label) {
  ApplyOutcome out;
  const auto start = std::chrono::steady_clock::now();
  Batch batch = build_element_batch(ruleset, changes, 1);
  out.build = since(start);
  out.took = out.build;
  // Small and atomic: the commit itself is the check.
  send_conditional(socket, batch, false, label, out);
  return out;
}

}  // namespace sekisho::nft
