#include "daemon/sekishoctl/diagnostics_output.hpp"

namespace sekisho::ctl {

void print_diagnostics(const policy::Diagnostics& diagnostics, std::ostream& err) {
  for (const policy::Diagnostic& diagnostic : diagnostics.sorted()) {
    err << policy::format_diagnostic(diagnostic) << '\n';
  }
  if (diagnostics.dropped() > 0) {
    err << diagnostics.file() << ": " << diagnostics.dropped() << " more diagnostics not shown\n";
  }
}

nlohmann::json diagnostics_json(const policy::Diagnostics& diagnostics) {
  nlohmann::json items = nlohmann::json::array();
  for (const policy::Diagnostic& d : diagnostics.sorted()) {
    items.push_back({
        {"file", d.file},
        {"line", d.pos.line},
        {"column", d.pos.column},
        {"severity", d.severity == policy::Severity::Error ? "error" : "warning"},
        {"code", d.code},
        {"message", d.message},
        {"hint", d.hint.empty() ? nlohmann::json() : nlohmann::json(d.hint)},
    });
  }
  return {
      {"file", diagnostics.file()},          {"valid", !diagnostics.has_errors()},
      {"errors", diagnostics.error_count()}, {"warnings", diagnostics.warning_count()},
      {"not_shown", diagnostics.dropped()},  {"diagnostics", std::move(items)},
  };
}

}  // namespace sekisho::ctl
