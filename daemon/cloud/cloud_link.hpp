#pragma once
// The connection to the cloud broker: Paho MQTT C's asynchronous client (MQTTAsync, the
// engine of Paho MQTT C++; its C++ 1.2 wrapper frees the TLS error handler's context too
// early, see cloud_link.cpp), MQTT 3.1.1 over TLS to one of the broker's literal
// addresses (JPCERT/CC C-1).
//
// - Trust: the server certificate must chain to the configured CA file only (the system
//   store is never loaded) and name the address connected to (an IP SAN, checked by
//   Paho C's X509_check_ip_asc). TLS 1.2 or newer. The gateway authenticates with its
//   client certificate and key.
// - QoS 1, clean session: what is not yet acknowledged is the outbox's, not Paho's (no
//   Paho persistence, nothing buffered while disconnected, no automatic reconnect: the
//   caller decides when to try again). Downlink commands that arrive while sekishod is
//   not connected are not kept for it by the cloud broker (they would be stale).
// - Every handler runs on the io_context's thread (Paho's callbacks are posted there);
//   none runs after the CloudLink is destroyed or after disconnect() returned.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

namespace sekisho::cloud {

struct CloudEndpoint {
  std::string address;  // a literal IPv4 or IPv6 address
  std::uint16_t port = 8883;
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  std::string client_id;
  std::vector<std::string> downlink_filters;  // subscribed at QoS 1 after each connect
  std::chrono::seconds keepalive{30};
  std::chrono::seconds connect_timeout{10};
  bool operator==(const CloudEndpoint&) const = default;
};

struct CloudLinkHandlers {
  // Connected and the downlink filters subscribed (each granted, or failure() follows).
  std::function<void()> connected;
  // A connect that did not succeed, or a connection that ended (`was_connected`); `why`
  // says what (for TLS: OpenSSL's reason, e.g. "certificate verify failed"). After this
  // nothing is in flight: every publish() not yet delivered was reported failed first.
  std::function<void(const std::string& why, bool was_connected)> failure;
  // The cloud broker acknowledged (PUBACK) the message published with this id, or it
  // will never be (`ok` false: the connection ended first).
  std::function<void(std::int64_t id, bool ok)> delivered;
  // A message the cloud broker sent on a downlink subscription (the caller still checks
  // its topic against the filters).
  std::function<void(const std::string& topic, const std::string& payload)> downlink;
};

class CloudLink {
 public:
  CloudLink(boost::asio::io_context& io, CloudLinkHandlers handlers);
  ~CloudLink();
  CloudLink(const CloudLink&) = delete;
  CloudLink& operator=(const CloudLink&) = delete;

  // Starts one connection attempt (any earlier connection is dropped first); the outcome
  // comes as connected() or failure().
  void connect(const CloudEndpoint& endpoint);
  // Publishes at QoS 1 (retain off); the outcome comes as delivered(id, ...). False (and
  // nothing reported) when not connected.
  bool publish(std::int64_t id, const std::string& topic, const std::string& payload);
  // Sends DISCONNECT and closes; messages not yet acknowledged are reported failed.
  void disconnect();
  bool connected() const;
  std::size_t in_flight() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace sekisho::cloud
