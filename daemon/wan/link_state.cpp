#include "daemon/wan/link_state.hpp"

#include "daemon/common/clock.hpp"

namespace sekisho::wan {

namespace {

std::string by_whom(const Override& override_) {
  std::string text = " by " + override_.by;
  if (override_.until) {
    text += " until " + utc_text(*override_.until);
  }
  return text + ": " + override_.reason;
}

}  // namespace

std::string_view kind_name(OverrideKind kind) {
  return kind == OverrideKind::Up ? "up" : "down";
}

std::string_view cause_name(LinkCause cause) {
  switch (cause) {
    case LinkCause::NoSchedule:
      return "no-schedule";
    case LinkCause::Schedule:
      return "schedule";
    case LinkCause::ForcedDown:
      return "forced-down";
    case LinkCause::SessionHold:
      return "session";
    case LinkCause::UpOverride:
      return "override";
  }
  return "?";
}

nlohmann::json to_json(const Override& override_) {
  return {
      {"kind", kind_name(override_.kind)},
      {"since", utc_text(override_.since)},
      {"until", override_.until ? nlohmann::json(utc_text(*override_.until)) : nlohmann::json()},
      {"by", override_.by},
      {"reason", override_.reason}};
}

std::optional<Override> override_from_json(const nlohmann::json& json, std::string& error) {
  auto text = [&](const char* key) -> const std::string* {
    auto it = json.find(key);
    return it != json.end() && it->is_string() ? it->get_ptr<const std::string*>() : nullptr;
  };
  if (!json.is_object()) {
    error = "an override is an object";
    return std::nullopt;
  }
  Override out;
  const std::string* kind = text("kind");
  const std::string* since = text("since");
  const std::string* by = text("by");
  const std::string* reason = text("reason");
  if (!kind || (*kind != "up" && *kind != "down") || !since || !by || !reason) {
    error = "an override needs kind (up or down), since, by and reason";
    return std::nullopt;
  }
  out.kind = *kind == "up" ? OverrideKind::Up : OverrideKind::Down;
  auto parsed_since = parse_utc_text(*since);
  if (!parsed_since) {
    error = "since '" + *since + "' is not a UTC time YYYY-MM-DDTHH:MM:SSZ";
    return std::nullopt;
  }
  out.since = *parsed_since;
  if (const std::string* until = text("until")) {
    out.until = parse_utc_text(*until);
    if (!out.until) {
      error = "until '" + *until + "' is not a UTC time YYYY-MM-DDTHH:MM:SSZ";
      return std::nullopt;
    }
  } else if (json.contains("until") && !json.at("until").is_null()) {
    error = "until must be a UTC time or null";
    return std::nullopt;
  }
  if (out.kind == OverrideKind::Up && !out.until) {
    error = "an up override needs a deadline";
    return std::nullopt;
  }
  out.by = *by;
  out.reason = *reason;
  return out;
}

LinkDecision decide_link(const LinkInputs& inputs) {
  if (!inputs.override_unreadable.empty()) {
    return {false, LinkCause::ForcedDown,
            "the stored link override cannot be read (" + inputs.override_unreadable +
                "): down until 'sekishoctl link auto' or 'link up'"};
  }
  const std::optional<Override> override_ =
      inputs.override_ && !inputs.override_->expired(inputs.now, inputs.clock_synchronised)
          ? inputs.override_
          : std::nullopt;
  if (override_ && override_->kind == OverrideKind::Down) {
    std::string why = "forced down" + by_whom(*override_);
    if (override_->until && inputs.now >= *override_->until) {
      why +=
          " (its deadline has passed by a clock that is not synchronised: it holds until "
          "the clock is, or until 'sekishoctl link auto')";
    }
    return {false, LinkCause::ForcedDown, why};
  }
  if (!inputs.holding_sessions.empty()) {
    std::string numbers;
    for (std::uint32_t number : inputs.holding_sessions) {
      numbers += (numbers.empty() ? "" : ", ") + std::to_string(number);
    }
    return {true, LinkCause::SessionHold,
            (inputs.holding_sessions.size() == 1 ? "jump session " : "jump sessions ") + numbers +
                " hold" + (inputs.holding_sessions.size() == 1 ? "s" : "") + " it up"};
  }
  if (override_) {
    return {true, LinkCause::UpOverride, "kept up" + by_whom(*override_)};
  }
  if (inputs.schedule.empty()) {
    return {true, LinkCause::NoSchedule, "no wan.up schedule: always up"};
  }
  return {inputs.schedule_open, LinkCause::Schedule,
          "schedule " + inputs.schedule + (inputs.schedule_open ? " is open" : " is closed")};
}

}  // namespace sekisho::wan
