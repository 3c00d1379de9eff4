#include "daemon/cloud/local_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

namespace sekisho::cloud {

namespace {

// What one read may bring: enough for a few hundred telemetry messages, so that one
// outbox commit covers them all.
constexpr std::size_t kReadChunk = 64 * 1024;

std::string connack_refusal(std::uint8_t code) {
  switch (code) {
    case 1:
      return "the broker refused the connection: unacceptable protocol version";
    case 2:
      return "the broker refused the connection: client identifier rejected";
    case 3:
      return "the broker refused the connection: server unavailable";
    case 4:
      return "the broker refused the connection: bad user name or password";
    case 5:
      return "the broker refused the connection: not authorized";
    default:
      return "the broker refused the connection: return code " + std::to_string(code);
  }
}

}  // namespace

LocalClient::LocalClient(boost::asio::io_context& io, LocalClientHandlers handlers)
    : io_(io), handlers_(std::move(handlers)), socket_(io), keepalive_timer_(io) {}

LocalClient::~LocalClient() {
  *alive_ = false;
  boost::system::error_code ignored;
  socket_.close(ignored);
}

void LocalClient::connect(const LocalEndpoint& endpoint) {
  if (state_ != State::Closed) {
    close();
  }
  endpoint_ = endpoint;
  ++connection_;
  state_ = State::Connecting;
  decoder_ = std::make_unique<mqtt::Decoder>(kMaxMessageBytes);
  writes_.clear();
  writing_ = false;
  boost::system::error_code open_error;
  socket_.open(boost::asio::local::stream_protocol(), open_error);
  if (open_error) {
    fail("cannot open a socket: " + open_error.message());
    return;
  }
  auto alive = alive_;
  std::uint64_t connection = connection_;
  socket_.async_connect(
      boost::asio::local::stream_protocol::endpoint(endpoint.socket),
      [this, alive, connection](const boost::system::error_code& error) {
        if (!*alive || connection != connection_ || state_ != State::Connecting) {
          return;
        }
        if (error) {
          fail("cannot connect to " + endpoint_.socket + ": " + error.message());
          return;
        }
        state_ = State::Handshake;
        last_received_ = std::chrono::steady_clock::now();
        mqtt::Connect connect;
        // The broker makes the user name the client id anyway (use_username_as_clientid).
        connect.client_id = endpoint_.username;
        connect.username = endpoint_.username;
        connect.password = endpoint_.password;
        connect.clean_session = false;  // the broker keeps what we have not acknowledged
        connect.keepalive_seconds = static_cast<std::uint16_t>(endpoint_.keepalive.count());
        send(mqtt::encode(connect));
        start_reading();
        arm_keepalive();
      });
}

void LocalClient::close() {
  if (state_ == State::Closed) {
    return;
  }
  if (state_ == State::Ready && !writing_) {
    // A clean goodbye; what is not acknowledged stays with the broker.
    boost::system::error_code ignored;
    std::string bytes = mqtt::encode(mqtt::Bare{mqtt::PacketType::Disconnect});
    boost::asio::write(socket_, boost::asio::buffer(bytes), ignored);
  }
  state_ = State::Closed;
  ++connection_;
  boost::system::error_code ignored;
  socket_.close(ignored);
  keepalive_timer_.cancel();
}

void LocalClient::fail(const std::string& why) {
  if (state_ == State::Closed) {
    return;
  }
  state_ = State::Closed;
  ++connection_;
  boost::system::error_code ignored;
  socket_.close(ignored);
  keepalive_timer_.cancel();
  // Reported from the loop, not from inside a handler of ours that may go on using state.
  auto alive = alive_;
  boost::asio::post(io_, [this, alive, why] {
    if (*alive && handlers_.disconnected) {
      handlers_.disconnected(why);
    }
  });
}

void LocalClient::start_reading() {
  read_buffer_.resize(kReadChunk);
  auto alive = alive_;
  std::uint64_t connection = connection_;
  socket_.async_read_some(
      boost::asio::buffer(read_buffer_),
      [this, alive, connection](const boost::system::error_code& error, std::size_t size) {
        if (!*alive || connection != connection_ || state_ == State::Closed) {
          return;
        }
        if (error) {
          fail(error == boost::asio::error::eof ? "the broker closed the connection"
                                                : "reading from the broker: " + error.message());
          return;
        }
        last_received_ = std::chrono::steady_clock::now();
        try {
          decoder_->feed(std::string_view(read_buffer_.data(), size));
          while (auto packet = decoder_->next()) {
            handle_packet(std::move(*packet));
            if (connection != connection_) {
              return;  // a handler closed or reconnected
            }
          }
        } catch (const mqtt::ProtocolError& refused) {
          fail(std::string("protocol error from the broker: ") + refused.what());
          return;
        }
        if (handlers_.read_done) {
          handlers_.read_done();
          if (connection != connection_) {
            return;
          }
        }
        start_reading();
      });
}

void LocalClient::handle_packet(mqtt::Packet&& packet) {
  if (auto* connack = std::get_if<mqtt::Connack>(&packet)) {
    if (state_ != State::Handshake) {
      fail("protocol error from the broker: CONNACK after the handshake");
      return;
    }
    if (connack->return_code != 0) {
      fail(connack_refusal(connack->return_code));
      return;
    }
    mqtt::Subscribe subscribe;
    subscribe.packet_id = subscribe_id_ = next_packet_id_++;
    if (next_packet_id_ == 0) {
      next_packet_id_ = 1;
    }
    for (const std::string& filter : endpoint_.uplink_filters) {
      subscribe.filters.emplace_back(filter, 1);
    }
    if (subscribe.filters.empty()) {
      fail("no uplink filters to subscribe to");
      return;
    }
    send(mqtt::encode(subscribe));
    return;
  }
  if (auto* suback = std::get_if<mqtt::Suback>(&packet)) {
    if (state_ != State::Handshake || suback->packet_id != subscribe_id_) {
      fail("protocol error from the broker: an unexpected SUBACK");
      return;
    }
    for (std::size_t i = 0; i < suback->return_codes.size(); ++i) {
      if (suback->return_codes[i] == 0x80) {
        std::string filter =
            i < endpoint_.uplink_filters.size() ? endpoint_.uplink_filters[i] : "?";
        fail("the broker refused the subscription to '" + filter + "' (check its ACL)");
        return;
      }
    }
    state_ = State::Ready;
    if (handlers_.connected) {
      handlers_.connected(false);
    }
    return;
  }
  if (auto* publish = std::get_if<mqtt::Publish>(&packet)) {
    if (publish->qos == 2) {
      // Not subscribed at QoS 2: a broker that sends it breaks the protocol.
      fail("protocol error from the broker: a QoS 2 message on a QoS 1 subscription");
      return;
    }
    if (handlers_.message) {
      handlers_.message(connection_, std::move(*publish));
    }
    return;
  }
  if (auto* too_large = std::get_if<mqtt::TooLarge>(&packet)) {
    if (handlers_.too_large) {
      handlers_.too_large(connection_, *too_large);
    }
    return;
  }
  if (auto* ack = std::get_if<mqtt::Ack>(&packet)) {
    if (ack->type == mqtt::PacketType::Puback && handlers_.published) {
      handlers_.published(ack->packet_id);
    }
    return;
  }
  if (auto* bare = std::get_if<mqtt::Bare>(&packet)) {
    if (bare->type == mqtt::PacketType::Pingresp) {
      return;
    }
  }
  fail("protocol error from the broker: a packet a client never receives");
}

void LocalClient::acknowledge(std::uint64_t connection, std::uint16_t packet_id) {
  // A broker keeping our session sends what we did not acknowledge right after CONNACK,
  // before the SUBACK: those are acknowledged too (or it offers them at every reconnect).
  if (connection != connection_ || (state_ != State::Ready && state_ != State::Handshake)) {
    return;
  }
  send(mqtt::encode(mqtt::Ack{mqtt::PacketType::Puback, packet_id}));
}

std::uint16_t LocalClient::publish(const std::string& topic, const std::string& payload) {
  if (state_ != State::Ready) {
    return 0;
  }
  mqtt::Publish message;
  message.topic = topic;
  message.payload = payload;
  message.qos = 1;
  message.packet_id = next_packet_id_;
  std::string bytes;
  try {
    bytes = mqtt::encode(message);
  } catch (const std::invalid_argument&) {
    return 0;  // no PUBLISH may carry it (the caller checks topics; this is the backstop)
  }
  if (++next_packet_id_ == 0) {
    next_packet_id_ = 1;
  }
  send(std::move(bytes));
  return message.packet_id;
}

void LocalClient::send(std::string bytes) {
  writes_.push_back(std::move(bytes));
  last_sent_ = std::chrono::steady_clock::now();
  if (!writing_) {
    write_next();
  }
}

void LocalClient::write_next() {
  if (writes_.empty()) {
    writing_ = false;
    return;
  }
  writing_ = true;
  // Everything queued goes out in one write: a commit's acknowledgements together.
  if (writes_.size() > 1) {
    std::string joined;
    for (std::string& part : writes_) {
      joined += part;
    }
    writes_.clear();
    writes_.push_back(std::move(joined));
  }
  auto alive = alive_;
  std::uint64_t connection = connection_;
  boost::asio::async_write(
      socket_, boost::asio::buffer(writes_.front()),
      [this, alive, connection](const boost::system::error_code& error, std::size_t) {
        if (!*alive || connection != connection_) {
          return;
        }
        if (error) {
          fail("writing to the broker: " + error.message());
          return;
        }
        writes_.pop_front();
        write_next();
      });
}

void LocalClient::arm_keepalive() {
  // Checked every second: PINGREQ after half the keepalive without sending, and the
  // connection given up after one and a half keepalives without hearing anything.
  keepalive_timer_.expires_after(std::chrono::seconds(1));
  auto alive = alive_;
  std::uint64_t connection = connection_;
  keepalive_timer_.async_wait([this, alive, connection](const boost::system::error_code& error) {
    if (error || !*alive || connection != connection_ || state_ == State::Closed) {
      return;
    }
    auto now = std::chrono::steady_clock::now();
    auto keepalive =
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(endpoint_.keepalive);
    if (now - last_received_ > keepalive + keepalive / 2) {
      fail("the broker did not answer for " + std::to_string(endpoint_.keepalive.count() * 3 / 2) +
           " s");
      return;
    }
    if (state_ == State::Ready && now - last_sent_ >= keepalive / 2) {
      send(mqtt::encode(mqtt::Bare{mqtt::PacketType::Pingreq}));
    }
    arm_keepalive();
  });
}

}  // namespace sekisho::cloud
