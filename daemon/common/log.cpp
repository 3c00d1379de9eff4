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
  // Each line of a message is a log line of its own, with its own prefix: a diagnostic's
  // hint, and any line break in text from outside, cannot pass for another entry.
  const std::string prefix =
      to_journal() ? "<" + std::to_string(static_cast<int>(level)) + ">" : program() + ": ";
  if (!message.empty() && message.back() == '\n') {
    message.remove_suffix(1);
  }
  std::string out;
  std::size_t start = 0;
  while (start <= message.size()) {
    std::size_t end = message.find('\n', start);
    if (end == std::string_view::npos) {
      end = message.size();
    }
    out += prefix;
    out += message.substr(start, end - start);
    out += '\n';
    start = end + 1;
  }
  std::cerr << out << std::flush;
}

}  // namespace sekisho
