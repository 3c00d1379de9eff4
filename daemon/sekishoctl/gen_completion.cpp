// sekisho_gen_completion OUT: writes sekishoctl's bash completion, made from the command
// list sekishoctl itself runs (core and plugins' commands), to OUT. A build tool: the
// completion is a build output, installed as share/bash-completion/completions/sekishoctl.
// Exit 1 (and no file) when the command list breaks a rule (command_list_problem).

#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>

#include "daemon/common/exit_codes.hpp"
#include "daemon/sekishoctl/commands.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: sekisho_gen_completion OUT\n";
    return sekisho::kExitUsage;
  }
  const auto& commands = sekisho::ctl::commands();
  if (auto problem = sekisho::ctl::command_list_problem(commands)) {
    std::cerr << "sekisho_gen_completion: " << *problem << '\n';
    return sekisho::kExitNegative;
  }
  // Written beside OUT and renamed, so a failed run never leaves half a script.
  const std::string out = argv[1];
  const std::string partial = out + ".partial";
  {
    std::ofstream file(partial, std::ios::binary | std::ios::trunc);
    file << sekisho::ctl::bash_completion(commands);
    file.close();
    if (!file) {
      std::cerr << "sekisho_gen_completion: cannot write " << partial << '\n';
      std::remove(partial.c_str());
      return sekisho::kExitNegative;
    }
  }
  if (std::rename(partial.c_str(), out.c_str()) != 0) {
    std::cerr << "sekisho_gen_completion: cannot rename " << partial << " to " << out << '\n';
    std::remove(partial.c_str());
    return sekisho::kExitNegative;
  }
  return sekisho::kExitOk;
}
