#pragma once
// Checks of control-request parameters that several methods share (sessions, link
// overrides). Each throws control::ControlError (invalid) with a message for the caller.

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "daemon/control/protocol.hpp"

namespace sekisho::daemon {

control::ControlError invalid(const std::string& message);

// A whole number of seconds, or the request is invalid (a float or a string is not one).
std::int64_t seconds_param(const nlohmann::json& params, const char* field);

// Reasons and tickets go into the audit log and onto other people's terminals: printable
// text of at most 512 bytes, trimmed, without control or bidirectional-formatting
// characters. Empty when absent and not `required`.
std::string text_param(const nlohmann::json& params, const char* field, bool required);

}  // namespace sekisho::daemon
