// The probe's part of sekishoctl: `sekishoctl probe stats|note --text TEXT`, calling the
// probe's control methods, to prove that a plugin's commands are run, listed in --help and
// completed like the core's.

#include "daemon/common/exit_codes.hpp"
#include "daemon/sekishoctl/client.hpp"
#include "plugins/ctl_part.hpp"
#include "tests/plugins/probe_plugin.hpp"

namespace sekisho::plugins::probe {

namespace {

constexpr const char* kUsage =
    "usage: sekishoctl probe stats [--json]\n"
    "       sekishoctl probe note --text TEXT\n"
    "       sekishoctl probe watch\n";

// One line per item, as it comes.
int watch(const ctl::Args& args, ctl::Io& io) {
  ctl::Reply reply = ctl::follow(args.control, std::string(kWatch.name), nlohmann::json::object(),
                                 [&](const nlohmann::json& item) {
                                   io.out << item.dump() << std::endl;
                                   return true;
                                 });
  if (reply.exit_code != kExitOk) {
    ctl::print_error(io.err, "probe watch", reply);
  }
  return reply.exit_code;
}

int run(const ctl::Args& args, ctl::Io& io) {
  if (args.positional.size() == 1 && args.positional[0] == "watch") {
    return watch(args, io);
  }
  const bool stats = args.positional.size() == 1 && args.positional[0] == "stats";
  const bool note = args.positional.size() == 1 && args.positional[0] == "note";
  if (!stats && !note) {
    io.err << "sekishoctl probe: stats, note or watch\n" << kUsage;
    return kExitUsage;
  }
  nlohmann::json params = nlohmann::json::object();
  if (note) {
    const std::string* text = args.value("text");
    if (!text) {
      io.err << "sekishoctl probe note: --text TEXT is required\n" << kUsage;
      return kExitUsage;
    }
    params["text"] = *text;
  }
  const std::string method(note ? kNote.name : kStats.name);
  ctl::Reply reply = ctl::call(args.control, method, params);
  if (reply.exit_code != kExitOk) {
    ctl::print_error(io.err, "probe " + args.positional[0], reply);
    return reply.exit_code;
  }
  if (args.json || stats) {
    io.out << reply.result.dump(args.json ? 2 : -1) << '\n';
  } else {
    io.out << "noted\n";
  }
  return kExitOk;
}

constexpr ctl::Option kOptions[] = {{"text", ctl::Value::Text, {}, "note"}};

constexpr ctl::Command kCommands[] = {
    {"probe", "the test plugin's figures and notes",
     "usage: sekishoctl probe stats [--json]\n"
     "       sekishoctl probe note --text TEXT\n"
     "       sekishoctl probe watch\n"
     "\n"
     "stats: the packets the test plugin read from its log group (role viewer).\n"
     "note: the test plugin records TEXT in the audit log from a thread of its own (role\n"
     "operator).\n"
     "watch: one line per packet it reads, until interrupted (role viewer).\n",
     kOptions, run, "stats note watch"},
};

}  // namespace

const CtlPart ctl_part{kCommands};

}  // namespace sekisho::plugins::probe
