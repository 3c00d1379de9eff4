#pragma once
// The policy library's entry point: file or text in, checked Policy and every diagnostic
// out. Nothing here touches the kernel, a socket or the clock.

#include <optional>
#include <string>
#include <string_view>

#include "policy/diagnostic.hpp"
#include "policy/model.hpp"

namespace sekisho::policy {

struct LoadResult {
  std::optional<Policy> policy;  // set only when there is no error (warnings allowed)
  Diagnostics diagnostics;
  std::string text;  // the file as read: what the daemon keeps as its last-good policy
};

// `file` is the name diagnostics carry (as the user wrote it on the command line).
LoadResult load_policy_text(std::string_view text, std::string file);

// Reads `path` (at most kMaxPolicyBytes) and loads it; an unreadable file is an error
// diagnostic with code "io".
LoadResult load_policy_file(const std::string& path);

}  // namespace sekisho::policy
