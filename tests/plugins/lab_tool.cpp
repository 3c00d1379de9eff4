// Test tool: sekishoctl's own `verify --policy`, and an apply with sekisho's
// netlink backend, in a binary whose registry holds the test plugin "probe"
// (registry.cpp), so the lab can put a plugin's ruleset into a real kernel. Run inside a
// private network namespace only (tests/plugins/kernel_sets_lab.sh).
//   sekisho_plugin_lab_tool apply|verify POLICY.yaml
// Exit codes as sekishoctl's; apply: 0 applied, 1 refused, 78 invalid policy.

#include <chrono>
#include <cstring>
#include <iostream>

#include "daemon/nft/apply.hpp"
#include "daemon/nft/socket.hpp"
#include "daemon/sekishoctl/commands.hpp"
#include "policy/compile.hpp"
#include "policy/load.hpp"

namespace {

int apply(const char* file) {
  auto loaded = sekisho::policy::load_policy_file(file);
  if (!loaded.policy) {
    std::cerr << file << ": invalid policy\n";
    return 78;
  }
  sekisho::nft::Socket socket;
  if (std::error_code error = socket.open()) {
    std::cerr << "netlink: " << error.message() << '\n';
    return 69;
  }
  auto outcome =
      sekisho::nft::apply_ruleset(socket, sekisho::policy::compile(*loaded.policy), file);
  for (const std::string& error : outcome.errors) {
    std::cerr << error << '\n';
  }
  return outcome.ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: sekisho_plugin_lab_tool apply|verify POLICY.yaml\n";
    return 2;
  }
  if (std::strcmp(argv[1], "apply") == 0) {
    return apply(argv[2]);
  }
  if (std::strcmp(argv[1], "verify") != 0) {
    std::cerr << "usage: sekisho_plugin_lab_tool apply|verify POLICY.yaml\n";
    return 2;
  }
  std::string error;
  auto args = sekisho::ctl::parse_args({"sekishoctl", "verify", "--policy", argv[2]},
                                       sekisho::ctl::OptionSpec{{"policy"}, {}}, error);
  if (!args) {
    std::cerr << error << '\n';
    return 2;
  }
  sekisho::ctl::Io io{
      std::cout, std::cerr,
      std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now())};
  return sekisho::ctl::run_verify(*args, io);
}
