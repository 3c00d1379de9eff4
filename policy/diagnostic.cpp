#include "policy/diagnostic.hpp"

#include <algorithm>

namespace sekisho::policy {

void Diagnostics::error(SourcePos pos, std::string code, std::string message, std::string hint) {
  add(Severity::Error, pos, std::move(code), std::move(message), std::move(hint));
}

void Diagnostics::warning(SourcePos pos, std::string code, std::string message, std::string hint) {
  add(Severity::Warning, pos, std::move(code), std::move(message), std::move(hint));
}

void Diagnostics::add(Severity severity, SourcePos pos, std::string code, std::string message,
                      std::string hint) {
  (severity == Severity::Error ? error_count_ : warning_count_)++;
  // Problems of the file as a whole (empty, too large, unreadable) point at its start, so
  // every diagnostic has the FILE:LINE:COL form tools expect.
  if (pos.line <= 0) {
    pos = SourcePos{1, 1};
  }
  if (items_.size() >= kMaxReported) {
    ++dropped_;
    return;
  }
  items_.push_back(
      Diagnostic{file_, pos, severity, std::move(code), std::move(message), std::move(hint)});
}

bool Diagnostics::has_code(std::string_view code) const {
  return std::any_of(items_.begin(), items_.end(),
                     [&](const Diagnostic& d) { return d.code == code; });
}

std::vector<Diagnostic> Diagnostics::sorted() const {
  std::vector<Diagnostic> out = items_;
  std::stable_sort(out.begin(), out.end(), [](const Diagnostic& a, const Diagnostic& b) {
    if (a.pos.line != b.pos.line) {
      return a.pos.line < b.pos.line;
    }
    return a.pos.column < b.pos.column;
  });
  return out;
}

std::string format_diagnostic(const Diagnostic& d) {
  std::string out = d.file;
  if (d.pos.line > 0) {
    out += ':' + std::to_string(d.pos.line) + ':' + std::to_string(d.pos.column);
  }
  out += d.severity == Severity::Error ? ": error[" : ": warning[";
  out += d.code + "]: " + d.message;
  if (!d.hint.empty()) {
    out += "\n  hint: " + d.hint;
  }
  return out;
}

}  // namespace sekisho::policy
