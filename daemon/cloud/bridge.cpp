#include "daemon/cloud/bridge.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <sys/stat.h>

#include "daemon/common/clock.hpp"
#include "daemon/common/log.hpp"
#include "daemon/common/sha256.hpp"
#include "daemon/vpn/key_file.hpp"
#include "policy/topic_filter.hpp"

namespace sekisho::cloud {

namespace {

using std::chrono::steady_clock;

constexpr std::size_t kMaxBatch = 1000;  // messages per outbox transaction
constexpr auto kAckCommitDelay = std::chrono::milliseconds(50);
constexpr std::size_t kReadAhead = 256;  // rows read from the outbox at a time
constexpr std::chrono::seconds kMaxBackoff{60};
constexpr std::chrono::seconds kStallAfter{60};  // connected, in flight, no PUBACK
constexpr std::chrono::seconds kDropRecordEvery{60};

std::int64_t unix_ms(std::chrono::system_clock::time_point time) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
}

bool matches_any(const std::vector<std::string>& filters, const std::string& topic) {
  return std::any_of(filters.begin(), filters.end(), [&](const std::string& filter) {
    return policy::topic_matches(filter, topic);
  });
}

// The key must be the gateway's secret, by the rules of every private key sekishod reads.
std::string client_key_problem(const std::string& path) {
  struct stat info {};
  if (::lstat(path.c_str(), &info) != 0) {
    return "cannot read the client key " + path + ": " + std::strerror(errno);
  }
  std::string problem = vpn::key_file_problem(info);
  return problem.empty() ? "" : "the client key " + path + ": " + problem;
}

// As the policy writes it: "200/s", "600/m", "3600/h".
std::string rate_text(const BridgeConfig& config) {
  if (!config.drain_count) {
    return "unlimited";
  }
  const std::int64_t period = config.drain_period.count();
  const std::string unit = period == 1      ? "s"
                           : period == 60   ? "m"
                           : period == 3600 ? "h"
                                            : std::to_string(period) + "s";
  return std::to_string(*config.drain_count) + "/" + unit;
}

}  // namespace

std::optional<BridgeConfig> bridge_config(const policy::Policy& policy,
                                          const std::string& local_socket,
                                          const std::string& local_username,
                                          const std::string& local_password) {
  if (!policy.cloud) {
    return std::nullopt;
  }
  const policy::CloudMqtt& cloud = *policy.cloud;
  BridgeConfig config;
  for (const policy::Host& host : policy.hosts) {
    if (host.name == cloud.broker.name) {
      for (const policy::IpAddress& address : host.addresses) {
        config.cloud_addresses.push_back(address.to_string());
      }
    }
  }
  config.cloud.port = cloud.port;
  config.cloud.ca_file = cloud.ca_file;
  config.cloud.cert_file = cloud.cert_file;
  config.cloud.key_file = cloud.key_file;
  // Fixed, so the cloud broker keeps this gateway's session across restarts.
  config.cloud.client_id = "sekisho-" + policy.gateway_name;
  // The broker runs on the gateway: local_broker is the gateway's own address on the
  // factory side, where devices reach it. sekishod logs in through a Unix socket of its
  // own (daemon/cloud/broker_config), as the one user that may read the uplink topics and
  // publish the downlink ones.
  config.local.socket = local_socket;
  config.local.username = local_username;
  config.local.password = local_password;
  config.local_devices =
      cloud.local_broker_address.to_string() + ":" + std::to_string(cloud.local_broker_port);
  for (const policy::NameRef& filter : cloud.uplink) {
    config.local.uplink_filters.push_back(filter.name);
  }
  for (const policy::NameRef& filter : cloud.downlink) {
    config.cloud.downlink_filters.push_back(filter.name);
  }
  config.limits.max_bytes = cloud.queue_max_bytes;
  config.limits.on_full = cloud.queue_on_full == policy::QueueFullAction::DropOldest
                              ? OnFull::DropOldest
                              : OnFull::RejectNew;
  config.drain_count = cloud.drain_count;
  config.drain_period = std::chrono::seconds(cloud.drain_period_seconds);
  return config;
}

Bridge::Bridge(boost::asio::io_context& io, BridgeConfig config, BridgeHooks hooks)
    : io_(io),
      config_(std::move(config)),
      hooks_(std::move(hooks)),
      local_retry_timer_(io),
      cloud_retry_timer_(io),
      ack_commit_timer_(io),
      pump_timer_(io),
      random_(std::random_device{}()) {}

