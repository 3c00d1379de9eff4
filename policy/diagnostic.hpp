#pragma once
// Diagnostics of a policy file: every problem found in one run, each with its place in
// the file (1-based line and column), a stable code that tests and tools match on, a
// message and an optional hint. The wording may change; the codes may not.

#include <string>
#include <string_view>
#include <vector>

namespace sekisho::policy {

struct SourcePos {
  int line = 0;    // 1-based; 0 means "not known" (reported as 1:1, the file's start)
  int column = 0;  // 1-based
};

enum class Severity { Error, Warning };

struct Diagnostic {
  std::string file;
  SourcePos pos;
  Severity severity = Severity::Error;
  std::string code;
  std::string message;
  std::string hint;
};

// Collects the diagnostics of one file. Bounded, so that hostile input cannot make the
// report itself unbounded: past kMaxReported the rest are counted, not stored.
class Diagnostics {
 public:
  static constexpr std::size_t kMaxReported = 200;

  explicit Diagnostics(std::string file) : file_(std::move(file)) {}

  void error(SourcePos pos, std::string code, std::string message, std::string hint = {});
  void warning(SourcePos pos, std::string code, std::string message, std::string hint = {});

  const std::string& file() const { return file_; }
  const std::vector<Diagnostic>& items() const { return items_; }
  bool has_errors() const { return error_count_ > 0; }
  std::size_t error_count() const { return error_count_; }
  std::size_t warning_count() const { return warning_count_; }
  std::size_t dropped() const { return dropped_; }
  // True when a diagnostic with this code was reported (tests match on codes).
  bool has_code(std::string_view code) const;

  // Sorted by position, then reported order: the order a reader walks the file in.
  std::vector<Diagnostic> sorted() const;

 private:
  void add(Severity severity, SourcePos pos, std::string code, std::string message,
           std::string hint);

  std::string file_;
  std::vector<Diagnostic> items_;
  std::size_t error_count_ = 0;
  std::size_t warning_count_ = 0;
  std::size_t dropped_ = 0;
};

// "FILE:LINE:COL: error[CODE]: message" and, when there is one, "  hint: ..." on the
// next line, as (docs/architecture.md, Conventions) fixes it.
std::string format_diagnostic(const Diagnostic& diagnostic);

}  // namespace sekisho::policy
