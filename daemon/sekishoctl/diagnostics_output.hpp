#pragma once
// Printing a policy's diagnostics: on stderr in the text format of
// (docs/architecture.md, Conventions), or as JSON.

#include <ostream>

#include <nlohmann/json.hpp>

#include "policy/diagnostic.hpp"

namespace sekisho::ctl {

// One line per diagnostic (and its hint), sorted by position, then a count of any that
// were not stored.
void print_diagnostics(const policy::Diagnostics& diagnostics, std::ostream& err);

// {"file", "valid", "errors", "warnings", "diagnostics": [{file, line, column, severity,
// code, message, hint}]}
nlohmann::json diagnostics_json(const policy::Diagnostics& diagnostics);

}  // namespace sekisho::ctl