Bridge::~Bridge() {
  // What the cloud acknowledged is deleted; what the local broker sent and we did not
  // commit is not acknowledged, so the broker offers it again to the next sekishod.
  batch_.append.clear();
  batch_.too_large = 0;
  local_acks_.clear();
  if (outbox_.is_open() && !batch_.acked.empty()) {
    CommitResult result;
    (void)outbox_.commit(batch_, result);
  }
  if (cloud_) {
    cloud_->disconnect();
  }
  if (local_) {
    local_->close();
  }
}

std::error_code Bridge::start(const std::string& outbox_path, bool wan_open) {
  outbox_.set_limits(config_.limits);
  if (std::error_code error = outbox_.open(outbox_path)) {
    return error;
  }
  LocalClientHandlers local;
  local.connected = [this](bool) {
    local_state_ = "connected";
    local_error_.clear();
    local_backoff_ = std::chrono::seconds(1);
    log_info("cloud: subscribed at the local broker " + config_.local.socket);
  };
  local.disconnected = [this](const std::string& why) {
    // Not committed, not acknowledged: the broker offers them again.
    batch_.append.clear();
    batch_.too_large = 0;
    local_acks_.clear();
    // Downlink messages not acknowledged by the local broker are gone with the connection
    // (their audit record says they arrived; the count says they were not delivered).
    downlink_dropped_ += downlink_in_flight_.size();
    downlink_in_flight_.clear();
    if (local_state_ == "connected") {
      log_warning("cloud: the local broker connection ended: " + why);
    } else if (local_error_ != why) {
      log_warning("cloud: cannot subscribe at the local broker: " + why);
    }
    local_state_ = "down";
    local_error_ = why;
    schedule_local_retry();
  };
  local.message = [this](std::uint64_t connection, mqtt::Publish&& message) {
    on_local_message(connection, std::move(message));
  };
  local.too_large = [this](std::uint64_t connection, const mqtt::TooLarge& message) {
    on_local_too_large(connection, message);
  };
  local.read_done = [this] { on_local_read_done(); };
  local.published = [this](std::uint16_t packet_id) {
    if (downlink_in_flight_.erase(packet_id) > 0) {
      ++downlink_delivered_;
    }
  };
  local_ = std::make_unique<LocalClient>(io_, std::move(local));

  CloudLinkHandlers cloud;
  cloud.connected = [this] { on_cloud_connected(); };
  cloud.failure = [this](const std::string& why, bool was_connected) {
    on_cloud_failure(why, was_connected);
  };
  cloud.delivered = [this](std::int64_t id, bool ok) { on_delivered(id, ok); };
  cloud.downlink = [this](const std::string& topic, const std::string& payload) {
    on_downlink(topic, payload);
  };
  cloud_ = std::make_unique<CloudLink>(io_, std::move(cloud));

  const OutboxCounters& counters = outbox_.counters();
  recorded_full_ = counters.dropped_full;
  recorded_too_large_ = counters.dropped_too_large;
  drops_at_last_tick_ = counters.dropped();
  log_info("cloud: outbox " + outbox_path + " holds " + std::to_string(counters.stored) +
           " messages (" + std::to_string(counters.stored_bytes) + " bytes)");
  connect_local();
  wan_open_ = wan_open;
  if (wan_open_) {
    connect_cloud();
  } else {
    cloud_state_ = "waiting for the WAN";
  }
  return {};
}

// Uplink: local broker -> outbox.

void Bridge::connect_local() {
  local_state_ = "connecting";
  local_->connect(config_.local);
}

void Bridge::schedule_local_retry() {
  local_retry_timer_.expires_after(next_backoff(local_backoff_));
  local_retry_timer_.async_wait([this](const boost::system::error_code& error) {
    if (!error) {
      connect_local();
    }
  });
}

void Bridge::on_local_message(std::uint64_t connection, mqtt::Publish&& message) {
  if (message.qos == 1) {
    // Acknowledged with the commit, in the order the messages came (MQTT 3.1.1, 4.6).
    local_acks_.push_back({connection, message.packet_id});
  }
  if (!uplink_allowed(message.topic)) {
    // The broker only sends what we subscribed to; anything else does not cross.
    ++uplink_refused_topic_;
    if (refusal_log_due()) {
      log_warning("cloud: uplink message on '" + message.topic +
                  "' matches no uplink filter; not forwarded (" +
                  std::to_string(uplink_refused_topic_) + " so far)");
    }
  } else {
    batch_.append.push_back({std::move(message.topic), std::move(message.payload)});
  }
  if (batch_.append.size() >= kMaxBatch) {
    commit();
  }
}

