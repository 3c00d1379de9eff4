#include "daemon/control/admission.hpp"

namespace sekisho::control {

std::string_view cap_name(ConnectionCap cap) {
  switch (cap) {
    case ConnectionCap::PerUid:
      return "per_uid";
    case ConnectionCap::WithoutRole:
      return "without_role";
    case ConnectionCap::All:
      break;
  }
  return "all";
}

std::optional<ConnectionCap> ConnectionSlots::take(uid_t uid, Role role) {
  if (role == Role::None) {
    if (without_role_ >= caps_.without_role) {
      return ConnectionCap::WithoutRole;
    }
    if (open_ >= caps_.all) {
      return ConnectionCap::All;
    }
    ++without_role_;
    ++open_;
    return std::nullopt;
  }
  if (role != Role::Admin && held_by(uid) >= caps_.per_uid) {
    return ConnectionCap::PerUid;
  }
  std::size_t most = caps_.all;
  if (role >= Role::Operator) {
    most += caps_.reserved_for_operators;
  }
  if (role == Role::Admin) {
    most += caps_.reserved_for_admins;
  }
  if (open_ >= most) {
    return ConnectionCap::All;
  }
  ++per_uid_[uid];
  ++open_;
  return std::nullopt;
}

void ConnectionSlots::give_back(uid_t uid, Role role) {
  --open_;
  if (role == Role::None) {
    --without_role_;
    return;
  }
  auto held = per_uid_.find(uid);
  if (held != per_uid_.end() && --held->second == 0) {
    per_uid_.erase(held);
  }
}

std::size_t ConnectionSlots::held_by(uid_t uid) const {
  auto held = per_uid_.find(uid);
  return held == per_uid_.end() ? 0 : held->second;
}

const Identity& IdentityCache::of(uid_t uid, Clock::time_point now) {
  auto found = known_.find(uid);
  if (found != known_.end() && now - found->second.at < fresh_for_) {
    return found->second.identity;
  }
  if (found == known_.end() && known_.size() >= most_) {
    std::erase_if(known_, [&](const auto& entry) { return now - entry.second.at >= fresh_for_; });
    if (known_.size() >= most_) {
      known_.clear();  // that many uids within `fresh_for`: look them up again
    }
  }
  Known& entry = known_[uid];
  entry = {source_(uid), now};
  return entry.identity;
}

}  // namespace sekisho::control
