// Jump sessions (docs/architecture.md, Kernel layout): an operator lets one VPN peer reach one
// maintenance target until a deadline. The kernel holds the grant as elements of the
// sessions_v4/v6 maps with the remaining time as their timeout, so access ends on time
// even when sekishod does not run; sekishod records everything, deletes the session's
// connections when it ends (conntrack, by the session's ct mark) and keeps each
// connection's byte counts.
//
// Order at the end of a session: the elements go first (or have timed out), then the
// connections, then the flow and close records, then a signed checkpoint.
#include "daemon/sekishod/sessions.hpp"

#include <algorithm>
#include <chrono>
#include <limits>

#include <unistd.h>

#include "daemon/audit/receipt.hpp"
#include "daemon/common/clock.hpp"
#include "daemon/common/log.hpp"
#include "daemon/nft/apply.hpp"
#include "daemon/sekishod/method_binding.hpp"
#include "daemon/sekishod/request_params.hpp"
#include "policy/compile.hpp"
#include "policy/units.hpp"

namespace sekisho::daemon {

namespace {

using sessions::Session;
using sessions::State;

// How a readback that finds the sessions maps wrong says so.
constexpr const char* kDiffers = "table inet sekisho differs from the open sessions: ";
// An extension needs this much time left: the kernel must not drop the element between
// the decision and the commit.
constexpr std::int64_t kExtendMargin_ms = 2000;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string utc_ms(std::int64_t ms) {
  return utc_text(std::chrono::system_clock::time_point(std::chrono::milliseconds(ms)));
}

std::string duration_text(std::int64_t seconds) {
  return policy::format_duration(seconds);
}

// The sessions maps by family, as `RuntimeSets::session_maps` holds them.
constexpr policy::Family kMapFamilies[] = {policy::Family::V4, policy::Family::V6};

std::uint32_t mark_of(const Session& session) {
  return session.number;
}

sessions::FlowRecord flow_record(const net::Flow& flow, std::int64_t fallback_start_ms) {
  sessions::FlowRecord record;
  record.conntrack_id = flow.id;
  record.started_ms =
      flow.start_ns ? static_cast<std::int64_t>(*flow.start_ns / 1000000) : fallback_start_ms;
  record.ended_ms = flow.stop_ns ? static_cast<std::int64_t>(*flow.stop_ns / 1000000) : 0;
  record.protocol = flow.protocol;
  record.source = flow.source;
  record.source_port = flow.source_port;
  record.destination = flow.destination;
  record.destination_port = flow.destination_port;
  record.packets_to_target = flow.packets_to_destination;
  record.bytes_to_target = flow.bytes_to_destination;
  record.packets_from_target = flow.packets_from_destination;
  record.bytes_from_target = flow.bytes_from_destination;
  return record;
}

nlohmann::json flow_details(const Session& session, const sessions::FlowRecord& flow) {
  nlohmann::json details = sessions::to_json(flow);
  details["session"] = session.id();
  details["started"] = utc_ms(flow.started_ms);
  details["ended"] = flow.ended_ms ? nlohmann::json(utc_ms(flow.ended_ms)) : nlohmann::json();
  details.erase("started_ms");
  details.erase("ended_ms");
  for (const char* key :
       {"bytes_to_target", "bytes_from_target", "packets_to_target", "packets_from_target",
        "conntrack_id", "source_port", "destination_port"}) {
    details[key] = details[key].get<std::int64_t>();  // the audit log takes integers only
  }
  return details;
}

// A session as `session list` and `session show` give it: the flows `store` holds and,
// for an open session, the connections conntrack holds now. It reads nothing else, so a
// job on a thread of its own can call it with a store of its own.
nlohmann::json describe_session(sessions::Store& store, const Session& session, bool with_flows) {
  nlohmann::json out = sessions::to_json(session);
  const std::int64_t now = now_ms();
  out["opened"] = utc_ms(session.opened_ms);
  out["deadline"] = utc_ms(session.deadline_ms);
  out["remaining_seconds"] = session.remaining_ms(now) / 1000;
  out["ended"] = session.ended_ms ? nlohmann::json(utc_ms(session.ended_ms)) : nlohmann::json();
  std::vector<sessions::FlowRecord> flows = store.flows(session.number);
  if (session.open()) {
    std::vector<net::Flow> live;
    net::dump_flows(mark_of(session), 0xffffffff, live);
    for (const net::Flow& flow : live) {
      sessions::FlowRecord record = flow_record(flow, 0);
      auto stored = std::find_if(flows.begin(), flows.end(), [&](const auto& known) {
        return known.conntrack_id == record.conntrack_id &&
               known.source_port == record.source_port && known.ended_ms == 0;
      });
      if (stored != flows.end()) {
        record.started_ms = record.started_ms ? record.started_ms : stored->started_ms;
        *stored = record;
      } else {
        flows.push_back(record);
      }
    }
  }
  std::uint64_t to_target = 0;
  std::uint64_t from_target = 0;
  nlohmann::json list = nlohmann::json::array();
  for (const sessions::FlowRecord& flow : flows) {
    to_target += flow.bytes_to_target;
    from_target += flow.bytes_from_target;
    nlohmann::json item = sessions::to_json(flow);
    item["started"] = flow.started_ms ? nlohmann::json(utc_ms(flow.started_ms)) : nlohmann::json();
    item["ended"] = flow.ended_ms ? nlohmann::json(utc_ms(flow.ended_ms)) : nlohmann::json();
    list.push_back(item);
  }
  out["flows"] = flows.size();
  out["bytes_to_target"] = to_target;
  out["bytes_from_target"] = from_target;
  if (with_flows) {
    out["flow_records"] = list;
  }
  return out;
}

}  // namespace

Sessions::Sessions(Host& host, Enforcement& enforcement, net::NetlinkSocket& conntrack,
                   WanQuery& wan)
    : host_(host),
      enforcement_(enforcement),
      conntrack_(conntrack),
      wan_(wan),
      timer_(host.io()),
      job_(host.io(), "session list") {}

void Sessions::open(const policy::Policy&) {
  const std::string path = host_.options().state_dir + "/sessions.db";
  if (std::error_code error = session_store_.open(path)) {
    log_error("cannot open " + path + ": " + error.message() +
              "; sessions cannot be opened until it can");
    return;
  }
  session_store_ready_ = true;
  for (const audit::Record& record :
       host_.auditor().log().records(0, "session.open", std::numeric_limits<std::size_t>::max())) {
    if (auto number = sessions::parse_session_id(record.details.value("session", ""))) {
      highest_session_number_ = std::max(highest_session_number_, *number);
    }
  }
  std::vector<std::string> errors;
  for (Session& session : session_store_.load(true, errors)) {
    log_notice("session " + session.id() + " (" + session.grant.peer + " to " +
               session.grant.target + ") is still open, until " + utc_ms(session.deadline_ms));
    open_sessions_.emplace(session.number, std::move(session));
  }
  for (const std::string& error : errors) {
    log_error("a stored session cannot be read: " + error);
  }
}

void Sessions::start() {
  if (std::error_code error = net::enable_accounting()) {
    log_warning("cannot turn on conntrack accounting (" + error.message() +
                "): sessions will list their connections without byte counts");
  }
  // Sessions' flows only: a scheduled rule's connections carry marks with the top bit.
  if (std::error_code error = flow_events_.open(0xffffffff, policy::kScheduleMarkBit)) {
    log_warning("cannot listen to conntrack events (" + error.message() +
                "): flows are recorded only when a session ends");
  } else {
    // Asio closes its own copy; flow_events_ keeps reading its own.
    const int fd = ::dup(flow_events_.fd());
    if (fd >= 0) {
      flow_events_fd_ = std::make_unique<boost::asio::posix::stream_descriptor>(host_.io(), fd);
      wait_for_flow_events();
    }
  }
  // Sessions that ran out while sekishod was not running end now.
  check_sessions();
  host_.every(timer_, std::chrono::milliseconds(250), "session deadlines",
              [this] { check_sessions(); });
}

std::vector<ir::Element> Sessions::session_elements(policy::Family family) const {
  const std::int64_t now = now_ms();
  std::vector<ir::Element> out;
  for (const auto& [number, session] : open_sessions_) {
    const std::int64_t remaining = session.remaining_ms(now);
    if (remaining > 0) {
      auto elements = sessions::grant_elements(session.grant, family, mark_of(session),
                                               static_cast<std::uint64_t>(remaining));
      out.insert(out.end(), elements.begin(), elements.end());
    }
  }
  return out;
}

void Sessions::fill(ir::Ruleset& ruleset, const policy::Policy&) {
  for (std::size_t i = 0; i < std::size(kMapFamilies); ++i) {
    if (const std::optional<ir::SetId> map = ruleset.runtime.session_maps[i]) {
      ruleset.at(*map).elements = session_elements(kMapFamilies[i]);
    }
  }
}

bool Sessions::change_session_elements(const Session& session, bool remove, bool add,
                                       const char* what, bool may_be_gone) {
  std::vector<SetChange> changes;
  const std::int64_t remaining = session.remaining_ms(now_ms());
  const ir::RuntimeSets& runtime = enforcement_.current().ruleset.runtime;
  for (std::size_t i = 0; i < std::size(kMapFamilies); ++i) {
    const std::optional<ir::SetId> map = runtime.session_maps[i];
    if (!map) {
      continue;
    }
    const policy::Family family = kMapFamilies[i];
    // The map afterwards: the open sessions' elements (the caller updated them).
    SetChange change{*map, {}, {}, session_elements(family)};
    if (remove) {
      change.remove = sessions::grant_elements(session.grant, family, mark_of(session), 0);
    }
    if (add && remaining > 0) {
      change.add = sessions::grant_elements(session.grant, family, mark_of(session),
                                            static_cast<std::uint64_t>(remaining));
    }
    if (!change.remove.empty() || !change.add.empty()) {
      changes.push_back(std::move(change));
    }
  }
  if (changes.empty()) {
    return true;
  }
  return enforcement_.change_elements(changes, what, may_be_gone);
}

bool Sessions::close_session(Session session, const audit::Actor& by, const std::string& why,
                             bool may_be_gone) {
  // Stored as ended first: a restart must not bring back a session whose end was decided,
  // whether or not the kernel has taken its access away yet.
  if (std::error_code error = session_store_.save(session)) {
    log_error("cannot store the end of " + session.id() + ": " + error.message());
  }
  // Access goes first, whatever happens to the records after.
  const bool removed = change_session_elements(
      session, true, false, may_be_gone ? "session expired" : "session closed", may_be_gone);
  enforcement_.note_retry("session " + session.id(),
                          "take away the access of session " + session.id(),
                          removed ? "" : enforcement_.last_kernel_error());
  if (!removed) {
    // Tried again every second; the end is recorded once the kernel has it.
    const std::uint32_t number = session.number;
    closing_sessions_[number] = ClosingSession{
        std::move(session), by, why, std::chrono::steady_clock::now() + std::chrono::seconds(1)};
    return false;
  }
  try {
    end_session(session, by, why, true);
  } catch (const std::exception& error) {
    log_error("closing " + session.id() + ": " + error.what());
  }
  return true;
}

void Sessions::finish_closing_sessions() {
  const auto now = std::chrono::steady_clock::now();
  for (auto it = closing_sessions_.begin(); it != closing_sessions_.end();) {
    ClosingSession& closing = it->second;
    if (!closing.elements_gone && now < closing.next_attempt) {
      ++it;
      continue;
    }
    // A whole-table apply since (a restore, or another closing's fallback) took every
    // closing session's access away; elements that timed out meanwhile are fine too.
    const bool removed =
        closing.elements_gone ||
        change_session_elements(closing.session, true, false, "session closing", true);
    enforcement_.note_retry("session " + closing.session.id(),
                            "take away the access of session " + closing.session.id(),
                            removed ? "" : enforcement_.last_kernel_error());
    if (!removed) {
      closing.next_attempt = now + std::chrono::seconds(1);
      ++it;
      continue;
    }
    ClosingSession done = std::move(closing);
    it = closing_sessions_.erase(it);
    try {
      end_session(done.session, done.by, done.why, true);
    } catch (const std::exception& error) {
      log_error("closing " + done.session.id() + ": " + error.what());
    }
  }
}

nlohmann::json Sessions::session_open(const nlohmann::json& params, const audit::Actor& by) {
  if (!session_store_ready_) {
    throw std::runtime_error("the session store (" + host_.options().state_dir +
                             "/sessions.db) cannot be opened");
  }
  const policy::Policy& policy = enforcement_.current().policy;
  const std::string peer = params.value("peer", "");
  const std::string target = params.value("target", "");
  const std::int64_t seconds = seconds_param(params, "duration_seconds");
  const std::string reason = text_param(params, "reason", true);
  const std::string ticket = text_param(params, "ticket", false);
  if (seconds <= 0) {
    throw invalid("the duration must be positive");
  }
  std::string error;
  std::optional<sessions::Grant> grant = sessions::grant_for(policy, peer, target, error);
  if (!grant) {
    throw invalid(error);
  }
  const std::int64_t max = policy.remote_maintenance->max_duration_seconds;
  if (seconds > max) {
    throw invalid("a session lasts at most " + duration_text(max) +
                  " (remote_maintenance.max_duration); asked for " + duration_text(seconds));
  }
  for (const auto& [number, open] : open_sessions_) {
    if (sessions::overlaps(open.grant, *grant)) {
      throw control::ControlError(control::ErrorCode::Conflict,
                                  open.id() + " already lets " + open.grant.peer + " reach " +
                                      open.grant.target + " (until " + utc_ms(open.deadline_ms) +
                                      "): extend it or close it first");
    }
  }
  if (std::optional<std::string> why = wan_.forced_down_why()) {
    // A forced down outranks a session's hold: the vendor could not come in anyway.
    throw control::ControlError(
        control::ErrorCode::Conflict,
        "the WAN link is " + *why + ": 'sekishoctl link auto' or 'link up' first");
  }
  if (!host_.auditor().writable()) {
    throw control::ControlError(control::ErrorCode::AuditUnavailable,
                                "the audit log cannot be written: no session is opened");
  }
  Session session;
  // Never a number used before: not by the store, nor by the audit log (a store lost and
  // made again starts empty), nor by an open session.
  session.number = std::max({session_store_.next_number(), highest_session_number_ + 1,
                             open_sessions_.empty() ? 1u : open_sessions_.rbegin()->first + 1});
  if (session.number >= policy::kScheduleMarkBit) {
    // Session numbers are ct marks; the ones from here on belong to scheduled rules.
    throw std::runtime_error("no session numbers are left (" + std::to_string(session.number) +
                             ")");
  }
  highest_session_number_ = session.number;
  session.grant = std::move(*grant);
  session.opened_by = by;
  session.opened_ms = now_ms();
  session.deadline_ms = session.opened_ms + seconds * 1000;
  session.reason = reason;
  session.ticket = ticket;
  nlohmann::json details = sessions::to_json(session);
  details = {{"session", session.id()},
             {"peer", session.grant.peer},
             {"peer_public_key", session.grant.peer_public_key},
             {"peer_addresses", details["peer_addresses"]},
             {"target", session.grant.target},
             {"host", session.grant.host},
             {"target_addresses", details["target_addresses"]},
             {"services", details["services"]},
             {"reason", reason},
             {"ticket", ticket},
             {"duration_seconds", seconds},
             {"deadline", utc_ms(session.deadline_ms)}};
  // Written (and synced) before the kernel lets anything through, right after a signed
  // checkpoint: the receipt's segment for it holds the record alone.
  host_.auditor().checkpoint();
  if (!host_.auditor().record_or_refuse(by, "session.open", details, &session.open_seq)) {
    throw control::ControlError(control::ErrorCode::AuditUnavailable,
                                "the audit log cannot be written: no session is opened");
  }
  host_.auditor().checkpoint();
  if (std::error_code store_error = session_store_.save(session)) {
    session.state = State::Closed;
    end_session(session, Auditor::daemon_actor(),
                "the session store cannot be written: " + store_error.message(), false);
    throw std::runtime_error("the session store cannot be written: " + store_error.message());
  }
  const std::uint32_t number = session.number;
  open_sessions_.emplace(number, session);
  if (!change_session_elements(open_sessions_.at(number), false, true, "session opened")) {
    Session failed = open_sessions_.at(number);
    open_sessions_.erase(number);
    failed.state = State::Closed;
    end_session(failed, Auditor::daemon_actor(), "the kernel refused the session", false);
    throw std::runtime_error("the kernel refused the session's elements; see the daemon's log");
  }
  log_notice("session " + session.id() + " opened by " + by.user + ": " + session.grant.peer +
             " may reach " + session.grant.target + " until " + utc_ms(session.deadline_ms));
  wan_.recheck();  // the session holds the WAN link up: the vendor comes in through it
  nlohmann::json out = session_json(open_sessions_.at(number), false);
  out["deadline"] = utc_ms(session.deadline_ms);
  return out;
}

nlohmann::json Sessions::session_extend(const nlohmann::json& params, const audit::Actor& by) {
  auto number = sessions::parse_session_id(params.value("id", ""));
  auto it = number ? open_sessions_.find(*number) : open_sessions_.end();
  if (it == open_sessions_.end()) {
    throw control::ControlError(control::ErrorCode::NotFound,
                                "no open session " + params.value("id", std::string()));
  }
  Session& session = it->second;
  const std::int64_t seconds = seconds_param(params, "by_seconds");
  const std::string reason = text_param(params, "reason", false);
  if (seconds <= 0) {
    throw invalid("the extension must be positive");
  }
  const std::int64_t now = now_ms();
  if (session.remaining_ms(now) < kExtendMargin_ms) {
    throw invalid(session.id() + " ends in under 2 s: open a new session instead");
  }
  const std::int64_t max =
      enforcement_.current().policy.remote_maintenance
          ? enforcement_.current().policy.remote_maintenance->max_duration_seconds
          : 0;
  if (seconds > max) {  // also keeps the arithmetic below far from overflowing
    throw invalid("an extension of " + duration_text(seconds) +
                  " is longer than remote_maintenance.max_duration (" + duration_text(max) + ")");
  }
  const std::int64_t new_deadline = session.deadline_ms + seconds * 1000;
  if (new_deadline - session.opened_ms > max * 1000) {
    const std::int64_t room =
        std::max<std::int64_t>(0, (session.opened_ms + max * 1000 - session.deadline_ms) / 1000);
    throw invalid(session.id() + " would last " +
                  duration_text((new_deadline - session.opened_ms) / 1000) +
                  "; remote_maintenance.max_duration is " + duration_text(max) +
                  ": it can be extended by at most " + duration_text(room));
  }
  host_.auditor().checkpoint();  // the receipt's segment for it starts right after a signed one
  if (!host_.auditor().record_or_refuse(by, "session.extend",
                                        {{"session", session.id()},
                                         {"by_seconds", seconds},
                                         {"old_deadline", utc_ms(session.deadline_ms)},
                                         {"deadline", utc_ms(new_deadline)},
                                         {"open_seq", session.open_seq},
                                         {"reason", reason}})) {
    throw control::ControlError(control::ErrorCode::AuditUnavailable,
                                "the audit log cannot be written: the session is not extended");
  }
  host_.auditor().checkpoint();  // the receipt's segment for it is the record alone
  const std::int64_t old_deadline = session.deadline_ms;
  // The map as it is to be is built from the open sessions: this one with its new deadline.
  session.deadline_ms = new_deadline;
  ++session.extensions;
  if (!change_session_elements(session, true, true, "session extended")) {
    // The kernel keeps the old element, and with it the old end: so do the session and
    // its store. Not retried: a wider access the operator was told had failed must not
    // turn up later on its own.
    session.deadline_ms = old_deadline;
    --session.extensions;
    log_error("session " + session.id() + ": the kernel refused the extension (" +
              enforcement_.last_kernel_error() + "); it still ends at " + utc_ms(old_deadline));
    host_.auditor().checkpoint();
    host_.auditor().record(Auditor::daemon_actor(), "session.extend_failed",
                           {{"session", session.id()},
                            {"open_seq", session.open_seq},
                            {"deadline", utc_ms(old_deadline)},
                            {"refused_deadline", utc_ms(new_deadline)},
                            {"error", enforcement_.last_kernel_error()}});
    host_.auditor().checkpoint();
    nlohmann::json out = session_json(session, false);
    out["kernel_applied"] = false;
    return out;
  }
  if (std::error_code error = session_store_.save(session)) {
    log_error("cannot store the extension of " + session.id() + ": " + error.message() +
              " (after a restart it would end at " + utc_ms(old_deadline) + ")");
  }
  log_notice("session " + session.id() + " extended by " + by.user + " until " +
             utc_ms(new_deadline));
  nlohmann::json out = session_json(session, false);
  out["deadline"] = utc_ms(new_deadline);
  out["kernel_applied"] = true;
  return out;
}

nlohmann::json Sessions::session_close(const nlohmann::json& params, const audit::Actor& by) {
  const std::string reason = text_param(params, "reason", true);
  std::vector<std::uint32_t> numbers;
  if (params.value("all", false)) {
    for (const auto& [number, session] : open_sessions_) {
      numbers.push_back(number);
    }
  } else {
    auto number = sessions::parse_session_id(params.value("id", ""));
    if (!number || !open_sessions_.contains(*number)) {
      throw control::ControlError(control::ErrorCode::NotFound,
                                  "no open session " + params.value("id", std::string()));
    }
    numbers.push_back(*number);
  }
  nlohmann::json closed = nlohmann::json::array();
  bool removed = true;
  for (std::uint32_t number : numbers) {
    Session session = open_sessions_.at(number);
    open_sessions_.erase(number);
    session.state = State::Closed;
    closed.push_back(session.id());
    // Should the kernel refuse even a whole-table apply, it is tried again every second,
    // and the close recorded once the access is gone.
    removed = close_session(std::move(session), by, reason, false) && removed;
  }
  return {{"closed", closed}, {"kernel_removed", removed}};
}

void Sessions::check_sessions() {
  finish_closing_sessions();
  const std::int64_t now = now_ms();
  std::vector<std::uint32_t> due;
  for (const auto& [number, session] : open_sessions_) {
    if (session.deadline_ms <= now) {
      due.push_back(number);
    }
  }
  for (std::uint32_t number : due) {
    Session session = open_sessions_.at(number);
    open_sessions_.erase(number);
    // The kernel's elements have usually timed out already; one committed late (a full
    // apply takes its time) may still be there: either way they go before the flows.
    session.state = State::Expired;
    const std::string why = now - session.deadline_ms > 5000
                                ? "expired while sekishod was not running (noticed " +
                                      duration_text((now - session.deadline_ms) / 1000) + " late)"
                                : "expired";
    close_session(std::move(session), Auditor::daemon_actor(), why, true);
  }
}

std::vector<std::uint32_t> Sessions::sessions_without_grant(const policy::Policy& policy) {
  std::vector<std::uint32_t> out;
  for (const auto& [number, session] : open_sessions_) {
    std::string error;
    auto grant = sessions::grant_for(policy, session.grant.peer, session.grant.target, error);
    if (!grant || !(*grant == session.grant)) {
      out.push_back(number);
    }
  }
  return out;
}

void Sessions::before_policy(const policy::Policy& next) {
  ending_.clear();
  for (std::uint32_t number : sessions_without_grant(next)) {
    ending_.push_back(open_sessions_.at(number));
    open_sessions_.erase(number);
  }
}

void Sessions::after_policy(const policy::Policy&, bool ok) {
  std::vector<Session> ending = std::exchange(ending_, {});
  if (!ok) {
    for (Session& session : ending) {
      open_sessions_.emplace(session.number, std::move(session));
    }
    return;
  }
  end_sessions_without_grant(ending);
}

void Sessions::after_apply(const policy::Policy&) {
  for (auto& [number, closing] : closing_sessions_) {
    closing.elements_gone = true;  // the table applied holds the open sessions only
  }
}

void Sessions::end_sessions_without_grant(const std::vector<Session>& ended) {
  for (Session session : ended) {
    session.state = State::Ended;
    end_session(session, Auditor::daemon_actor(),
                "the policy in force no longer grants " + session.grant.peer + " access to " +
                    session.grant.target + " as it did",
                true);
  }
}

void Sessions::end_session(Session& session, const audit::Actor& by, const std::string& why,
                           bool delete_flows) {
  session.ended_ms = now_ms();
  session.closed_by = by;
  session.close_reason = why;
  // Stored as ended first: a restart in the middle of the flow work must not bring it back.
  if (std::error_code error = session_store_.save(session)) {
    log_error("cannot store the end of " + session.id() + ": " + error.message());
  }
  if (delete_flows) {
    // The counters so far (kept if the DESTROY events are lost), then the connections.
    std::vector<net::Flow> live;
    if (std::error_code error = net::dump_flows(conntrack_, mark_of(session), 0xffffffff, live)) {
      log_warning("cannot read the connections of " + session.id() + ": " + error.message());
    }
    for (const net::Flow& flow : live) {
      session_store_.save_flow(session.number, flow_record(flow, session.ended_ms));
    }
    if (std::error_code error = net::delete_flows(conntrack_, mark_of(session), 0xffffffff)) {
      log_error("cannot delete the connections of " + session.id() + ": " + error.message() +
                " (the kernel rejects their packets all the same)");
    }
    // The kernel queued their DESTROY events during the delete: all of them are read
    // before the ones whose event was lost are told apart.
    for (int round = 0; round < 64 && handle_flow_events() > 0; ++round) {
    }
    for (sessions::FlowRecord flow : session_store_.flows(session.number)) {
      if (flow.ended_ms == 0) {  // its event was lost: the dump's counters stand
        flow.ended_ms = session.ended_ms;
        session_store_.save_flow(session.number, flow);
        host_.auditor().record(Auditor::daemon_actor(), "session.flow",
                               flow_details(session, flow));
      }
    }
  }
  session.totals = {};
  for (const sessions::FlowRecord& flow : session_store_.flows(session.number)) {
    ++session.totals.flows;
    session.totals.bytes_to_target += flow.bytes_to_target;
    session.totals.bytes_from_target += flow.bytes_from_target;
  }
  if (std::error_code error = session_store_.save(session)) {
    log_error("cannot store the end of " + session.id() + ": " + error.message());
  }
  host_.auditor().checkpoint();  // the receipt's segment for the close is the record alone
  host_.auditor().record(
      by, "session.close",
      {{"session", session.id()},
       {"state", sessions::state_name(session.state)},
       {"why", why},
       {"peer", session.grant.peer},
       {"target", session.grant.target},
       {"opened", utc_ms(session.opened_ms)},
       {"opened_by", session.opened_by.user},
       {"deadline", utc_ms(session.deadline_ms)},
       {"open_seq", session.open_seq},
       {"flows", static_cast<std::int64_t>(session.totals.flows)},
       {"bytes_to_target", static_cast<std::int64_t>(session.totals.bytes_to_target)},
       {"bytes_from_target", static_cast<std::int64_t>(session.totals.bytes_from_target)}});
  host_.auditor().checkpoint();
  log_notice("session " + session.id() + " (" + session.grant.peer + " to " + session.grant.target +
             ") " + std::string(sessions::state_name(session.state)) + ": " + why);
}

void Sessions::wait_for_flow_events() {
  flow_events_fd_->async_wait(boost::asio::posix::stream_descriptor::wait_read,
                              [this](const boost::system::error_code& error) {
                                if (error) {
                                  return;
                                }
                                host_.guarded("conntrack events", [this] { handle_flow_events(); });
                                wait_for_flow_events();
                              });
}

std::size_t Sessions::handle_flow_events() {
  if (flow_events_.fd() < 0) {
    return 0;
  }
  std::vector<net::FlowEvent> events;
  bool lost = false;
  if (std::error_code error = flow_events_.read(events, lost)) {
    log_warning("reading conntrack events: " + error.message());
  }
  if (lost) {
    log_warning("conntrack events were lost: flows of open sessions are read when they end");
  }
  for (const net::FlowEvent& event : events) {
    // Unmarked flows, and those of scheduled rules (policy::kScheduleMarkBit), are not a
    // session's.
    if (event.flow.mark == 0 || (event.flow.mark & policy::kScheduleMarkBit) != 0) {
      continue;
    }
    std::optional<Session> session;
    if (auto it = open_sessions_.find(event.flow.mark); it != open_sessions_.end()) {
      session = it->second;
    } else {
      std::string ignored;
      session = session_store_.find(event.flow.mark, ignored);
    }
    if (!session) {
      continue;  // a mark that is not ours
    }
    sessions::FlowRecord flow = flow_record(event.flow, now_ms());
    if (event.kind == net::FlowEventKind::Destroy) {
      if (flow.ended_ms == 0) {
        flow.ended_ms = now_ms();
      }
      host_.auditor().record(Auditor::daemon_actor(), "session.flow", flow_details(*session, flow));
    }
    session_store_.save_flow(session->number, flow);
  }
  return events.size();
}

nlohmann::json Sessions::session_json(const Session& session, bool with_flows) {
  return describe_session(session_store_, session, with_flows);
}

BackgroundJob::Work Sessions::session_list_work(bool all) {
  return [path = host_.options().state_dir + "/sessions.db", all,
          open = open_sessions_](std::stop_token) {
    sessions::Store store;
    // Unreadable, it lists what it can: the open sessions, without their stored flows.
    store.open_snapshot(path);
    nlohmann::json list = nlohmann::json::array();
    if (all) {
      std::vector<std::string> errors;
      for (const Session& session : store.load(false, errors)) {
        auto found = open.find(session.number);
        list.push_back(
            describe_session(store, found != open.end() ? found->second : session, false));
      }
    } else {
      for (const auto& [number, session] : open) {
        list.push_back(describe_session(store, session, false));
      }
    }
    return nlohmann::json{{"sessions", list}};
  };
}

BackgroundJob::Work Sessions::session_show_work(std::uint32_t number) {
  std::optional<Session> open;
  if (auto found = open_sessions_.find(number); found != open_sessions_.end()) {
    open = found->second;
  }
  return [path = host_.options().state_dir + "/sessions.db", number, open](std::stop_token) {
    sessions::Store store;
    store.open_snapshot(path);
    std::string error;
    std::optional<Session> session = open ? open : store.find(number, error);
    if (!session) {
      throw control::ControlError(
          control::ErrorCode::NotFound,
          "no session s-" + std::to_string(number) + (error.empty() ? "" : ": " + error));
    }
    return describe_session(store, *session, true);
  };
}

std::uint32_t Sessions::session_number(const nlohmann::json& params) {
  auto number = sessions::parse_session_id(params.value("id", ""));
  if (!number) {
    throw invalid("a session id looks like s-7");
  }
  return *number;
}

Session Sessions::find_session(const nlohmann::json& params) {
  const std::uint32_t number = session_number(params);
  if (auto it = open_sessions_.find(number); it != open_sessions_.end()) {
    return it->second;
  }
  std::string error;
  std::optional<Session> session = session_store_.find(number, error);
  if (!session) {
    throw control::ControlError(
        control::ErrorCode::NotFound,
        "no session " + params.value("id", std::string()) + (error.empty() ? "" : ": " + error));
  }
  return *session;
}

std::optional<std::string> Sessions::compare_owned(nft::TableImage& expected,
                                                   nft::TableImage& kernel) const {
  const ir::Ruleset& ruleset = enforcement_.current().ruleset;
  // The maps' names, as the kernel speaks them.
  std::vector<std::string> names;
  for (const std::optional<ir::SetId>& map : ruleset.runtime.session_maps) {
    if (map) {
      names.push_back(ruleset.at(*map).name);
    }
  }
  std::vector<std::string> wanted;
  std::vector<std::string> held;
  for (const std::string& name : names) {
    for (std::string& line : expected.take_elements(name)) {
      wanted.push_back(std::move(line));
    }
    for (std::string& line : kernel.take_elements(name)) {
      held.push_back(std::move(line));
    }
  }
  std::sort(wanted.begin(), wanted.end());
  std::sort(held.begin(), held.end());
  for (const std::string& line : held) {
    if (!std::binary_search(wanted.begin(), wanted.end(), line)) {
      return std::string(kDiffers) + "unexpected: " + line;
    }
  }
  // An element may have timed out a moment before its session's end was noticed.
  const std::int64_t now = now_ms();
  for (const auto& [number, session] : open_sessions_) {
    if (session.remaining_ms(now) <= kExtendMargin_ms) {
      continue;
    }
    std::vector<nft::ElementChange> changes;
    for (std::size_t i = 0; i < std::size(kMapFamilies); ++i) {
      if (const std::optional<ir::SetId> map = ruleset.runtime.session_maps[i]) {
        changes.push_back(
            {&ruleset.at(*map),
             {},
             sessions::grant_elements(session.grant, kMapFamilies[i], mark_of(session), 1)});
      }
    }
    nft::TableImage own = nft::image_of_batch(nft::build_element_batch(ruleset, changes, 1));
    for (const std::string& name : names) {
      for (const std::string& line : own.take_elements(name)) {
        if (!std::binary_search(held.begin(), held.end(), line)) {
          return kDiffers + ("missing (" + session.id() + "): " + line);
        }
      }
    }
  }
  return std::nullopt;
}

nlohmann::json Sessions::session_receipt_json(const nlohmann::json& params) {
  const Session session = find_session(params);
  // The session's own records: its open, each extension (and each the kernel refused) and
  // its close.
  std::vector<std::int64_t> seqs = {session.open_seq};
  for (const char* kind : {"session.extend", "session.extend_failed", "session.close"}) {
    for (const audit::Record& record :
         host_.auditor().log().records(session.open_seq, kind, 100000)) {
      // The id and the open it belongs to: an id is never reused, and this makes sure.
      if (record.details.value("session", "") == session.id() &&
          record.details.value("open_seq", std::int64_t{-1}) == session.open_seq) {
        seqs.push_back(record.seq);
      }
    }
  }
  std::sort(seqs.begin(), seqs.end());
  host_.auditor().checkpoint();  // a record written while the log was away is covered now
  std::string error;
  std::optional<nlohmann::json> receipt =
      audit::make_receipt(host_.auditor().log(), seqs, host_.auditor().public_pem(), error);
  if (!receipt) {
    throw std::runtime_error("no receipt for " + session.id() + ": " + error);
  }
  return *receipt;
}

std::vector<std::uint32_t> Sessions::holding(std::int64_t now_ms) const {
  std::vector<std::uint32_t> numbers;
  for (const auto& [number, session] : open_sessions_) {
    if (session.remaining_ms(now_ms) > 0) {  // one that ran out while sekishod was down does not
      numbers.push_back(number);
    }
  }
  return numbers;
}

void Sessions::bind_methods(control::MethodTable& table) {
  using Call = control::MethodTable::Call;
  table.bind(control::kSessionOpen, [this](const Call& call) {
    return session_open(call.params(), actor_of(call.caller));
  });
  table.bind(control::kSessionExtend, [this](const Call& call) {
    return session_extend(call.params(), actor_of(call.caller));
  });
  table.bind(control::kSessionClose, [this](const Call& call) {
    return session_close(call.params(), actor_of(call.caller));
  });
  table.bind(control::kSessionList, [this](const Call& call) -> std::optional<nlohmann::json> {
    const bool all = call.params().value("all", false);
    answer_later(
        job_, all ? "list all" : "list", [this, all] { return session_list_work(all); },
        call.later);
    return std::nullopt;
  });
  table.bind(control::kSessionShow, [this](const Call& call) -> std::optional<nlohmann::json> {
    const std::uint32_t number = session_number(call.params());
    answer_later(
        job_, "show " + std::to_string(number),
        [this, number] { return session_show_work(number); }, call.later);
    return std::nullopt;
  });
  table.bind(control::kSessionReceipt,
             [this](const Call& call) { return session_receipt_json(call.params()); });
}

}  // namespace sekisho::daemon
