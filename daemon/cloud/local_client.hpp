#pragma once
// sekishod's own MQTT 3.1.1 client to the local broker (policy cloud.mqtt.local_broker),
// on the Asio loop. Paho acknowledges a QoS 1 PUBLISH before the application sees it;
// this client does not: a message is acknowledged only when the bridge says so, after it
// is committed to the outbox (commit-before-ack).
//
// It connects through the broker's Unix socket for sekishod, with its user name and
// password (daemon/cloud/local_broker), and its user name as client id (the broker makes
// every client id the user name: nobody else can take over this session). CONNECT with
// clean_session=false, so the broker keeps the subscription and every message not yet
// acknowledged while sekishod is away (killed, restarted, upgraded) and offers them again
// on the next connection. SUBSCRIBE to the uplink filters at QoS 1; PINGREQ when idle;
// QoS 1 PUBLISH of downlink messages.

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>

#include "daemon/cloud/mqtt_codec.hpp"

namespace sekisho::cloud {

// A whole PUBLISH (the payload's limit, plus its topic and headers).
inline constexpr std::size_t kMaxMessageBytes = 256 * 1024;

// Whether a QoS 1 PUBLISH of `topic` and `payload` fits in kMaxMessageBytes, headers
// counted as the broker counts them (max_packet_size): the fixed header (1 byte and up to
// 4 of remaining length), the topic's length and text, the packet id, the payload. The
// broker closes a connection that sends more, so sekishod never does.
constexpr bool publish_fits(std::string_view topic, std::string_view payload) {
  return topic.size() <= kMaxMessageBytes && payload.size() <= kMaxMessageBytes - topic.size() &&
         1 + 4 + 2 + topic.size() + 2 + payload.size() <= kMaxMessageBytes;
}

struct LocalEndpoint {
  std::string socket;  // the broker's listener for sekishod
  std::string username;
  std::string password;
  std::vector<std::string> uplink_filters;
  std::chrono::seconds keepalive{30};
  bool operator==(const LocalEndpoint&) const = default;
};

struct LocalClientHandlers {
  // CONNACK accepted and every uplink filter granted.
  std::function<void(bool session_present)> connected;
  // The attempt failed or the connection ended (never both for one attempt).
  std::function<void(const std::string& why)> disconnected;
  // An uplink message; a QoS 1 one waits for acknowledge(connection, packet_id).
  std::function<void(std::uint64_t connection, mqtt::Publish&& message)> message;
  // A PUBLISH over kMaxMessageBytes (its payload was skipped); also to be acknowledged.
  std::function<void(std::uint64_t connection, const mqtt::TooLarge& message)> too_large;
  // Every packet of one read was handed over: the moment to commit them together.
  std::function<void()> read_done;
  // The broker acknowledged a downlink message published with publish().
  std::function<void(std::uint16_t packet_id)> published;
};

class LocalClient {
 public:
  LocalClient(boost::asio::io_context& io, LocalClientHandlers handlers);
  ~LocalClient();
  LocalClient(const LocalClient&) = delete;
  LocalClient& operator=(const LocalClient&) = delete;

  // One attempt (closing any connection first); the outcome comes as connected() or
  // disconnected().
  void connect(const LocalEndpoint& endpoint);
  // Sends DISCONNECT (when nothing else is being written) and closes; nothing reported.
  void close();
  bool connected() const { return state_ == State::Ready; }
  // Connecting or connected: close() has something to close.
  bool is_open() const { return state_ != State::Closed; }
  // Which connection messages came on: an acknowledgement for an older one is not sent
  // (the broker offers those messages again, with DUP set).
  std::uint64_t connection() const { return connection_; }

  // PUBACK, in the order the messages came (MQTT 3.1.1, 4.6).
  void acknowledge(std::uint64_t connection, std::uint16_t packet_id);
  // QoS 1 PUBLISH; the packet id, or 0 when not connected.
  std::uint16_t publish(const std::string& topic, const std::string& payload);

 private:
  enum class State { Closed, Connecting, Handshake, Ready };
  void start_reading();
  void handle_packet(mqtt::Packet&& packet);
  void send(std::string bytes);
  void write_next();
  void arm_keepalive();
  void fail(const std::string& why);

  boost::asio::io_context& io_;
  LocalClientHandlers handlers_;
  LocalEndpoint endpoint_;
  boost::asio::local::stream_protocol::socket socket_;
  boost::asio::steady_timer keepalive_timer_;
  State state_ = State::Closed;
  std::uint64_t connection_ = 0;
  std::unique_ptr<mqtt::Decoder> decoder_;
  std::string read_buffer_;
  std::deque<std::string> writes_;
  bool writing_ = false;
  std::uint16_t subscribe_id_ = 0;
  std::uint16_t next_packet_id_ = 1;
  std::chrono::steady_clock::time_point last_sent_;
  std::chrono::steady_clock::time_point last_received_;
  // Shared with the pending handlers: set false when this client is destroyed.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace sekisho::cloud
