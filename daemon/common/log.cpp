#include "daemon/common/log.hpp"

#include <cstdlib>
#include <iostream>
#include <string>

namespace sekisho {

namespace {

std::string& program() {
  static std::string name = "sekisho";
  return name;
}

bool to_journal() {
  static const bool journal = std::getenv("JOURNAL_STREAM") != nullptr;
  return journal;
}

const char* level_word(LogLevel level) {
  switch (level) {
    case LogLevel::Error:
      return "error: ";
    case LogLevel::Warning:
      return "warning: ";
    default:
      return "";
  }
}

}  // namespace

void set_log_program(std::string_view name) {
  program() = name;
}

void log_line(LogLevel level, std::string_view message) {
  log_diagnostic(level, std::string(level_word(level)) + std::string(message));
}

void log_diagnostic(LogLevel level, std::string_view message) {
  std::string line;
  if (to_journal()) {
    line = "<" + std::to_string(static_cast<int>(level)) + ">";
  } else {
    line = program() + ": ";
  }
  line += message;
  line += '\n';
  std::cerr << line << std::flush;
}

}  // namespace sekisho
