// `sekishoctl cloud [status]`: the cloud bridge (policy cloud.mqtt) through sekishod;
// `sekishoctl cloud password HOST`: a publisher's password at the local broker.

#include <string>

#include <nlohmann/json.hpp>

#include "daemon/common/exit_codes.hpp"
#include "daemon/sekishoctl/client.hpp"
#include "daemon/sekishoctl/commands.hpp"

namespace sekisho::ctl {

namespace {

std::uint64_t number(const nlohmann::json& object, const char* key) {
  const nlohmann::json& value = object.value(key, nlohmann::json());
  return value.is_number_unsigned() ? value.get<std::uint64_t>() : 0;
}

std::string age_text(const nlohmann::json& seconds) {
  if (!seconds.is_number()) {
    return "";
  }
  const std::int64_t s = seconds.get<std::int64_t>();
  if (s < 120) {
    return std::to_string(s) + " s";
  }
  if (s < 7200) {
    return std::to_string(s / 60) + " min";
  }
  return std::to_string(s / 3600) + " h " + std::to_string(s % 3600 / 60) + " min";
}

// The local broker's configuration and who may log in there.
void print_broker(std::ostream& out, const nlohmann::json& broker) {
  if (!broker.is_object()) {
    return;
  }
  const nlohmann::json& generation = broker.value("generation", nlohmann::json());
  out << "  broker files: ";
  if (generation.is_string()) {
    out << generation.get<std::string>().substr(0, 12) << ' '
        << (broker.value("applied", false) ? "applied" : "NOT YET APPLIED") << " ("
        << broker.value("dir", "") << ")\n";
  } else {
    out << "NOT WRITTEN (" << broker.value("dir", "") << ")\n";
  }
  if (broker.contains("problem")) {
    out << "  problem:      " << broker.value("problem", "") << '\n';
  }
  if (broker.contains("other_broker")) {
    out << "  WARNING:      " << broker.value("other_broker", "") << '\n';
  }
  const nlohmann::json& publishers = broker.value("publishers", nlohmann::json::array());
  if (!publishers.is_array() || publishers.empty()) {
    return;
  }
  out << "  publishers:  ";
  for (const nlohmann::json& publisher : publishers) {
    out << ' ' << publisher.value("name", "")
        << (publisher.value("password", false) ? "" : " (no password yet)");
  }
  out << '\n';
}

}  // namespace

// The cloud part of `status` and `cloud status`.
void print_cloud(std::ostream& out, const nlohmann::json& cloud) {
  if (!cloud.is_object() || !cloud.value("configured", false)) {
    out << "cloud:          none in the policy\n";
    print_broker(out, cloud.value("broker", nlohmann::json()));
    return;
  }
  if (!cloud.value("running", false)) {
    out << "cloud:          NOT RUNNING (the outbox cannot be opened: see the log)\n";
    print_broker(out, cloud.value("broker", nlohmann::json()));
    return;
  }
  const nlohmann::json& link = cloud["cloud"];
  out << "cloud:          " << link.value("state", "") << ' ' << link.value("address", "") << ':'
      << link.value("port", 0);
  if (link.contains("since")) {
    out << " since " << link.value("since", "");
  }
  out << '\n';
  if (link.contains("error")) {
    out << "  last error:   " << link.value("error", "") << '\n';
  }
  const nlohmann::json& local = cloud["local"];
  out << "  local broker: " << local.value("state", "") << ' ' << local.value("broker", "")
      << " (devices: " << local.value("devices", "") << ")\n";
  if (local.contains("error")) {
    out << "  last error:   " << local.value("error", "") << '\n';
  }
  const nlohmann::json& up = cloud["uplink"];
  const nlohmann::json& dropped = up["dropped"];
  out << "  uplink:       received " << number(up, "received") << " = forwarded "
      << number(up, "forwarded") << " + queued " << number(up, "queued") << " + in flight "
      << number(up, "in_flight") << " + dropped " << number(dropped, "full") << " (full) + "
      << number(dropped, "too_large") << " (too large)\n";
  if (number(up, "refused_topic") > 0) {
    out << "                " << number(up, "refused_topic")
        << " refused: their topic matches no uplink filter\n";
  }
  const nlohmann::json& backlog = cloud["backlog"];
  out << "  backlog:      " << number(backlog, "messages") << " messages, "
      << human_bytes(number(backlog, "bytes")) << " of "
      << human_bytes(number(backlog, "max_bytes"));
  if (std::string age = age_text(backlog.value("oldest_age_seconds", nlohmann::json()));
      !age.empty()) {
    out << ", oldest " << age;
  }
  const nlohmann::json& limits = cloud["limits"];
  out << " (on_full " << limits.value("on_full", "") << ", drain " << limits.value("drain_rate", "")
      << ")\n";
  const nlohmann::json& down = cloud["downlink"];
  out << "  downlink:     received " << number(down, "received") << ", delivered "
      << number(down, "delivered") << ", dropped " << number(down, "dropped") << ", refused "
      << number(down, "refused_topic") << '\n';
  print_broker(out, cloud.value("broker", nlohmann::json()));
}

namespace {

constexpr const char* kCloudUsage =
    "usage: sekishoctl cloud [status] [--json]\n"
    "       sekishoctl cloud password HOST [--json]\n";

int run_password(const Args& args, Io& io) {
  Reply reply = call(args.control, "cloud.password", {{"publisher", args.positional[1]}});
  if (reply.exit_code != kExitOk) {
    print_error(io.err, "cloud password", reply);
    return reply.exit_code;
  }
  const nlohmann::json& result = reply.result;
  const bool stored_only = result.contains("problem");
  if (args.json) {
    io.out << result.dump(2) << '\n';
  } else {
    io.out << result.value("publisher", "") << ": a new password for the local broker"
           << (result.value("rotated", false) ? " (the old one no longer works)" : "")
           << ".\nIt is shown this once; sekishod keeps only its hash.\n"
           << "  broker:    " << result.value("broker", "") << " (MQTT)\n"
           << "  user name: " << result.value("username", "") << " (also the client id)\n"
           << "  password:  " << result.value("password", "") << '\n';
  }
  if (stored_only) {
    io.err << "sekishoctl cloud password: the broker does not know the password yet: "
           << result.value("problem", "") << '\n';
    return kExitNegative;
  }
  return kExitOk;
}

}  // namespace

int run_cloud(const Args& args, Io& io) {
  const std::string action = args.positional.empty() ? "status" : args.positional[0];
  if (action == "password" && args.positional.size() == 2) {
    return run_password(args, io);
  }
  if (action != "status" || args.positional.size() > 1) {
    io.err << "sekishoctl cloud: "
           << (action == "password" ? "password takes one HOST"
               : action != "status" ? "unknown action '" + action + "'"
                                    : "unexpected '" + args.positional[1] + "'")
           << '\n'
           << kCloudUsage;
    return kExitUsage;
  }
  Reply reply = call(args.control, "cloud.status", nlohmann::json::object());
  if (reply.exit_code != kExitOk) {
    print_error(io.err, "cloud status", reply);
    return reply.exit_code;
  }
  if (args.json) {
    io.out << reply.result.dump(2) << '\n';
  } else {
    print_cloud(io.out, reply.result);
  }
  return kExitOk;
}

}  // namespace sekisho::ctl
