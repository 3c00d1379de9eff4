// `sekishoctl session ...`: jump sessions for remote maintenance, through sekishod.
//   open PEER TARGET --for DURATION --reason TEXT [--ticket ID]   (operator)
//   list [--all] · show ID · receipt ID                             (viewer)
//   extend ID --by DURATION [--reason TEXT] · close ID|--all --reason TEXT (operator)
// The daemon checks roles, pairs and durations; this side parses durations and prints.

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "daemon/common/exit_codes.hpp"
#include "daemon/sekishoctl/client.hpp"
#include "daemon/sekishoctl/commands.hpp"
#include "policy/units.hpp"

namespace sekisho::ctl {

namespace {

constexpr const char* kUsage =
    "usage: sekishoctl session open PEER TARGET --for DURATION --reason TEXT [--ticket ID]\n"
    "       sekishoctl session list [--all]\n"
    "       sekishoctl session show ID\n"
    "       sekishoctl session extend ID --by DURATION [--reason TEXT]\n"
    "       sekishoctl session close ID --reason TEXT\n"
    "       sekishoctl session close --all --reason TEXT\n"
    "       sekishoctl session receipt ID\n";

int usage(Io& io, const std::string& problem) {
  io.err << "sekishoctl session: " << problem << '\n' << kUsage;
  return kExitUsage;
}

std::optional<std::int64_t> duration_option(const Args& args, const char* name, Io& io) {
  std::string error;
  std::optional<std::int64_t> seconds = args.duration(name, error);
  if (!seconds) {
    usage(io, error.empty() ? std::string("--") + name + " DURATION is required" : error);
  }
  return seconds;
}

std::string remaining_text(const nlohmann::json& session) {
  return policy::format_duration(session.value("remaining_seconds", std::int64_t{0}));
}

std::string ticket_text(const nlohmann::json& session) {
  const std::string ticket = session.value("ticket", "");
  return ticket.empty() ? "" : " (ticket " + ticket + ")";
}

std::string joined(const nlohmann::json& list) {
  std::string out;
  for (const nlohmann::json& item : list) {
    out += (out.empty() ? "" : ", ") + item.get<std::string>();
  }
  return out;
}

void print_session(std::ostream& out, const nlohmann::json& s) {
  const std::string state = s.value("state", "");
  out << s.value("id", "") << "  " << s.value("peer", "") << " -> " << s.value("target", "") << " ("
      << s.value("host", "") << ": " << joined(s.value("services", nlohmann::json())) << ")"
      << "  " << state;
  if (state == "open") {
    out << ", " << remaining_text(s) << " left (until " << s.value("deadline", "") << ")";
  } else {
    out << " " << s.value("ended", nlohmann::json("")).get<std::string>();
  }
  out << '\n'
      << "    opened by " << s["opened_by"].value("user", "") << " at " << s.value("opened", "")
      << ": " << s.value("reason", "") << ticket_text(s) << '\n';
  if (state != "open") {
    out << "    " << state << " by " << s["closed_by"].value("user", "") << ": "
        << s.value("close_reason", "") << '\n';
  }
  out << "    flows " << s.value("flows", 0) << ", "
      << human_bytes(s.value("bytes_to_target", std::uint64_t{0})) << " to the target, "
      << human_bytes(s.value("bytes_from_target", std::uint64_t{0})) << " back\n";
}

int print_reply(const Args& args, Io& io, const char* command, const Reply& reply,
                void (*text)(const Args&, Io&, const nlohmann::json&)) {
  if (reply.exit_code != kExitOk) {
    print_error(io.err, std::string("session ") + command, reply);
    return reply.exit_code;
  }
  if (args.json) {
    io.out << reply.result.dump(2) << '\n';
  } else {
    text(args, io, reply.result);
  }
  return kExitOk;
}

int open(const Args& args, Io& io) {
  if (args.positional.size() != 3) {
    return usage(io, "open takes PEER and TARGET");
  }
  auto seconds = duration_option(args, "for", io);
  if (!seconds) {
    return kExitUsage;
  }
  const std::string* reason = args.value("reason");
  if (!reason || reason->empty()) {
    return usage(io, "--reason TEXT is required: say what the vendor will do");
  }
  nlohmann::json params = {{"peer", args.positional[1]},
                           {"target", args.positional[2]},
                           {"duration_seconds", *seconds},
                           {"reason", *reason}};
  if (const std::string* ticket = args.value("ticket")) {
    params["ticket"] = *ticket;
  }
  Reply reply = call(args.control, "session.open", params);
  if (reply.exit_code == kExitOk && args.json) {
    io.out << nlohmann::json{{"id", reply.result.value("id", "")},
                             {"deadline", reply.result.value("deadline", "")}}
                  .dump(2)
           << '\n';
    return kExitOk;
  }
  return print_reply(args, io, "open", reply, [](const Args&, Io& out, const nlohmann::json& s) {
    out.out << s.value("id", "") << '\n';
    out.err << s.value("peer", "") << " may reach " << s.value("target", "") << " ("
            << joined(s.value("target_addresses", nlohmann::json())) << ": "
            << joined(s.value("services", nlohmann::json())) << ") until "
            << s.value("deadline", "") << '\n';
  });
}

int list(const Args& args, Io& io) {
  if (args.positional.size() != 1) {
    return usage(io, "list takes no arguments");
  }
  nlohmann::json params = {{"all", args.flag("all")}};
  Reply reply = call(args.control, "session.list", params);
  return print_reply(args, io, "list", reply,
                     [](const Args& a, Io& out, const nlohmann::json& result) {
                       const nlohmann::json sessions = result.value("sessions", nlohmann::json());
                       if (sessions.empty()) {
                         out.out << (a.flag("all") ? "no sessions\n" : "no open sessions\n");
                       }
                       for (const nlohmann::json& s : sessions) {
                         print_session(out.out, s);
                       }
                     });
}

int show(const Args& args, Io& io) {
  if (args.positional.size() != 2) {
    return usage(io, "show takes a session ID");
  }
  Reply reply = call(args.control, "session.show", {{"id", args.positional[1]}});
  return print_reply(args, io, "show", reply, [](const Args&, Io& out, const nlohmann::json& s) {
    print_session(out.out, s);
    out.out << "    peer " << s.value("peer_public_key", "") << " ("
            << joined(s.value("peer_addresses", nlohmann::json())) << ")\n"
            << "    target " << joined(s.value("target_addresses", nlohmann::json())) << '\n';
    for (const nlohmann::json& f : s.value("flow_records", nlohmann::json::array())) {
      const nlohmann::json ended = f.value("ended", nlohmann::json());
      out.out << "    flow " << f.value("protocol", "") << ' ' << f.value("source", "") << ':'
              << f.value("source_port", 0) << " -> " << f.value("destination", "") << ':'
              << f.value("destination_port", 0) << "  "
              << f.value("started", nlohmann::json("?")).get<std::string>() << " - "
              << (ended.is_string() ? ended.get<std::string>() : std::string("(open)")) << "  "
              << human_bytes(f.value("bytes_to_target", std::uint64_t{0})) << " / "
              << human_bytes(f.value("bytes_from_target", std::uint64_t{0})) << '\n';
    }
  });
}

int extend(const Args& args, Io& io) {
  if (args.positional.size() != 2) {
    return usage(io, "extend takes a session ID");
  }
  auto seconds = duration_option(args, "by", io);
  if (!seconds) {
    return kExitUsage;
  }
  nlohmann::json params = {{"id", args.positional[1]}, {"by_seconds", *seconds}};
  if (const std::string* reason = args.value("reason")) {
    params["reason"] = *reason;
  }
  Reply reply = call(args.control, "session.extend", params);
  const int code =
      print_reply(args, io, "extend", reply, [](const Args&, Io& out, const nlohmann::json& s) {
        out.out << s.value("id", "") << " until " << s.value("deadline", "") << " ("
                << remaining_text(s) << " left)\n";
      });
  if (code == kExitOk && !reply.result.value("kernel_applied", true)) {
    io.err << "sekishoctl session extend: the kernel refused the extension; "
           << reply.result.value("id", "") << " still ends at "
           << reply.result.value("deadline", "") << " (see sekishod's log)\n";
    return kExitNegative;
  }
  return code;
}

int close(const Args& args, Io& io) {
  const bool all = args.flag("all");
  if (args.positional.size() != (all ? 1u : 2u)) {
    return usage(io, "close takes a session ID, or --all");
  }
  const std::string* reason = args.value("reason");
  if (!reason || reason->empty()) {
    return usage(io, "--reason TEXT is required");
  }
  nlohmann::json params = {{"reason", *reason}};
  if (all) {
    params["all"] = true;
  } else {
    params["id"] = args.positional[1];
  }
  Reply reply = call(args.control, "session.close", params);
  const int code =
      print_reply(args, io, "close", reply, [](const Args&, Io& out, const nlohmann::json& r) {
        const nlohmann::json closed = r.value("closed", nlohmann::json::array());
        out.out << (closed.empty() ? "no open session" : "closed " + joined(closed)) << '\n';
      });
  if (code == kExitOk && !reply.result.value("kernel_removed", true)) {
    io.err << "sekishoctl session close: the kernel refused to remove the session's access "
              "at once; sekishod retries every second (see its log)\n";
    return kExitNegative;
  }
  return code;
}

int receipt(const Args& args, Io& io) {
  if (args.positional.size() != 2) {
    return usage(io, "receipt takes a session ID");
  }
  Reply reply = call(args.control, "session.receipt", {{"id", args.positional[1]}});
  if (reply.exit_code != kExitOk) {
    print_error(io.err, "session receipt", reply);
    return reply.exit_code;
  }
  // The receipt is the JSON document itself, with or without --json.
  io.out << reply.result.dump(2) << '\n';
  return kExitOk;
}

}  // namespace

int run_session(const Args& args, Io& io) {
  const std::string sub = args.positional.empty() ? "" : args.positional[0];
  if (sub == "open")
    return open(args, io);
  if (sub == "list")
    return list(args, io);
  if (sub == "show")
    return show(args, io);
  if (sub == "extend")
    return extend(args, io);
  if (sub == "close")
    return close(args, io);
  if (sub == "receipt")
    return receipt(args, io);
  return usage(io, sub.empty() ? "a subcommand is required" : "unknown subcommand '" + sub + "'");
}

}  // namespace sekisho::ctl