void Bridge::publish_own(std::string topic, std::string payload) {
  batch_.append.push_back({std::move(topic), std::move(payload)});
  if (batch_.append.size() >= kMaxBatch) {
    commit();
  } else {
    arm_ack_commit();
  }
}

void Bridge::on_local_too_large(std::uint64_t connection, const mqtt::TooLarge& message) {
  if (message.qos == 1) {
    local_acks_.push_back({connection, message.packet_id});
  }
  if (uplink_allowed(message.topic)) {
    ++batch_.too_large;
  } else {
    ++uplink_refused_topic_;
  }
}

void Bridge::on_local_read_done() {
  if (!batch_.append.empty() || batch_.too_large > 0 || !local_acks_.empty()) {
    commit();
  }
}

bool Bridge::commit() {
  if (batch_.empty() && local_acks_.empty()) {
    return true;
  }
  ack_commit_timer_.cancel();
  ack_commit_armed_ = false;
  batch_.received_ms = unix_ms(std::chrono::system_clock::now());
  // Only what was published is safe from drop-oldest; the read-ahead is read again.
  batch_.read_through = sent_through_;
  CommitResult result;
  if (std::error_code error = outbox_.commit(batch_, result)) {
    if (!outbox_failed_) {
      log_error("cloud: cannot write the outbox: " + error.message() +
                "; uplink messages are not acknowledged until it works again");
      if (hooks_.record) {
        hooks_.record("cloud.outbox", {{"problem", error.message()}});
      }
    }
    outbox_failed_ = true;
    // Nothing of the batch is stored: the local broker must offer those messages again,
    // which it does on a new connection. The cloud's acknowledgements are kept.
    batch_.append.clear();
    batch_.too_large = 0;
    local_acks_.clear();
    if (local_->is_open()) {
      local_->close();
      local_state_ = "down";
      local_error_ = "the outbox cannot be written: " + error.message();
      schedule_local_retry();
    }
    return false;
  }
  if (outbox_failed_) {
    log_notice("cloud: the outbox can be written again");
    outbox_failed_ = false;
  }
  for (const PendingAck& ack : local_acks_) {
    local_->acknowledge(ack.connection, ack.packet_id);
  }
  local_acks_.clear();
  batch_ = OutboxBatch{};
  if (result.evicted > 0 && !to_send_.empty()) {
    to_send_.clear();
    read_through_ = sent_through_;
  }
  pump();
  return true;
}

void Bridge::arm_ack_commit() {
  if (batch_.acked.size() >= kMaxBatch) {
    commit();
    return;
  }
  if (ack_commit_armed_) {
    return;
  }
  ack_commit_armed_ = true;
  ack_commit_timer_.expires_after(kAckCommitDelay);
  ack_commit_timer_.async_wait([this](const boost::system::error_code& error) {
    if (!error) {
      ack_commit_armed_ = false;
      commit();
    }
  });
}

// Outbox -> cloud.

void Bridge::pump() {
  if (!cloud_ || !cloud_->connected() || closing_for_wan_) {
    return;
  }
  const auto now = steady_clock::now();
  double rate = 0;
  if (config_.drain_count) {
    rate = static_cast<double>(*config_.drain_count) /
           static_cast<double>(config_.drain_period.count());
    const double burst = std::max(1.0, rate);
    tokens_ =
        std::min(burst, tokens_ + rate * std::chrono::duration<double>(now - tokens_at_).count());
    tokens_at_ = now;
  }
  while (in_flight_ < kMaxInFlight) {
    if (to_send_.empty()) {
      std::vector<StoredMessage> rows;
      if (std::error_code error = outbox_.read_after(read_through_, kReadAhead, rows)) {
        log_error("cloud: cannot read the outbox: " + error.message());
        return;
      }
      if (rows.empty()) {
        return;
      }
      read_through_ = rows.back().id;
      for (StoredMessage& row : rows) {
        to_send_.push_back(std::move(row));
      }
    }
    if (config_.drain_count && tokens_ < 1.0) {
      if (!pump_armed_) {
        pump_armed_ = true;
        pump_timer_.expires_after(std::chrono::duration_cast<steady_clock::duration>(
            std::chrono::duration<double>((1.0 - tokens_) / rate)));
        pump_timer_.async_wait([this](const boost::system::error_code& error) {
          if (error) {
            return;  // cancelled: the bridge may be gone
          }
          pump_armed_ = false;
          pump();
        });
      }
      return;
    }
    const StoredMessage& next = to_send_.front();
    if (in_flight_ == 0) {
      last_cloud_ack_ = now;  // the stall watchdog counts from the first message in flight
    }
    if (!cloud_->publish(next.id, next.topic, next.payload)) {
      return;
    }
    sent_through_ = next.id;
    to_send_.pop_front();
    ++in_flight_;
    tokens_ -= 1.0;
  }
}

