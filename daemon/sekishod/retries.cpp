#include "daemon/sekishod/retries.hpp"

namespace sekisho::daemon {

bool Retries::failed(const std::string& change, Clock::time_point now) {
  auto [episode, started] = open_.try_emplace(change, Episode{now, 0});
  ++episode->second.failures;
  return started;
}

std::optional<Retries::Episode> Retries::took(const std::string& change) {
  auto episode = open_.find(change);
  if (episode == open_.end()) {
    return std::nullopt;
  }
  Episode ended = episode->second;
  open_.erase(episode);
  return ended;
}

void Retries::forget(const std::string& change) {
  open_.erase(change);
}

}  // namespace sekisho::daemon
