#include "daemon/sekishod/request_params.hpp"

namespace sekisho::daemon {

control::ControlError invalid(const std::string& message) {
  return control::ControlError(control::ErrorCode::Invalid, message);
}

std::int64_t seconds_param(const nlohmann::json& params, const char* field) {
  auto it = params.find(field);
  if (it == params.end() || !it->is_number_integer()) {
    throw invalid(std::string(field) + " must be a whole number of seconds");
  }
  return it->get<std::int64_t>();
}

std::string text_param(const nlohmann::json& params, const char* field, bool required) {
  constexpr std::size_t kMaxBytes = 512;
  auto it = params.find(field);
  std::string text = it != params.end() && it->is_string() ? it->get<std::string>() : "";
  text.erase(0, text.find_first_not_of(" \t"));
  text.erase(text.find_last_not_of(" \t") + 1);
  if (required && text.empty()) {
    throw invalid(std::string("a ") + field + " is required (--" + field + " TEXT)");
  }
  if (text.size() > kMaxBytes) {
    throw invalid(std::string(field) + " is longer than " + std::to_string(kMaxBytes) + " bytes");
  }
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    const auto next = i + 1 < text.size() ? static_cast<unsigned char>(text[i + 1]) : 0;
    const auto third = i + 2 < text.size() ? static_cast<unsigned char>(text[i + 2]) : 0;
    const bool control =
        byte < 0x20 || byte == 0x7f || (byte == 0xc2 && next >= 0x80 && next <= 0x9f);
    const bool bidi = (byte == 0xe2 && next == 0x80 &&
                       (third == 0x8e || third == 0x8f || (third >= 0xaa && third <= 0xae))) ||
                      (byte == 0xe2 && next == 0x81 && third >= 0xa6 && third <= 0xa9) ||
                      (byte == 0xd8 && next == 0x9c);
    if (control || bidi) {
      throw invalid(std::string(field) + " may not contain control or text-direction characters");
    }
  }
  return text;
}

}  // namespace sekisho::daemon
