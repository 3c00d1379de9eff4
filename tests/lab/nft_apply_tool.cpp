// Test tool: applies a policy with sekisho's own netlink backend (no nft binary), in the
// caller's network namespace, scheduled sets filled (and the WAN gate closed) as their schedules
// are now. The lab runs it inside a private namespace only.
//   sekisho_nft_apply POLICY.yaml [--dry-run] [--break-a-jump] [--as-compiled]
// --as-compiled leaves scheduled sets empty, as `sekishoctl compile` prints them.
// --break-a-jump points one verdict-map element at a chain that does not exist, so the
// kernel must refuse the batch and the error must name the policy line.
// Exit 0 applied (or would apply), 1 refused by the kernel, 78 invalid policy.

#include <chrono>
#include <cstring>
#include <iostream>

#include "daemon/nft/batch.hpp"
#include "daemon/nft/socket.hpp"
#include "policy/compile.hpp"
#include "policy/load.hpp"
#include "policy/open_schedules.hpp"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: sekisho_nft_apply POLICY.yaml [--dry-run]\n";
    return 2;
  }
  bool dry_run = false;
  bool break_a_jump = false;
  bool as_compiled = false;
  for (int i = 2; i < argc; ++i) {
    as_compiled = as_compiled || std::strcmp(argv[i], "--as-compiled") == 0;
    dry_run = dry_run || std::strcmp(argv[i], "--dry-run") == 0;
    break_a_jump = break_a_jump || std::strcmp(argv[i], "--break-a-jump") == 0;
  }
  auto loaded = sekisho::policy::load_policy_file(argv[1]);
  if (!loaded.policy) {
    std::cerr << argv[1] << ": invalid policy\n";
    return 78;
  }
  auto ruleset = sekisho::policy::compile(*loaded.policy);
  if (!as_compiled) {
    sekisho::policy::fill_as_scheduled(
        ruleset, *loaded.policy,
        std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now()));
  }
  if (break_a_jump) {
    for (auto& set : ruleset.sets) {
      if (set.verdict_map && !set.anonymous && !set.elements.empty()) {
        set.elements.front().verdict->chain = "no_such_chain";
        break;
      }
    }
  }
  auto batch = sekisho::nft::build_replace_batch(ruleset, 1);
  sekisho::nft::Socket socket;
  if (std::error_code error = socket.open()) {
    std::cerr << "netlink: " << error.message() << '\n';
    return 69;
  }
  auto outcome =
      socket.send_batch(batch, dry_run ? sekisho::nft::Send::DryRun : sekisho::nft::Send::Commit);
  for (const std::string& line : sekisho::nft::describe(batch, outcome, argv[1])) {
    std::cerr << line << '\n';
  }
  std::cout << (dry_run ? "dry run: " : "apply: ") << batch.seqs.size() << " messages, "
            << batch.bytes.size() << " bytes: " << (outcome.ok() ? "ok" : "refused") << '\n';
  return outcome.ok() ? 0 : 1;
}
