#pragma once
// Log lines on stderr. Under systemd (JOURNAL_STREAM set) each line carries its syslog
// priority as "<N>", which journald turns into the entry's priority; on a terminal the
// program name leads instead. Never log a secret: key material, tokens, passwords.

#include <string_view>

namespace sekisho {

enum class LogLevel { Error = 3, Warning = 4, Notice = 5, Info = 6 };

void log_line(LogLevel level, std::string_view message);
// A line that already says what it is ("FILE:LINE:COL: error[CODE]: ..."): no level word.
void log_diagnostic(LogLevel level, std::string_view line);

inline void log_error(std::string_view message) {
  log_line(LogLevel::Error, message);
}
inline void log_warning(std::string_view message) {
  log_line(LogLevel::Warning, message);
}
inline void log_notice(std::string_view message) {
  log_line(LogLevel::Notice, message);
}
inline void log_info(std::string_view message) {
  log_line(LogLevel::Info, message);
}

// The name lines start with on a terminal ("sekishod").
void set_log_program(std::string_view name);

}  // namespace sekisho
