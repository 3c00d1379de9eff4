// Commands answered by sekishod over the control socket, and `methods`, which lists what
// the socket offers without asking it.

#include <iomanip>

#include "daemon/common/exit_codes.hpp"
#include "daemon/control/methods.hpp"
#include "daemon/sekishoctl/client.hpp"
#include "daemon/sekishoctl/commands.hpp"
#include "plugins/methods.hpp"

namespace sekisho::ctl {

int run_status(const Args& args, Io& io) {
  if (!args.positional.empty()) {
    io.err << "sekishoctl status: takes no arguments\n";
    return kExitUsage;
  }
  Reply reply = call(args.control, "status");
  if (reply.exit_code != kExitOk) {
    print_error(io.err, "status", reply);
    return reply.exit_code;
  }
  const nlohmann::json& s = reply.result;
  if (args.json) {
    io.out << s.dump(2) << '\n';
    return kExitOk;
  }
  io.out << "policy:         " << s.value("policy", "") << '\n'
         << "sha256:         " << s.value("policy_sha256", "") << '\n'
         << "applied:        " << s.value("last_apply", "") << ", generation "
         << s.value("generation", 0) << " (" << s.value("rules", 0) << " rules, "
         << s.value("elements", 0) << " set elements)\n"
         << "confirmation:   ";
  if (const nlohmann::json pending = s.value("pending_confirmation", nlohmann::json());
      pending.is_object()) {
    io.out << "PENDING: " << pending.value("source", "") << " (sha256 "
           << pending.value("sha256", "").substr(0, 16) << "…) applied by "
           << pending.value("applied_by", "") << " rolls back at " << pending.value("deadline", "")
           << " (" << pending.value("seconds_left", 0) << " s left) unless confirmed\n";
  } else {
    io.out << "none pending\n";
  }
  io.out << "drift restores: " << s.value("drift_restores", 0) << '\n'
         << "clock:          "
         << (s.value("clock_synchronised", false) ? "synchronised" : "NOT synchronised") << '\n'
         << "sessions open:  " << s.value("sessions_open", 0) << '\n';
  const nlohmann::json audit = s.value("audit", nlohmann::json::object());
  if (const nlohmann::json changed = audit.value("changed", nlohmann::json());
      changed.is_string()) {
    io.out << "audit:          CHANGED UNDER SEKISHOD: " << changed.get<std::string>() << '\n';
  } else if (const nlohmann::json problem = audit.value("key_problem", nlohmann::json());
             problem.is_string()) {
    io.out << "audit:          NOT SIGNING: " << problem.get<std::string>()
           << "; requests that widen access are refused (75)\n";
  } else if (audit.is_object()) {
    io.out << "audit:          signing; exported through record "
           << audit.value("exported_through", 0) << '\n';
  }
  print_wan(io.out, s.value("wan", nlohmann::json()));
  print_cloud(io.out, s.value("cloud", nlohmann::json()));
  return kExitOk;
}

int run_verify_daemon(const Args& args, Io& io) {
  Reply reply = call(args.control, "verify");
  if (reply.exit_code != kExitOk) {
    print_error(io.err, "verify", reply);
    return reply.exit_code;
  }
  const nlohmann::json& v = reply.result;
  if (args.json) {
    io.out << v.dump(2) << '\n';
  } else if (!v.value("exists", false)) {
    io.out << "table " << v.value("table", "") << " does not exist\n";
  } else if (v.value("matches", false)) {
    io.out << "table " << v.value("table", "") << " matches " << v.value("policy", "") << " ("
           << v.value("objects", 0) << " objects, generation " << v.value("generation", 0) << ")\n";
  } else {
    io.out << "table " << v.value("table", "") << " differs from " << v.value("policy", "")
           << ":\n";
    for (const auto& line : v.value("differences", nlohmann::json::array())) {
      io.out << "  " << line.get<std::string>() << '\n';
    }
  }
  return v.value("matches", false) ? kExitOk : kExitNegative;
}

int run_methods(const Args& args, Io& io) {
  if (args.json) {
    nlohmann::json list = nlohmann::json::array();
    for (const control::MethodInfo* method : plugins::all_methods()) {
      list.push_back({{"name", method->name},
                      {"least_role", control::role_name(method->least_role)},
                      {"summary", method->summary}});
    }
    io.out << list.dump(2) << '\n';
    return kExitOk;
  }
  for (const control::MethodInfo* method : plugins::all_methods()) {
    io.out << std::left << std::setw(16) << method->name << std::setw(10)
           << control::role_name(method->least_role) << method->summary << '\n';
  }
  return kExitOk;
}

}  // namespace sekisho::ctl

