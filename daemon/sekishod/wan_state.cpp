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
  // What cannot be read may hold a forced down: nothing from it counts as no override.
  auto unreadable = [&](const std::string& why) {
    out.override_ = std::nullopt;
    out.override_unreadable = why;
    out.problems.push_back(why +
                           "; the WAN stays closed until 'sekishoctl link auto' or 'link up'");
  };
  std::error_code error;
  std::optional<std::string> text = read_small_file(path, 1 << 20, error);
  if (!text) {
    if (error && error != std::errc::no_such_file_or_directory) {
      unreadable(path + ": " + error.message());
    }
    return out;
  }
  try {
    const nlohmann::json state = nlohmann::json::parse(*text);
    if (!state.is_object()) {
      unreadable(path + ": not a JSON object");
      return out;
    }
    std::string problem;
    if (state.contains("override") && !state.at("override").is_null()) {
      out.override_ = wan::override_from_json(state.at("override"), problem);
      if (!out.override_) {
        unreadable(path + ": override: " + problem);
      }
    }
    if (auto kept = state.find("override_unreadable"); kept != state.end() && !kept->is_null()) {
      // It could not be read at an earlier start, and nobody has set or cleared it since.
      out.override_ = std::nullopt;
      out.override_unreadable =
          kept->is_string() ? kept->get<std::string>() : path + ": override_unreadable: not text";
    }
    if (state.contains("snapshot") && !state.at("snapshot").is_null()) {
      out.snapshot = net::snapshot_from_json(state.at("snapshot"), problem);
      if (!out.snapshot) {
        out.problems.push_back(path + ": snapshot: " + problem +
                               "; the WAN link's addresses and routes cannot be restored from it");
      }
    }
  } catch (const nlohmann::json::exception& bad) {
    out.snapshot = std::nullopt;
    unreadable(path + ": " + bad.what());
  }
  return out;
}

nlohmann::json wan_state_json(const std::optional<wan::Override>& override_,
                              const std::string& override_unreadable,
                              const std::optional<net::LinkSnapshot>& snapshot) {
  nlohmann::json state = {{"override", override_ ? wan::to_json(*override_) : nlohmann::json()},
                          {"snapshot", snapshot ? net::to_json(*snapshot) : nlohmann::json()}};
  if (!override_unreadable.empty()) {
    state["override_unreadable"] = override_unreadable;
  }
  return state;
}

bool forced_down_stored(const StoredWanState& state) {
  return !state.override_unreadable.empty() ||
         (state.override_ && state.override_->kind == wan::OverrideKind::Down);
}

}  // namespace sekisho::daemon
