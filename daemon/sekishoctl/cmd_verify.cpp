// `sekishoctl verify`: asks sekishod to read table inet sekisho back and compare it with
// the policy it runs. `sekishoctl verify --policy FILE` does the same here, without the
// daemon: it reads the kernel of the caller's network namespace and compares it with
// what FILE compiles to now (scheduled sets filled and the WAN gate closed as their
// schedules say; jump sessions and link overrides are known to the daemon only).

#include <cerrno>

#include "daemon/common/exit_codes.hpp"
#include "daemon/nft/batch.hpp"
#include "daemon/nft/image.hpp"
#include "daemon/nft/readback.hpp"
#include "daemon/sekishoctl/commands.hpp"
#include "daemon/sekishoctl/diagnostics_output.hpp"
#include "policy/compile.hpp"
#include "policy/load.hpp"
#include "policy/open_schedules.hpp"

namespace sekisho::ctl {

int run_verify(const Args& args, Io& io) {
  const std::string* file = args.value("policy");
  if (!args.positional.empty()) {
    io.err << "sekishoctl verify: unexpected argument '" << args.positional[0] << "'\n"
           << "usage: sekishoctl verify [--policy FILE]\n";
    return kExitUsage;
  }
  if (!file) {
    return run_verify_daemon(args, io);
  }
  policy::LoadResult loaded = policy::load_policy_file(*file);
  print_diagnostics(loaded.diagnostics, io.err);
  if (!loaded.policy) {
    return kExitConfig;
  }
  ir::Ruleset ruleset = policy::compile(*loaded.policy);
  policy::fill_as_scheduled(ruleset, *loaded.policy, io.now);
  const nft::TableImage expected = nft::image_of_batch(nft::build_replace_batch(ruleset, 1));

  nft::Readback kernel = nft::read_table(ruleset.table);
  if (kernel.error) {
    io.err << "sekishoctl verify: cannot read nftables: " << kernel.error.message() << '\n';
    return kernel.error.value() == EPERM ? kExitForbidden : kExitUnavailable;
  }
  if (!kernel.image.has_table()) {
    io.out << "table inet " << ruleset.table << " does not exist\n";
    return kExitNegative;
  }
  const std::vector<std::string> differences = nft::differences(expected, kernel.image);
  if (differences.empty()) {
    io.out << "table inet " << ruleset.table << " matches " << *file << " ("
           << expected.lines().size() << " objects, generation " << kernel.genid << ")\n";
    return kExitOk;
  }
  io.out << "table inet " << ruleset.table << " differs from " << *file << ":\n";
  for (const std::string& line : differences) {
    io.out << "  " << line << '\n';
  }
  return kExitNegative;
}

}  // namespace sekisho::ctl
