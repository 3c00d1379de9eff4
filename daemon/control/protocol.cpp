#include "daemon/control/protocol.hpp"

#include <array>
#include <utility>

#include "daemon/common/json_depth.hpp"

namespace sekisho::control {

namespace {

constexpr std::array<std::pair<ErrorCode, std::string_view>, 7> kNames = {{
    {ErrorCode::Forbidden, "forbidden"},
    {ErrorCode::Invalid, "invalid"},
    {ErrorCode::NotFound, "not_found"},
    {ErrorCode::Conflict, "conflict"},
    {ErrorCode::AuditUnavailable, "audit_unavailable"},
    {ErrorCode::TooLarge, "too_large"},
    {ErrorCode::TooManyConnections, "too_many_connections"},
}};

std::string line_of(const nlohmann::json& reply) {
  // Invalid UTF-8 from a handler's message is replaced, never thrown.
  return reply.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace

std::string_view error_code_name(ErrorCode code) {
  for (const auto& [value, name] : kNames) {
    if (value == code) {
      return name;
    }
  }
  return "invalid";
}

std::optional<ErrorCode> error_code_from_name(std::string_view name) {
  for (const auto& [value, text] : kNames) {
    if (text == name) {
      return value;
    }
  }
  return std::nullopt;
}

Request parse_request(std::string_view line, nlohmann::json& id) {
  id = nullptr;
  bool too_deep = false;
  std::optional<nlohmann::json> parsed =
      parse_json_nesting_at_most(line, kMaxRequestNesting, &too_deep);
  if (too_deep) {
    throw ControlError(ErrorCode::Invalid, "the request nests deeper than " +
                                               std::to_string(kMaxRequestNesting) + " levels");
  }
  if (!parsed) {
    throw ControlError(ErrorCode::Invalid, "the request is not one JSON object on one line");
  }
  nlohmann::json& request = *parsed;
  if (!request.is_object()) {
    throw ControlError(ErrorCode::Invalid, "the request must be a JSON object");
  }
  auto found_id = request.find("id");
  if (found_id != request.end() && found_id->is_number_integer()) {
    id = *found_id;
  } else {
    throw ControlError(ErrorCode::Invalid, "\"id\" must be an integer");
  }
  auto method = request.find("method");
  if (method == request.end() || !method->is_string()) {
    throw ControlError(ErrorCode::Invalid, "\"method\" must be a string");
  }
  Request out{id, method->get<std::string>()};
  auto params = request.find("params");
  if (params != request.end()) {
    if (!params->is_object()) {
      throw ControlError(ErrorCode::Invalid, "\"params\" must be an object");
    }
    out.params = std::move(*params);  // moved, never copied: a copy is a recursive walk
  }
  for (const auto& [key, value] : request.items()) {
    if (key != "id" && key != "method" && key != "params") {
      throw ControlError(ErrorCode::Invalid, "unknown member \"" + key + "\" in the request");
    }
  }
  return out;
}

std::string reply_ok(const nlohmann::json& id, const nlohmann::json& result) {
  return line_of({{"id", id}, {"ok", true}, {"result", result}});
}

std::string reply_more(const nlohmann::json& id, const nlohmann::json& item) {
  return line_of({{"id", id}, {"ok", true}, {"result", item}, {"more", true}});
}

std::string reply_error(const nlohmann::json& id, ErrorCode code, std::string_view message,
                        const nlohmann::json& data) {
  nlohmann::json error = {{"code", error_code_name(code)}, {"message", message}};
  if (!data.is_null()) {
    error["data"] = data;
  }
  return line_of({{"id", id}, {"ok", false}, {"error", std::move(error)}});
}

}  // namespace sekisho::control
