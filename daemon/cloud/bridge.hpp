#pragma once
// The cloud bridge (policy cloud.mqtt): uplink messages from the local broker into the
// outbox and from there to the cloud broker; downlink messages from the cloud broker to
// the local broker, each one audited.
//
// - Commit-before-ack: a QoS 1 uplink message is acknowledged to the local broker only
//   after the outbox transaction holding it committed. Messages are group-committed:
//   whatever one read from the local broker brought (at most 1000), so a busy line costs
//   one fsync per few hundred messages and a quiet one answers at once.
// - A row leaves the outbox only after the cloud broker's PUBACK (acknowledgements are
//   committed at most 50 ms later, or with the next uplink commit). On any reconnect the
//   unacknowledged rows are sent again, oldest first: order per topic holds, and a
//   message can arrive twice only if its PUBACK was lost.
// - At most 100 messages in flight (AWS IoT Core's limit); `queue.drain_rate` paces the
//   sending with a token bucket.
// - The WAN: while it is closed no connection is tried; before it closes the bridge stops
//   sending and, once nothing is in flight, says goodbye (DISCONNECT), so no message is
//   cut off half-sent (see Service::check_wan).
// - Reconnecting: 1 s doubling to 60 s, with ±25 % jitter, each time at the broker's next
//   address.

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "daemon/cloud/cloud_link.hpp"
#include "daemon/cloud/local_client.hpp"
#include "daemon/cloud/outbox.hpp"
#include "policy/model.hpp"

namespace sekisho::cloud {

inline constexpr std::size_t kMaxInFlight = 100;
// The topics of sekishod's own messages (Bridge::publish_own); never a device's uplink.
inline constexpr std::string_view kOwnTopicPrefix = "sekisho/";

struct BridgeConfig {
  std::vector<std::string> cloud_addresses;  // literal, in the policy's order
  CloudEndpoint cloud;                       // all but the address, which each attempt picks
  LocalEndpoint local;                       // sekishod's socket and login; the uplink filters
  std::string local_devices;                 // local_broker: where the devices reach the broker
  OutboxLimits limits;
  std::optional<std::uint64_t> drain_count;  // messages per drain_period
  std::chrono::seconds drain_period{1};
  bool operator==(const BridgeConfig&) const = default;
};

// The bridge's configuration from a checked policy, with sekishod's socket at the local
// broker and its login there (daemon/cloud/local_broker); nullopt without cloud.mqtt.
std::optional<BridgeConfig> bridge_config(const policy::Policy& policy,
                                          const std::string& local_socket,
                                          const std::string& local_username,
                                          const std::string& local_password);

struct BridgeHooks {
  // An audit record for the daemon's log (e.g. "cloud.connected", "cloud.drop").
  std::function<void(const std::string& kind, const nlohmann::json& details)> record;
  // For what enters the factory (downlink): written now, or the message is dropped.
  std::function<bool(const std::string& kind, const nlohmann::json& details)> record_or_refuse;
};

class Bridge {
 public:
  Bridge(boost::asio::io_context& io, BridgeConfig config, BridgeHooks hooks);
  ~Bridge();
  Bridge(const Bridge&) = delete;
  Bridge& operator=(const Bridge&) = delete;

  // Opens the outbox at `path` and starts both connections (the cloud one only while the
  // WAN is open). An outbox that cannot be opened is an error; nothing runs then.
  std::error_code start(const std::string& outbox_path, bool wan_open);
  const BridgeConfig& config() const { return config_; }

  // The WAN gate opened or is about to close.
  void set_wan_open(bool open);
  // Before the WAN gate closes: stop sending and, once nothing is in flight, disconnect.
  // A message of sekishod's own (a plugin's alert) for the cloud: committed to the outbox
  // within kAckCommitDelay like a device's, whatever the uplink filters say (they judge
  // what devices publish).
  void publish_own(std::string topic, std::string payload);
  // True when nothing is in flight (the gate may close now).
  bool prepare_for_wan_close();