void Bridge::on_delivered(std::int64_t id, bool ok) {
  if (in_flight_ > 0) {
    --in_flight_;
  }
  if (!ok) {
    return;  // failure() follows; the row is sent again after the reconnect
  }
  last_cloud_ack_ = steady_clock::now();
  batch_.acked.push_back(id);
  arm_ack_commit();
  if (closing_for_wan_ && in_flight_ == 0 && cloud_->connected()) {
    log_info("cloud: nothing in flight; disconnecting before the WAN closes");
    cloud_->disconnect();
    stop_sending();
    cloud_state_ = "closing for the WAN";
    return;
  }
  pump();
}

void Bridge::stop_sending() {
  // Whatever was in flight is sent again after the next connect, oldest first; what the
  // cloud acknowledged is deleted first so it is not. The cloud connection is gone
  // already, so the commit's pump() sends nothing.
  in_flight_ = 0;
  to_send_.clear();
  pump_timer_.cancel();
  pump_armed_ = false;
  commit();
  read_through_ = 0;
  sent_through_ = 0;
}

void Bridge::connect_cloud() {
  if (!wan_open_ || closing_for_wan_) {
    cloud_state_ = "waiting for the WAN";
    return;
  }
  if (config_.cloud_addresses.empty()) {
    cloud_state_ = "down";
    cloud_error_ = "the cloud broker has no address";
    return;
  }
  CloudEndpoint endpoint = config_.cloud;
  endpoint.address = config_.cloud_addresses[next_address_ % config_.cloud_addresses.size()];
  ++next_address_;
  cloud_address_ = endpoint.address;
  if (std::string problem = client_key_problem(endpoint.key_file); !problem.empty()) {
    on_cloud_failure(problem, false);
    return;
  }
  cloud_state_ = "connecting";
  cloud_->connect(endpoint);
}

void Bridge::schedule_cloud_retry() {
  cloud_retry_timer_.expires_after(next_backoff(cloud_backoff_));
  cloud_retry_timer_.async_wait([this](const boost::system::error_code& error) {
    if (!error) {
      connect_cloud();
    }
  });
}

void Bridge::on_cloud_connected() {
  if (!wan_open_ || closing_for_wan_) {
    cloud_->disconnect();  // the WAN closed while this attempt was under way
    cloud_state_ = "waiting for the WAN";
    return;
  }
  cloud_state_ = "connected";
  cloud_error_.clear();
  cloud_since_ = std::chrono::system_clock::now();
  cloud_backoff_ = std::chrono::seconds(1);
  last_cloud_ack_ = steady_clock::now();
  last_recorded_failure_.clear();
  tokens_at_ = steady_clock::now();
  tokens_ = 1;  // the first message need not wait a whole period
  log_notice("cloud: connected to " + cloud_address_ + ":" + std::to_string(config_.cloud.port) +
             "; " + std::to_string(outbox_.counters().stored) + " messages to send");
  if (hooks_.record) {
    hooks_.record("cloud.connected", {{"address", cloud_address_},
                                      {"port", config_.cloud.port},
                                      {"backlog", outbox_.counters().stored}});
  }
  pump();
}

void Bridge::on_cloud_failure(const std::string& why, bool was_connected) {
  stop_sending();
  cloud_error_ = why;
  cloud_state_ = wan_open_ && !closing_for_wan_ ? "down" : "waiting for the WAN";
  if (was_connected) {
    log_warning("cloud: the connection to " + cloud_address_ + " ended: " + why);
    if (hooks_.record) {
      hooks_.record("cloud.disconnected", {{"address", cloud_address_}, {"why", why}});
    }
  } else if (why != last_recorded_failure_) {
    // A refused broker (another CA, another address) is evidence; the same reason again
    // at every retry is not news.
    log_warning("cloud: cannot connect to " + cloud_address_ + ": " + why);
    if (hooks_.record) {
      hooks_.record("cloud.refused", {{"address", cloud_address_}, {"why", why}});
    }
    last_recorded_failure_ = why;
  }
  if (wan_open_ && !closing_for_wan_) {
    schedule_cloud_retry();
  }
}

