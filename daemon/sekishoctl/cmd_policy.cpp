// apply, confirm, rollback: policy changes through sekishod (admin role). The file's
// bytes travel over the socket, since the daemon cannot read users' homes.

#include "daemon/common/exit_codes.hpp"
#include "daemon/common/files.hpp"
#include "daemon/control/protocol.hpp"
#include "daemon/sekishoctl/client.hpp"
#include "daemon/sekishoctl/commands.hpp"
#include "policy/units.hpp"

namespace sekisho::ctl {

namespace {

// "in 4m 10s"
std::string in_words(std::int64_t seconds) {
  std::string out;
  if (seconds >= 3600) {
    out += std::to_string(seconds / 3600) + "h ";
  }
  if (seconds >= 60) {
    out += std::to_string(seconds / 60 % 60) + "m ";
  }
  return out + std::to_string(seconds % 60) + "s";
}

void print_outcome(Io& io, const std::string& verb, const nlohmann::json& r) {
  const nlohmann::json pending = r.value("pending_confirmation", nlohmann::json());
  if (pending.is_object()) {
    io.out << verb << ": sha256 " << r.value("sha256", "") << " is in force; "
           << r.value("policy", "") << " keeps the confirmed policy";
  } else {
    io.out << verb << ": " << r.value("policy", "") << " now holds sha256 "
           << r.value("sha256", "");
  }
  io.out << "\n  " << r.value("rules", 0) << " rules, " << r.value("elements", 0)
         << " set elements, generation " << r.value("generation", 0) << '\n';
  if (pending.is_object()) {
    io.out << "  NOT CONFIRMED: sekishod rolls back at " << pending.value("deadline", "") << " (in "
           << in_words(pending.value("seconds_left", 0)) << ") unless an admin runs "
           << "'sekishoctl confirm'\n";
  }
}

int call_and_print(const Args& args, Io& io, const std::string& command, const std::string& method,
                   const nlohmann::json& params, const std::string& verb) {
  Reply reply = call(args.control, method, params);
  if (reply.exit_code != kExitOk) {
    print_error(io.err, command, reply);
    return reply.exit_code;
  }
  for (const nlohmann::json& warning : reply.result.value("warnings", nlohmann::json::array())) {
    io.err << warning.get<std::string>() << '\n';
  }
  if (args.json) {
    io.out << reply.result.dump(2) << '\n';
  } else {
    print_outcome(io, verb, reply.result);
  }
  return kExitOk;
}

}  // namespace

int run_apply(const Args& args, Io& io) {
  if (args.positional.size() != 1) {
    io.err << "sekishoctl apply: takes one policy FILE\n";
    return kExitUsage;
  }
  const std::string& file = args.positional[0];
  nlohmann::json params = {{"name", file}};
  if (const std::string* within = args.value("confirm-within")) {
    std::optional<std::int64_t> seconds = policy::parse_duration(*within);
    if (!seconds || *seconds < 1) {
      io.err << "sekishoctl apply: --confirm-within takes a duration such as 90s, 5m or 1h30m\n";
      return kExitUsage;
    }
    params["confirm_within"] = *seconds;
  }
  std::error_code error;
  std::optional<std::string> text = read_small_file(file, control::kMaxRequestBytes, error);
  if (!text && error == std::errc::file_too_large) {
    io.err << "sekishoctl apply: " << file
           << " is larger than one control request may be (1 MiB); copy it to the --policy "
              "path of sekishod and reload it (systemctl reload sekishod)\n";
    return kExitInvalid;
  }
  if (!text) {
    io.err << file << ": error[io]: cannot read the policy: " << error.message() << '\n';
    return kExitConfig;
  }
  params["text"] = std::move(*text);
  // A policy near 1 MiB may not fit a request once escaped as JSON.
  if (params.dump().size() + 64 > control::kMaxRequestBytes) {
    io.err << "sekishoctl apply: " << file
           << " is too large for one control request (1 MiB); copy it to the --policy path "
              "of sekishod and reload it (systemctl reload sekishod)\n";
    return kExitInvalid;
  }
  return call_and_print(args, io, "apply", "policy.apply", params, "applied");
}

namespace {

// confirm and rollback: no arguments, one method.
int run_without_arguments(const Args& args, Io& io, const std::string& command,
                          const std::string& method, const std::string& verb) {
  if (!args.positional.empty()) {
    io.err << "sekishoctl " << command << ": takes no arguments\n";
    return kExitUsage;
  }
  return call_and_print(args, io, command, method, nlohmann::json::object(), verb);
}

}  // namespace

int run_confirm(const Args& args, Io& io) {
  return run_without_arguments(args, io, "confirm", "policy.confirm", "confirmed");
}

int run_rollback(const Args& args, Io& io) {
  return run_without_arguments(args, io, "rollback", "policy.rollback", "rolled back");
}

}  // namespace sekisho::ctl
