// sekishod: keeps a sekisho policy in force in the kernel (see service.hpp).

#include <iostream>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <unistd.h>

#include "daemon/common/exit_codes.hpp"
#include "daemon/common/log.hpp"
#include "daemon/sekishoctl/args.hpp"
#include "daemon/sekishoctl/commands.hpp"
#include "daemon/sekishod/restore.hpp"
#include "daemon/sekishod/service.hpp"

namespace {

constexpr const char* kDefaultPolicy = "/etc/sekisho/policy.yaml";
constexpr const char* kDefaultStateDir = "/var/lib/sekisho";

constexpr const char* kUsage =
    "usage: sekishod [--policy FILE] [--state-dir DIR] [--control PATH]\n"
    "                [--broker-dir DIR] [--broker-socket PATH] [--broker-store DIR]\n"
    "       sekishod --check [--policy FILE] [--json]\n"
    "       sekishod --restore [--state-dir DIR]\n"
    "\n"
    "Compiles the policy FILE (default /etc/sekisho/policy.yaml) into table inet sekisho,\n"
    "applies it in one atomic netlink batch and keeps it in force: a change to the table\n"
    "by anyone else is logged with the process that made it and undone. SIGHUP reloads\n"
    "FILE (an invalid file changes nothing); SIGTERM stops the daemon and leaves the\n"
    "ruleset in force. Tells systemd READY=1 once the first apply has committed, and\n"
    "sends WATCHDOG=1 when $WATCHDOG_USEC asks for it.\n"
    "\n"
    "  --policy FILE     the policy (default /etc/sekisho/policy.yaml)\n"
    "  --state-dir DIR   last-good policy, audit log and its signing key, a pending\n"
    "                    confirmation (default /var/lib/sekisho); one sekishod per DIR\n"
    "  --control PATH    control socket path (default $SEKISHO_CONTROL, else\n"
    "                    /run/sekisho/control.sock), for sekishoctl\n"
    "  --broker-dir DIR  where sekishod writes the local MQTT broker's configuration,\n"
    "                    ACL and password file (default /etc/sekisho/broker)\n"
    "  --broker-socket PATH  the broker's Unix socket for sekishod, as the configuration\n"
    "                    names it (default /run/sekisho-broker/mqtt.sock)\n"
    "  --broker-store DIR  the broker's message store, as the configuration names it\n"
    "                    (default /var/lib/sekisho-broker)\n"
    "  --check           check FILE like 'sekishoctl check' and exit; touches nothing\n"
    "  --restore         load the last-good ruleset, or with none the lockdown (only\n"
    "                    loopback passes), and exit: for the early-boot unit\n"
    "  --version         print the version\n"
    "  --help            this text\n"
    "\n"
    "exit codes: 0 ok, 1 the kernel refused the ruleset, 2 bad command line,\n"
    "  69 nftables, the control socket or DIR unavailable (another sekishod uses it),\n"
    "  78 invalid policy\n";

int run(int argc, char** argv) {
  std::vector<std::string> argv_strings(argv, argv + argc);
  std::string error;
  const sekisho::ctl::OptionSpec spec{
      {"policy", "state-dir", "broker-dir", "broker-socket", "broker-store"},
      {"check", "restore", "version"}};
  auto args = sekisho::ctl::parse_args(argv_strings, spec, error);
  if (args && !args->command.empty()) {
    error = "unexpected argument '" + args->command + "'";
    args.reset();
  }
  if (!args) {
    std::cerr << "sekishod: " << error << '\n' << kUsage;
    return sekisho::kExitUsage;
  }
  if (args->help) {
    std::cout << kUsage;
    return sekisho::kExitOk;
  }
  if (args->flag("version")) {
    std::cout << "sekishod " << SEKISHO_VERSION << '\n';
    return sekisho::kExitOk;
  }
  const std::string policy = args->value("policy") ? *args->value("policy") : kDefaultPolicy;
  const std::string state_dir =
      args->value("state-dir") ? *args->value("state-dir") : kDefaultStateDir;
  if (args->flag("check") && args->flag("restore")) {
    std::cerr << "sekishod: --check and --restore exclude each other\n" << kUsage;
    return sekisho::kExitUsage;
  }
  if (args->flag("check")) {
    sekisho::ctl::Args check = *args;
    check.positional = {policy};
    sekisho::ctl::Io io{
        std::cout, std::cerr,
        std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now())};
    return sekisho::ctl::run_check(check, io);
  }
  if (args->flag("restore")) {
    return sekisho::daemon::restore_last_good(state_dir);
  }

  auto value_or = [&](const char* option, const char* fallback) {
    return args->value(option) ? *args->value(option) : std::string(fallback);
  };
  const sekisho::cloud::BrokerPaths broker{
      value_or("broker-dir", sekisho::cloud::kDefaultBrokerDir),
      value_or("broker-socket", sekisho::cloud::kDefaultBrokerSocket),
      value_or("broker-store", sekisho::cloud::kDefaultBrokerStore)};
  if (std::string problem = sekisho::cloud::broker_paths_problem(broker); !problem.empty()) {
    std::cerr << "sekishod: " << problem << '\n' << kUsage;
    return sekisho::kExitUsage;
  }
  boost::asio::io_context io;
  sekisho::daemon::Service service(io, {policy, state_dir, args->control, broker});
  if (int code = service.start(); code != sekisho::kExitOk) {
    return code;
  }
  io.run();
  return sekisho::kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  sekisho::set_log_program("sekishod");
  try {
    return run(argc, argv);
  } catch (const std::exception& error) {
    // Only outside the event loop (its handlers catch their own): at start, before the
    // first apply committed. Whatever the kernel held stays.
    sekisho::log_error(std::string("stopped: ") + error.what());
    return sekisho::kExitNegative;
  }
}
