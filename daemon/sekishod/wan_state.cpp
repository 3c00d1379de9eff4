#include "daemon/sekishod/wan_state.hpp"

#include <nlohmann/json.hpp>

#include "daemon/common/files.hpp"

namespace sekisho::daemon {

std::string wan_state_path(const std::string& state_dir) {
  return state_dir + "/wan.json";
}

StoredWanState read_wan_state(const std::string& state_dir) {
  StoredWanState out;
  const std::string path = wan_state_path(state_dir);
  std::error_code error;
  std::optional<std::string> text = read_small_file(path, 1 << 20, error);
  if (!text) {
    if (error && error != std::errc::no_such_file_or_directory) {
      out.override_unknown = true;
      out.problems.push_back(path + ": " + error.message() +
                             "; no link override or recorded WAN configuration");
    }
    return out;
  }
  try {
    const nlohmann::json state = nlohmann::json::parse(*text);
    std::string problem;
    if (state.contains("override") && !state.at("override").is_null()) {
      out.override_ = wan::override_from_json(state.at("override"), problem);
      if (!out.override_) {
        out.override_unknown = true;
        out.problems.push_back(path + ": override: " + problem + "; ignored");
      }
    }
    if (state.contains("snapshot") && !state.at("snapshot").is_null()) {
      out.snapshot = net::snapshot_from_json(state.at("snapshot"), problem);
      if (!out.snapshot) {
        out.problems.push_back(path + ": snapshot: " + problem +
                               "; the WAN link's addresses and routes cannot be restored from it");
      }
    }
  } catch (const nlohmann::json::exception& bad) {
    out.override_unknown = true;
    out.problems.push_back(path + ": " + bad.what() + "; ignored");
  }
  return out;
}

bool forced_down_stored(const StoredWanState& state) {
  return state.override_unknown ||
         (state.override_ && state.override_->kind == wan::OverrideKind::Down);
}

}  // namespace sekisho::daemon
