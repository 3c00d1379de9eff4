#include "daemon/common/exit_codes.hpp"
#include "daemon/sekishoctl/commands.hpp"
#include "daemon/sekishoctl/diagnostics_output.hpp"
#include "policy/compile.hpp"
#include "policy/load.hpp"
#include "policy/render_nft.hpp"

namespace sekisho::ctl {

int run_compile(const Args& args, Io& io) {
  if (args.positional.size() != 1) {
    io.err << "sekishoctl compile: expected one policy FILE\n"
           << "usage: sekishoctl compile FILE\n";
    return kExitUsage;
  }
  policy::LoadResult loaded = policy::load_policy_file(args.positional[0]);
  // Warnings too go to stderr: stdout holds only the ruleset, ready for `nft -f`.
  print_diagnostics(loaded.diagnostics, io.err);
  if (!loaded.policy) {
    return kExitConfig;
  }
  ir::Ruleset ruleset = policy::compile(*loaded.policy);
  io.out << ir::render_nft(ruleset, args.positional[0]);
  return kExitOk;
}

}  // namespace sekisho::ctl
