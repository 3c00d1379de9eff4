#include "daemon/sessions/session.hpp"

#include <charconv>

namespace sekisho::sessions {

namespace {

nlohmann::json actor_json(const audit::Actor& actor) {
  return {{"uid", actor.uid}, {"user", actor.user}, {"role", actor.role}};
}

audit::Actor actor_from(const nlohmann::json& json) {
  return {json.at("uid").get<std::int64_t>(), json.at("user").get<std::string>(),
          json.at("role").get<std::string>()};
}

nlohmann::json addresses_json(const std::vector<policy::IpAddress>& addresses) {
  nlohmann::json out = nlohmann::json::array();
  for (const policy::IpAddress& address : addresses) {
    out.push_back(address.to_string());
  }
  return out;
}

std::vector<policy::IpAddress> addresses_from(const nlohmann::json& json) {
  std::vector<policy::IpAddress> out;
  for (const auto& text : json) {
    auto address = policy::parse_ip(text.get<std::string>());
    if (!address) {
      throw std::runtime_error("bad address in a stored session: " + text.get<std::string>());
    }
    out.push_back(*address);
  }
  return out;
}

}  // namespace

std::string_view state_name(State state) {
  switch (state) {
    case State::Open:
      return "open";
    case State::Closed:
      return "closed";
    case State::Expired:
      return "expired";
    case State::Ended:
      return "ended";
  }
  return "?";
}

std::optional<State> state_from_name(std::string_view name) {
  for (State state : {State::Open, State::Closed, State::Expired, State::Ended}) {
    if (state_name(state) == name) {
      return state;
    }
  }
  return std::nullopt;
}

nlohmann::json to_json(const Session& session) {
  const Grant& grant = session.grant;
  return {{"id", session.id()},
          {"number", session.number},
          {"peer", grant.peer},
          {"peer_public_key", grant.peer_public_key},
          {"peer_addresses", addresses_json(grant.peer_addresses)},
          {"target", grant.target},
          {"host", grant.host},
          {"target_addresses", addresses_json(grant.target_addresses)},
          {"services", service_texts(grant)},
          {"opened_by", actor_json(session.opened_by)},
          {"opened_ms", session.opened_ms},
          {"deadline_ms", session.deadline_ms},
          {"reason", session.reason},
          {"ticket", session.ticket},
          {"open_seq", session.open_seq},
          {"extensions", session.extensions},
          {"state", state_name(session.state)},
          {"ended_ms", session.ended_ms},
          {"closed_by", actor_json(session.closed_by)},
          {"close_reason", session.close_reason},
          {"flows", session.totals.flows},
          {"bytes_to_target", session.totals.bytes_to_target},
          {"bytes_from_target", session.totals.bytes_from_target}};
}

Session session_from_json(const nlohmann::json& json) {
  Session session;
  session.number = json.at("number").get<std::uint32_t>();
  Grant& grant = session.grant;
  grant.peer = json.at("peer").get<std::string>();
  grant.peer_public_key = json.at("peer_public_key").get<std::string>();
  grant.peer_addresses = addresses_from(json.at("peer_addresses"));
  grant.target = json.at("target").get<std::string>();
  grant.host = json.at("host").get<std::string>();
  grant.target_addresses = addresses_from(json.at("target_addresses"));
  for (const auto& text : json.at("services")) {
    std::string error;
    auto item = policy::parse_service_item(text.get<std::string>(), error);
    if (!item) {
      throw std::runtime_error("bad service in a stored session: " + error);
    }
    grant.services.push_back(*item);
  }
  session.opened_by = actor_from(json.at("opened_by"));
  session.opened_ms = json.at("opened_ms").get<std::int64_t>();
  session.deadline_ms = json.at("deadline_ms").get<std::int64_t>();
  session.reason = json.at("reason").get<std::string>();
  session.ticket = json.at("ticket").get<std::string>();
  session.open_seq = json.at("open_seq").get<std::int64_t>();
  session.extensions = json.at("extensions").get<int>();
  auto state = state_from_name(json.at("state").get<std::string>());
  if (!state) {
    throw std::runtime_error("bad state in a stored session");
  }
  session.state = *state;
  session.ended_ms = json.at("ended_ms").get<std::int64_t>();
  session.closed_by = actor_from(json.at("closed_by"));
  session.close_reason = json.at("close_reason").get<std::string>();
  session.totals.flows = json.at("flows").get<std::uint64_t>();
  session.totals.bytes_to_target = json.at("bytes_to_target").get<std::uint64_t>();
  session.totals.bytes_from_target = json.at("bytes_from_target").get<std::uint64_t>();
  return session;
}

std::optional<std::uint32_t> parse_session_id(std::string_view text) {
  if (text.starts_with("s-")) {
    text.remove_prefix(2);
  }
  std::uint32_t number = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (error != std::errc() || end != text.data() + text.size() || text.empty() || number == 0) {
    return std::nullopt;
  }
  return number;
}

}  // namespace sekisho::sessions