  // Once a second: aggregated drop records, the stall watchdog.
  void tick();

  nlohmann::json status_json() const;

 private:
  struct PendingAck {
    std::uint64_t connection;
    std::uint16_t packet_id;
  };
  void connect_local();
  void connect_cloud();
  void schedule_local_retry();
  void schedule_cloud_retry();
  void on_local_message(std::uint64_t connection, mqtt::Publish&& message);
  void on_local_too_large(std::uint64_t connection, const mqtt::TooLarge& message);
  void on_local_read_done();
  // Commits what is pending (appends, too-large counts, cloud acks) in one transaction,
  // then acknowledges the local messages it held. False when the outbox refused it.
  bool commit();
  void arm_ack_commit();
  void pump();
  void on_cloud_connected();
  void on_cloud_failure(const std::string& why, bool was_connected);
  void on_delivered(std::int64_t id, bool ok);
  // Nothing in flight any more: commits the acknowledgements and reads again from the
  // oldest stored row at the next connect.
  void stop_sending();
  void on_downlink(const std::string& topic, const std::string& payload);
  bool refusal_log_due();
  bool uplink_allowed(const std::string& topic) const;
  bool downlink_allowed(const std::string& topic) const;
  std::chrono::steady_clock::duration next_backoff(std::chrono::seconds& current);
  void record_drops(bool episode_over);

  boost::asio::io_context& io_;
  BridgeConfig config_;
  BridgeHooks hooks_;
  Outbox outbox_;
  std::unique_ptr<LocalClient> local_;
  std::unique_ptr<CloudLink> cloud_;
  boost::asio::steady_timer local_retry_timer_;
  boost::asio::steady_timer cloud_retry_timer_;
  boost::asio::steady_timer ack_commit_timer_;
  boost::asio::steady_timer pump_timer_;
  std::mt19937 random_;

  // Uplink, waiting for the next commit.
  OutboxBatch batch_;
  std::vector<PendingAck> local_acks_;
  bool ack_commit_armed_ = false;
  bool outbox_failed_ = false;  // the last commit failed (said once)

  // Sending: rows read but not yet published, and the id of the last row read.
  std::deque<StoredMessage> to_send_;
  std::int64_t read_through_ = 0;
  // The id of the last row published: drop-oldest never evicts it or an older one.
  std::int64_t sent_through_ = 0;
  std::size_t in_flight_ = 0;
  bool pump_armed_ = false;
  double tokens_ = 0;  // the drain token bucket
  std::chrono::steady_clock::time_point tokens_at_;

  // Connections.
  bool wan_open_ = false;
  bool closing_for_wan_ = false;
  std::string local_state_ = "connecting";
  std::string local_error_;
  std::string cloud_state_ = "waiting";
  std::string cloud_error_;
  std::string last_recorded_failure_;  // cloud.connect failures are recorded when they change
  std::size_t next_address_ = 0;
  std::string cloud_address_;
  std::chrono::system_clock::time_point cloud_since_{};
  std::chrono::seconds local_backoff_{1};
  std::chrono::seconds cloud_backoff_{1};
  std::chrono::steady_clock::time_point last_cloud_ack_;

  // Counters not in the outbox (since sekishod started).
  std::uint64_t uplink_refused_topic_ = 0;
  std::uint64_t downlink_received_ = 0;
  std::uint64_t downlink_delivered_ = 0;  // acknowledged by the local broker
  std::uint64_t downlink_dropped_ = 0;
  std::uint64_t downlink_refused_topic_ = 0;
  std::chrono::steady_clock::time_point refusal_logged_at_{};
  std::map<std::uint16_t, bool> downlink_in_flight_;
  // Drops already in an audit record, and when the last one was written.
  std::uint64_t recorded_full_ = 0;
  std::uint64_t recorded_too_large_ = 0;
  std::chrono::steady_clock::time_point drops_recorded_at_{};
  std::uint64_t drops_at_last_tick_ = 0;
};

}  // namespace sekisho::cloud
