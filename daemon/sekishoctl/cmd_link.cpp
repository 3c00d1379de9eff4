// `sekishoctl link ...` and `sekishoctl schedule`: the WAN link outside operating hours
// (JPCERT/CC W-2) and the schedules that decide it, through sekishod.
//   link [status] (viewer) · link up --for DURATION --reason TEXT ·
//   link down --reason TEXT [--for DURATION] · link auto --reason TEXT (operator)
//   schedule [--transitions N] (viewer)

#include <string>

#include <nlohmann/json.hpp>

#include "daemon/common/exit_codes.hpp"
#include "daemon/sekishoctl/client.hpp"
#include "daemon/sekishoctl/commands.hpp"

namespace sekisho::ctl {

namespace {

constexpr const char* kLinkUsage =
    "usage: sekishoctl link [status]\n"
    "       sekishoctl link up --for DURATION --reason TEXT\n"
    "       sekishoctl link down --reason TEXT [--for DURATION]\n"
    "       sekishoctl link auto --reason TEXT\n";

int link_usage(Io& io, const std::string& problem) {
  io.err << "sekishoctl link: " << problem << '\n' << kLinkUsage;
  return kExitUsage;
}

std::string text(const nlohmann::json& value) {
  return value.is_string() ? value.get<std::string>() : "";
}

}  // namespace

// The WAN part of `status`, `link` and `schedule`.
void print_wan(std::ostream& out, const nlohmann::json& wan) {
  if (!wan.is_object()) {
    out << "wan:            none in the policy\n";
    return;
  }
  out << "wan:            " << wan.value("link", "") << ' '
      << (!wan.value("present", false) ? "MISSING"
          : wan.value("up", false)     ? "up"
                                       : "down")
      << ", gate " << wan.value("gate", "")
      << (text(wan.value("gate_pending", nlohmann::json())).empty()
              ? std::string()
              : " (to be " + text(wan.value("gate_pending", nlohmann::json())) +
                    ": the kernel has not taken it yet)")
      << "; to be " << (wan.value("to_be_up", true) ? "up" : "down") << ": " << wan.value("why", "")
      << '\n';
  if (const nlohmann::json& o = wan.value("override", nlohmann::json()); o.is_object()) {
    out << "  override:     " << o.value("kind", "") << " by " << o.value("by", "") << " since "
        << o.value("since", "")
        << (text(o.value("until", nlohmann::json())).empty()
                ? std::string(" until 'link auto'")
                : " until " + text(o.value("until", nlohmann::json())))
        << ": " << o.value("reason", "") << '\n';
  }
  if (const nlohmann::json& r = wan.value("recorded", nlohmann::json()); r.is_object()) {
    out << "  recorded:     " << r.value("addresses", 0) << " addresses, " << r.value("routes", 0)
        << " routes (restored when the link comes up)\n";
  }
  if (const nlohmann::json& h = wan.value("last_hook", nlohmann::json()); h.is_object()) {
    out << "  power hook:   " << h.value("hook", "") << ' ' << h.value("argument", "") << ": "
        << h.value("outcome", "") << '\n';
  }
}

int run_link(const Args& args, Io& io) {
  const std::string action = args.positional.empty() ? "status" : args.positional[0];
  if (args.positional.size() > 1) {
    return link_usage(io, "unexpected argument '" + args.positional[1] + "'");
  }
  if (action != "status" && action != "up" && action != "down" && action != "auto") {
    return link_usage(io, "unknown action '" + action + "'");
  }
  nlohmann::json params = nlohmann::json::object();
  if (action != "status") {
    const std::string* reason = args.value("reason");
    if (!reason || reason->empty()) {
      return link_usage(io, "--reason TEXT is required: it goes into the audit log");
    }
    params["reason"] = *reason;
    std::string error;
    std::optional<std::int64_t> seconds = args.duration("for", error);
    if (!error.empty()) {
      return link_usage(io, error);
    }
    if (action == "up" && !seconds) {
      return link_usage(io, "link up needs --for DURATION: an override outside hours ends");
    }
    if (action == "auto" && seconds) {
      return link_usage(io, "link auto takes no --for");
    }
    if (seconds) {
      params["for_seconds"] = *seconds;
    }
  }
  Reply reply = call(args.control, "link." + action, params);
  if (reply.exit_code != kExitOk) {
    print_error(io.err, "link " + action, reply);
    return reply.exit_code;
  }
  if (args.json) {
    io.out << reply.result.dump(2) << '\n';
  } else {
    print_wan(io.out, reply.result);
  }
  return kExitOk;
}

int run_schedule(const Args& args, Io& io) {
  if (!args.positional.empty()) {
    io.err << "sekishoctl schedule: takes no arguments\nusage: sekishoctl schedule [--transitions "
              "N]\n";
    return kExitUsage;
  }
  nlohmann::json params = nlohmann::json::object();
  if (const std::string* count = args.value("transitions")) {
    try {
      params["transitions"] = std::stoul(*count);
    } catch (const std::exception&) {
      io.err << "sekishoctl schedule: --transitions takes a number\n";
      return kExitUsage;
    }
  }
  Reply reply = call(args.control, "schedule.list", params);
  if (reply.exit_code != kExitOk) {
    print_error(io.err, "schedule", reply);
    return reply.exit_code;
  }
  const nlohmann::json& r = reply.result;
  if (args.json) {
    io.out << r.dump(2) << '\n';
    return kExitOk;
  }
  io.out << "clock:          " << r.value("local", "") << " (" << r.value("timezone", "") << ")\n";
  const nlohmann::json schedules = r.value("schedules", nlohmann::json::array());
  if (schedules.empty()) {
    io.out << "no schedules in the policy\n";
  }
  for (const nlohmann::json& s : schedules) {
    io.out << s.value("name", "") << ": " << (s.value("open", false) ? "OPEN" : "closed");
    std::string uses;
    for (const nlohmann::json& rule : s.value("rules", nlohmann::json::array())) {
      uses += (uses.empty() ? "" : ", ") + ("rule '" + rule.get<std::string>() + "'");
    }
    if (s.value("wan_up", false)) {
      uses += (uses.empty() ? "" : ", ") + std::string("wan.up");
    }
    io.out << (uses.empty() ? " (unused)" : " (" + uses + ")") << '\n';
    const nlohmann::json next = s.value("next", nlohmann::json::array());
    if (next.empty()) {
      io.out << "    no transition within 400 days\n";
    }
    for (const nlohmann::json& t : next) {
      io.out << "    " << (t.value("opens", false) ? "opens  " : "closes ") << t.value("local", "")
             << "  (" << t.value("at", "") << ")\n";
    }
  }
  print_wan(io.out, r.value("wan", nlohmann::json()));
  return kExitOk;
}

}  // namespace sekisho::ctl
