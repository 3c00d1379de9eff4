#pragma once
// sekishoctl's side of the control socket: one request, one reply, and the exit code
// the reply means (docs/architecture.md, Conventions).

#include <functional>
#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

namespace sekisho::ctl {

struct Reply {
  int exit_code = 0;       // 0 when ok; else 69, 77, 65, 75 ... as the error says
  nlohmann::json result;   // when ok
  std::string error_code;  // "forbidden", ... or "unreachable"
  std::string message;
  nlohmann::json data;  // with some errors: {"diagnostics": [...]} of a refused policy
};

// Connects to `control_path`, sends the request, waits for the reply (at most
// `timeout_seconds`).
Reply call(const std::string& control_path, const std::string& method,
           const nlohmann::json& params = nlohmann::json::object(), int timeout_seconds = 120);

// A subscription (a method answering a stream, server.hpp): each item to `item` as it
// comes, without a time limit, until `item` returns false (then ok), the daemon ends the
// stream (its last reply) or the connection closes (unreachable, 69).
Reply follow(const std::string& control_path, const std::string& method,
             const nlohmann::json& params, const std::function<bool(const nlohmann::json&)>& item);

// "sekishoctl status: forbidden: status needs the viewer role; ..." on `err`; a refused
// policy's diagnostics follow, one per line as `check` prints them.
void print_error(std::ostream& err, const std::string& command, const Reply& reply);

}  // namespace sekisho::ctl