// Downlink: cloud -> local broker.

void Bridge::on_downlink(const std::string& topic, const std::string& payload) {
  ++downlink_received_;
  // Paho does not check what a broker sends: a topic no PUBLISH may carry goes nowhere.
  if (!policy::topic_name_error(topic).empty() || !downlink_allowed(topic)) {
    ++downlink_refused_topic_;
    if (refusal_log_due()) {
      log_warning("cloud: downlink message on '" + topic +
                  "' is not a topic name or matches no downlink filter; not forwarded (" +
                  std::to_string(downlink_refused_topic_) + " so far)");
    }
    return;
  }
  nlohmann::json details = {{"topic", topic},
                            {"bytes", payload.size()},
                            {"sha256", sha256_hex(payload)},
                            {"forwarded", local_->connected() && publish_fits(topic, payload)}};
  if (!hooks_.record_or_refuse || !hooks_.record_or_refuse("cloud.downlink", details)) {
    ++downlink_dropped_;
    log_warning("cloud: downlink message on '" + topic +
                "' dropped: the audit log cannot be written");
    return;
  }
  if (!details["forwarded"].get<bool>()) {
    ++downlink_dropped_;
    return;
  }
  if (std::uint16_t packet_id = local_->publish(topic, payload)) {
    downlink_in_flight_[packet_id] = true;
  } else {
    ++downlink_dropped_;
  }
}

bool Bridge::refusal_log_due() {
  // One line a minute at most: a broker that keeps sending a refused topic (a filter
  // removed from the policy stays in the local broker's session) must not flood the log.
  const auto now = steady_clock::now();
  if (refusal_logged_at_ != steady_clock::time_point{} &&
      now - refusal_logged_at_ < std::chrono::minutes(1)) {
    return false;
  }
  refusal_logged_at_ = now;
  return true;
}

bool Bridge::uplink_allowed(const std::string& topic) const {
  // sekisho/ is the gateway's own (its plugins' alerts, publish_own): a device cannot pass
  // for it, whatever filter the policy gives.
  return !topic.starts_with(kOwnTopicPrefix) && matches_any(config_.local.uplink_filters, topic);
}

bool Bridge::downlink_allowed(const std::string& topic) const {
  return matches_any(config_.cloud.downlink_filters, topic);
}

// The WAN.

void Bridge::set_wan_open(bool open) {
  if (open) {
    const bool was_closed = !wan_open_ || closing_for_wan_;
    wan_open_ = true;
    closing_for_wan_ = false;
    if (was_closed && !cloud_->connected()) {
      cloud_retry_timer_.cancel();
      cloud_backoff_ = std::chrono::seconds(1);
      connect_cloud();
    } else if (was_closed) {
      cloud_state_ = "connected";
      pump();
    }
    return;
  }
  if (!wan_open_) {
    return;
  }
  wan_open_ = false;
  closing_for_wan_ = false;
  cloud_retry_timer_.cancel();
  if (cloud_->connected()) {
    cloud_->disconnect();
    stop_sending();
  }
  cloud_state_ = "waiting for the WAN";
}

bool Bridge::prepare_for_wan_close() {
  if (!wan_open_) {
    return true;
  }
  closing_for_wan_ = true;
  cloud_retry_timer_.cancel();
  if (in_flight_ == 0) {
    if (cloud_->connected()) {
      cloud_->disconnect();
      stop_sending();
    }
    cloud_state_ = "waiting for the WAN";
    return true;
  }
  cloud_state_ = "closing for the WAN";
  return false;
}

std::chrono::steady_clock::duration Bridge::next_backoff(std::chrono::seconds& current) {
  // ±25 % so that gateways cut off together do not all come back in the same second.
  std::uniform_real_distribution<double> jitter(0.75, 1.25);
  const auto wait = std::chrono::duration_cast<steady_clock::duration>(
      std::chrono::duration<double>(static_cast<double>(current.count()) * jitter(random_)));
  current = std::min(current * 2, kMaxBackoff);
  return wait;
}

// Every second.