namespace sekisho::ctl {

namespace {

int audit_show(const Args& args, Io& io) {
  nlohmann::json params = nlohmann::json::object();
  if (const std::string* since = args.value("since")) {
    try {
      params["since"] = std::stoll(*since);
    } catch (const std::exception&) {
      io.err << "sekishoctl audit show: --since takes a sequence number\n";
      return kExitUsage;
    }
  }
  if (const std::string* kind = args.value("kind")) {
    params["kind"] = *kind;
  }
  Reply reply = call(args.control, "audit.show", params);
  if (reply.exit_code != kExitOk) {
    print_error(io.err, "audit show", reply);
    return reply.exit_code;
  }
  if (args.json) {
    io.out << reply.result.dump(2) << '\n';
    return kExitOk;
  }
  for (const auto& record : reply.result) {
    const nlohmann::json actor = record.value("actor", nlohmann::json::object());
    io.out << std::setw(6) << record.value("seq", 0) << "  " << record.value("time", "") << "  "
           << actor.value("user", "") << " (" << actor.value("role", "") << ")  "
           << record.value("kind", "") << "  "
           << (record.contains("unreadable")
                   ? "UNREADABLE: " + record.value("unreadable", "")
                   : record.value("details", nlohmann::json::object()).dump())
           << '\n';
  }
  return kExitOk;
}

int audit_verify(const Args& args, Io& io) {
  Reply reply = call(args.control, "audit.verify");
  if (reply.exit_code != kExitOk) {
    print_error(io.err, "audit verify", reply);
    return reply.exit_code;
  }
  const nlohmann::json& v = reply.result;
  if (args.json) {
    io.out << v.dump(2) << '\n';
  } else if (v.value("ok", false)) {
    io.out << "audit log intact: " << v.value("records", 0)
           << " records, chain unbroken, every record signed in time\n";
    for (const nlohmann::json& note : v.value("notes", nlohmann::json::array())) {
      io.out << "  note: " << note.get<std::string>() << '\n';
    }
    if (const nlohmann::json from = v.value("unsigned_from", nlohmann::json()); !from.is_null()) {
      const std::int64_t count = v.value("unsigned_records", std::int64_t{0});
      io.out << "  the newest " << count << (count == 1 ? " record" : " records") << " (from seq "
             << from.get<std::int64_t>()
             << ") wait for their checkpoint, signed within audit.checkpoint_every\n";
    }
  } else {
    io.out << "audit log TAMPERED: " << v.value("reason", "") << '\n';
  }
  return v.value("ok", false) ? kExitOk : kExitNegative;
}

}  // namespace

int run_audit(const Args& args, Io& io) {
  const std::string what = args.positional.empty() ? "" : args.positional[0];
  if (args.positional.size() == 1 && what == "show") {
    return audit_show(args, io);
  }
  if (args.positional.size() == 1 && what == "verify" && args.value("receipt")) {
    return run_audit_verify_receipt(args, io);  // offline: no daemon
  }
  if (args.positional.size() == 1 && what == "verify" && args.value("bundle")) {
    return run_audit_verify_bundle(args, io);  // offline: no daemon
  }
  if (args.positional.size() == 1 && what == "verify" && args.value("pubkey")) {
    io.err << "sekishoctl audit verify: --pubkey goes with --bundle FILE or --receipt FILE (an "
              "offline check); the daemon's log is checked with its own key\n";
    return kExitUsage;
  }
  if (args.positional.size() == 1 && what == "verify") {
    return audit_verify(args, io);
  }
  if (args.positional.size() == 1 && what == "export") {
    return run_audit_export(args, io);
  }
  if (args.positional.size() == 1 && what == "pubkey") {
    Reply reply = call(args.control, "audit.pubkey");
    if (reply.exit_code != kExitOk) {
      print_error(io.err, "audit pubkey", reply);
      return reply.exit_code;
    }
    io.out << reply.result.value("pem", "");
    return kExitOk;
  }
  io.err << "usage: sekishoctl audit show [--since SEQ] [--kind KIND] [--json]\n"
            "       sekishoctl audit verify [--json]\n"
            "       sekishoctl audit verify --bundle FILE --pubkey FILE [--json]\n"
            "       sekishoctl audit verify --receipt FILE [--pubkey FILE] [--json]\n"
            "       sekishoctl audit export --since DATE --out FILE [--json]\n"
            "       sekishoctl audit pubkey\n";
  return kExitUsage;
}

}  // namespace sekisho::ctl
