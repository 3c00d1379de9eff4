#pragma once
// The control socket's wire protocol: one JSON object per line (UTF-8, at most 1 MiB).
//   request  {"id": N, "method": "status", "params": {...}}
//   reply    {"id": N, "ok": true, "result": ...}
//            {"id": N, "ok": false, "error": {"code": "forbidden", "message": "..."}}
//            ("error" may also hold "data": {"diagnostics": [...]} for a refused policy)
//   stream   {"id": N, "ok": true, "result": ..., "more": true} for each item of a
//            subscription (`events --follow`), until either side closes the connection
// Error codes: forbidden, invalid, not_found, conflict, audit_unavailable, too_large,
// too_many_connections (sent instead of a reply, with id null, when the connection is
// over a cap and closed; server.hpp).

#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace sekisho::control {

inline constexpr std::size_t kMaxRequestBytes = 1024 * 1024;
// No method's parameters nest more than a few levels; a deeper request is refused before
// it is parsed (1 MiB of brackets would nest half a million levels deep).
inline constexpr int kMaxRequestNesting = 64;

enum class ErrorCode {
  Forbidden,
  Invalid,
  NotFound,
  Conflict,
  AuditUnavailable,
  TooLarge,
  TooManyConnections,
};

std::string_view error_code_name(ErrorCode code);
std::optional<ErrorCode> error_code_from_name(std::string_view name);

// What a method handler throws to answer with an error.
class ControlError : public std::runtime_error {
 public:
  ControlError(ErrorCode code, const std::string& message, nlohmann::json data = nullptr)
      : std::runtime_error(message), code_(code), data_(std::move(data)) {}
  ErrorCode code() const { return code_; }
  // What the client may need besides the message: the diagnostics of a refused policy.
  const nlohmann::json& data() const { return data_; }

 private:
  ErrorCode code_;
  nlohmann::json data_;
};

struct Request {
  nlohmann::json id;  // an integer; null when the request had none we could read
  std::string method;
  nlohmann::json params = nlohmann::json::object();
};

// Parses one line (without its newline). Throws ControlError(Invalid) with a message
// that says what is wrong; `id` is set as soon as it is known, for the error reply.
Request parse_request(std::string_view line, nlohmann::json& id);

// One reply line, newline included.
std::string reply_ok(const nlohmann::json& id, const nlohmann::json& result);
// One item of a stream (ControlServer::Later::more): {"id", "ok": true, "result", "more": true}.
// The stream's connection stays open for more until either side closes it.
std::string reply_more(const nlohmann::json& id, const nlohmann::json& item);
// `data`, when not null, goes with the error as "data".
std::string reply_error(const nlohmann::json& id, ErrorCode code, std::string_view message,
                        const nlohmann::json& data = nullptr);

}  // namespace sekisho::control