void Bridge::tick() {
  const OutboxCounters& counters = outbox_.counters();
  const bool dropping = counters.dropped() != drops_at_last_tick_;
  drops_at_last_tick_ = counters.dropped();
  record_drops(!dropping);
  if (cloud_->connected() && in_flight_ > 0 &&
      steady_clock::now() - last_cloud_ack_ > kStallAfter) {
    log_warning("cloud: no acknowledgement from " + cloud_address_ + " for " +
                std::to_string(kStallAfter.count()) + " s with messages in flight; reconnecting");
    cloud_->disconnect();
    on_cloud_failure("no acknowledgement for " + std::to_string(kStallAfter.count()) + " s", true);
  }
}

void Bridge::record_drops(bool episode_over) {
  const OutboxCounters& counters = outbox_.counters();
  const std::uint64_t full = counters.dropped_full - recorded_full_;
  const std::uint64_t too_large = counters.dropped_too_large - recorded_too_large_;
  if (full == 0 && too_large == 0) {
    return;
  }
  // One record per episode, or per minute while it lasts: a full outbox drops thousands.
  const auto now = steady_clock::now();
  if (!episode_over && now - drops_recorded_at_ < kDropRecordEvery) {
    return;
  }
  nlohmann::json details = {
      {"full", full},
      {"too_large", too_large},
      {"on_full", config_.limits.on_full == OnFull::DropOldest ? "drop-oldest" : "reject-new"},
      {"max_bytes", config_.limits.max_bytes},
      {"dropped_total", counters.dropped()}};
  log_warning("cloud: dropped " + std::to_string(full) + " messages (outbox full) and " +
              std::to_string(too_large) + " (over " + std::to_string(kMaxMessageBytes) + " bytes)");
  if (hooks_.record) {
    hooks_.record("cloud.drop", details);
  }
  recorded_full_ = counters.dropped_full;
  recorded_too_large_ = counters.dropped_too_large;
  drops_recorded_at_ = now;
}

nlohmann::json Bridge::status_json() const {
  const OutboxCounters& counters = outbox_.counters();
  // Sent and not yet deleted: published and unacknowledged, or acknowledged and waiting
  // for the next commit.
  const std::uint64_t in_flight =
      std::min<std::uint64_t>(in_flight_ + batch_.acked.size(), counters.stored);
  nlohmann::json oldest_age = nullptr;
  if (counters.oldest_received_ms) {
    oldest_age = std::max<std::int64_t>(
                     0, unix_ms(std::chrono::system_clock::now()) - *counters.oldest_received_ms) /
                 1000;
  }
  nlohmann::json cloud = {{"state", cloud_state_},
                          {"address", cloud_address_},
                          {"port", config_.cloud.port},
                          {"wan_open", wan_open_}};
  if (cloud_state_ == "connected") {
    cloud["since"] = utc_text(cloud_since_);
  }
  if (!cloud_error_.empty()) {
    cloud["error"] = cloud_error_;
  }
  nlohmann::json local = {{"state", local_state_},
                          {"broker", config_.local.socket},
                          {"devices", config_.local_devices}};
  if (!local_error_.empty()) {
    local["error"] = local_error_;
  }
  return {
      {"cloud", cloud},
      {"local", local},
      {"uplink",
       {{"received", counters.received},
        {"forwarded", counters.forwarded},
        {"queued", counters.stored - in_flight},
        {"in_flight", in_flight},
        {"dropped", {{"full", counters.dropped_full}, {"too_large", counters.dropped_too_large}}},
        {"refused_topic", uplink_refused_topic_}}},
      {"backlog",
       {{"messages", counters.stored},
        {"bytes", counters.stored_bytes},
        {"max_bytes", config_.limits.max_bytes},
        {"oldest_age_seconds", oldest_age}}},
      {"downlink",
       {{"received", downlink_received_},
        {"delivered", downlink_delivered_},
        {"dropped", downlink_dropped_},
        {"refused_topic", downlink_refused_topic_}}},
      {"limits",
       {{"on_full", config_.limits.on_full == OnFull::DropOldest ? "drop-oldest" : "reject-new"},
        {"drain_rate", rate_text(config_)},
        {"max_in_flight", kMaxInFlight},
        {"max_message_bytes", kMaxMessageBytes}}},
      {"filters",
       {{"uplink", config_.local.uplink_filters}, {"downlink", config_.cloud.downlink_filters}}},
  };
}

}  // namespace sekisho::cloud
