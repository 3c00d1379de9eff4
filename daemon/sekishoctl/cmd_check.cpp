#include <nlohmann/json.hpp>

#include "daemon/common/exit_codes.hpp"
#include "daemon/sekishoctl/commands.hpp"
#include "daemon/sekishoctl/diagnostics_output.hpp"
#include "policy/load.hpp"

namespace sekisho::ctl {

int run_check(const Args& args, Io& io) {
  if (args.positional.size() != 1) {
    io.err << "sekishoctl check: expected one policy FILE\n"
           << "usage: sekishoctl check FILE [--json]\n";
    return kExitUsage;
  }
  policy::LoadResult result = policy::load_policy_file(args.positional[0]);
  const policy::Diagnostics& diagnostics = result.diagnostics;
  if (args.json) {
    io.out << diagnostics_json(diagnostics).dump(2) << '\n';
  } else {
    print_diagnostics(diagnostics, io.err);
    if (diagnostics.has_errors()) {
      io.err << diagnostics.file() << ": invalid: " << diagnostics.error_count() << " error(s), "
             << diagnostics.warning_count() << " warning(s)\n";
    } else {
      io.out << diagnostics.file() << ": valid, " << diagnostics.warning_count() << " warning(s)\n";
    }
  }
  return diagnostics.has_errors() ? kExitConfig : kExitOk;
}

}  // namespace sekisho::ctl
