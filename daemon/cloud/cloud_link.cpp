#include "daemon/cloud/cloud_link.hpp"

#include <climits>
#include <map>
#include <mutex>
#include <unordered_map>
#include <utility>

#include <MQTTAsync.h>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>

// Written against Paho C's asynchronous API (MQTTAsync, 1.3.12), the library Paho MQTT C++
// 1.2 wraps, because the wrapper loses OpenSSL's error text: its ssl_options hands Paho C
// a pointer to the copy of itself inside the connect_options that async_client::connect()
// takes by value, so the error callback of a failed handshake reads a destroyed object
// (eclipse-paho/paho.mqtt.cpp#325, #439; fixed after 1.2). Every context handed to Paho C
// here is an Attempt that outlives its handle.
//
// What this relies on in Paho C 1.3.12 (src/MQTTAsync*.c, src/SSLSocket.c):
// - Callbacks run on Paho's two threads with its global mutex held, and MQTTAsync_destroy
//   takes that mutex: once it returns, no callback of that handle runs or is running.
//   Callbacks only copy what they need and post it to the io_context; they never call
//   back into Paho.
// - MQTTAsync_destroy closes the socket itself, after sending DISCONNECT when connected and
//   nothing is left unwritten (MQTTAsync_closeOnly), and calls the failure callbacks of
//   whatever it drops; those see an ended generation and post nothing that runs.
// - With OpenSSL 1.1 or newer the context is TLS_client_method() whatever sslVersion says
//   (the option is not read) and Paho sets security level 1, under which OpenSSL 3 still
//   negotiates TLS 1.0 and 1.1 with RSA key exchange (their signed key exchanges are
//   refused at that level). The TLS 1.2 minimum therefore comes from the cipher list:
//   only TLS 1.2's forward-secret AEAD suites, which no earlier version has; TLS 1.3's
//   suites are OpenSSL's defaults, untouched. A trust store given means only
//   SSL_CTX_load_verify_locations(ca_file): the default paths are loaded only when neither
//   a trust store nor a CA path is set, and disableDefaultTrustStore rules that out too.
// - verify: after the handshake, X509_check_host(address) and then X509_check_ip_asc with
//   the host part of the URI. That host part is what precedes the last ':'; for
//   "[2001:db8::1]:8883" it keeps the '[' and no IPv6 literal can match, so IPv6 goes in
//   unbracketed ("ssl://2001:db8::1:8883"), which Socket_new also resolves. A mismatch is
//   reported only as "TCP/TLS connect failure", with no OpenSSL text.
// - A QoS 1 message from the broker is handed to messageArrived (when none is queued before
//   it) before the PUBACK is sent, and the PUBACK follows once the callback returns; that callback
//   only posts the copy to the io_context, so the broker hears PUBACK once the command is queued in
//   memory, not once downlink() handled it. A command lost in a crash in between is not
//   redelivered; like commands sent while sekishod was not connected, it would be stale anyway.
// - maxBufferedMessages counts publishes queued to Paho's send thread even while
//   connected, so it is not 0 but Paho's own ceiling (packet ids are 16-bit); the caller's
//   window is the real limit.
// - Paho C reads https_proxy from the environment when the connect options name no proxy
//   (and an empty proxy option breaks the connect): sekishod must not run with one set.

namespace sekisho::cloud {
namespace {

enum class Phase { Idle, Connecting, Subscribing, Connected };

constexpr int kQos = 1;
constexpr int kMaxPahoBuffered = 65535;
// For TLS 1.2 (see the top); ECDSA and RSA server keys alike.
constexpr const char* kTls12Ciphers = "ECDHE+AESGCM:ECDHE+CHACHA20";

std::string peer_text(const boost::asio::ip::address& address, std::uint16_t port) {
  const std::string host = address.to_string();
  return (address.is_v6() ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::string paho_error(int rc) {
  const char* text = MQTTAsync_strerror(rc);
  return text != nullptr ? std::string(text) + " (" + std::to_string(rc) + ")"
                         : "Paho error " + std::to_string(rc);
}

// OpenSSL 3's ERR_print_errors_cb lines read
// "TID:error:CODE:LIBRARY:FUNCTION:REASON:FILE:LINE:DATA"; what a reader needs is the
// reason and the data ("certificate verify failed (Verify error:...)"). Distinct reasons
// are joined with "; ".
std::string tls_reasons(const std::string& lines) {
  std::vector<std::string> reasons;
  std::size_t start = 0;
  while (start < lines.size()) {
    std::size_t end = lines.find('\n', start);
    if (end == std::string::npos) {
      end = lines.size();
    }
    const std::string line = lines.substr(start, end - start);
    start = end + 1;
    std::size_t at = line.find("error:");
    if (at == std::string::npos) {
      continue;
    }
    std::vector<std::string> fields;
    at += 6;
    for (int i = 0; i < 6; ++i) {
      const std::size_t colon = line.find(':', at);
      if (colon == std::string::npos) {
        break;
      }
      fields.push_back(line.substr(at, colon - at));
      at = colon + 1;
    }
    if (fields.size() < 4) {
      reasons.push_back(line);
      continue;
    }
    std::string reason = fields[3];
    if (fields.size() == 6 && at < line.size()) {
      reason += " (" + line.substr(at) + ")";
    }
    bool seen = false;
    for (const auto& r : reasons) {
      seen = seen || r == reason;
    }
    if (!seen) {
      reasons.push_back(std::move(reason));
    }
  }
  std::string text;
  for (const auto& reason : reasons) {
    text += (text.empty() ? "" : "; ") + reason;
  }
  return text;
}

std::string connack_text(int code) {
  switch (code) {
    case 1:
      return "unacceptable protocol version";
    case 2:
      return "client identifier rejected";
    case 3:
      return "server unavailable";
    case 4:
      return "bad user name or password";
    case 5:
      return "not authorized";
    default:
      return "CONNACK return code " + std::to_string(code);
  }
}

}  // namespace

struct CloudLink::State : std::enable_shared_from_this<State> {
  // One MQTTAsync handle and what its callbacks need. Its address is the context of every
  // callback; it is destroyed only after the handle (see the note at the top).
  struct Attempt {
    Attempt(std::weak_ptr<State> owner, std::uint64_t started, std::size_t filters)
        : state(std::move(owner)), generation(started), filter_count(filters) {}
    ~Attempt() {
      if (handle != nullptr) {
        MQTTAsync_destroy(&handle);
      }
    }
    Attempt(const Attempt&) = delete;
    Attempt& operator=(const Attempt&) = delete;

    const std::weak_ptr<State> state;
    const std::uint64_t generation;
    const std::size_t filter_count;
    MQTTAsync handle = nullptr;
    std::mutex tls_mutex;
    std::string tls_errors;  // OpenSSL's lines of this attempt, from Paho's threads
  };

  State(boost::asio::io_context& context, CloudLinkHandlers callbacks)
      : io(context), handlers(std::move(callbacks)) {}

  boost::asio::io_context& io;
  const CloudLinkHandlers handlers;

  // Everything below belongs to the io_context's thread. `generation` names the current
  // attempt; ending an attempt moves it on, so whatever an older attempt posted finds
  // itself stale and does nothing.
  std::uint64_t generation = 0;
  bool alive = true;  // false once the CloudLink is being destroyed
  Phase phase = Phase::Idle;
  std::unique_ptr<Attempt> attempt;
  std::string host;  // the address as text, for messages
  std::string peer;  // "ADDRESS:PORT" ("[ADDRESS]:PORT" for IPv6), for messages
  std::vector<std::string> filters;
  // In flight: our id by Paho's token (the packet id) and the token by id. Paho frees a
  // packet id at PUBACK, before our completion runs; it could only hand the same id out
  // again after 65535 further publishes, far beyond any window the caller keeps.
  std::unordered_map<int, std::int64_t> id_by_token;
  std::map<std::int64_t, int> token_by_id;

  // --- io thread -----------------------------------------------------------------------

  // Ends the current attempt (if any): closes the connection and destroys the handle.
  // Returns the ids that were in flight, in id order; nothing is reported here.
  std::vector<std::int64_t> end_attempt() {
    ++generation;
    phase = Phase::Idle;
    std::vector<std::int64_t> lost;
    lost.reserve(token_by_id.size());
    for (const auto& entry : token_by_id) {
      lost.push_back(entry.first);
    }
    token_by_id.clear();
    id_by_token.clear();
    attempt.reset();
    return lost;
  }

  // Reports `lost` failed. Stops if a handler destroyed the CloudLink.
  void report_lost(const std::vector<std::int64_t>& lost) {
    for (const std::int64_t id : lost) {
      if (!alive) {
        return;
      }
      if (handlers.delivered) {
        handlers.delivered(id, false);
      }
    }
  }

  // The attempt ended without the caller asking: deliveries first (the header's promise),
  // then failure(), unless a handler meanwhile destroyed the link or started another
  // attempt.
  void fail(const std::string& why, bool was_connected) {
    const std::vector<std::int64_t> lost = end_attempt();
    const std::uint64_t ended = generation;
    report_lost(lost);
    if (alive && generation == ended && handlers.failure) {
      handlers.failure(why, was_connected);
    }
  }

  // Posts a failure of the current attempt (for errors found before Paho runs, so that
  // connect() never calls a handler itself).
  void post_failure(std::string why) {
    boost::asio::post(io, [state = shared_from_this(), g = generation, why = std::move(why)] {
      if (state->generation == g) {
        state->fail(why, false);
      }
    });
  }

  void start(const CloudEndpoint& endpoint) {
    boost::system::error_code error;
    const auto address = boost::asio::ip::make_address(endpoint.address, error);
    if (error) {
      host = peer = endpoint.address;
      post_failure("\"" + endpoint.address + "\" is not a literal IPv4 or IPv6 address");
      return;
    }
    host = address.to_string();
    peer = peer_text(address, endpoint.port);
    filters = endpoint.downlink_filters;
    phase = Phase::Connecting;
    if (endpoint.ca_file.empty()) {
      post_failure("no CA file for " + peer + " (the system's trust store is never used)");
      return;
    }
    attempt = std::make_unique<Attempt>(weak_from_this(), generation, filters.size());

    // Unbracketed even for IPv6: see the note at the top.
    const std::string uri = "ssl://" + host + ":" + std::to_string(endpoint.port);
    MQTTAsync_createOptions create = MQTTAsync_createOptions_initializer;
    create.MQTTVersion = MQTTVERSION_3_1_1;
    create.sendWhileDisconnected = 0;
    create.maxBufferedMessages = kMaxPahoBuffered;
    create.deleteOldestMessages = 0;
    create.restoreMessages = 0;
    create.persistQoS0 = 0;
    int rc = MQTTAsync_createWithOptions(&attempt->handle, uri.c_str(), endpoint.client_id.c_str(),
                                         MQTTCLIENT_PERSISTENCE_NONE, nullptr, &create);
    if (rc == MQTTASYNC_SUCCESS) {
      rc = MQTTAsync_setCallbacks(attempt->handle, attempt.get(), &on_connection_lost,
                                  &on_message_arrived, nullptr);
    }
    if (rc != MQTTASYNC_SUCCESS) {
      post_failure("cannot set up the connection to " + peer + ": " + paho_error(rc));
      return;
    }

    MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
    ssl.trustStore = endpoint.ca_file.c_str();
    ssl.keyStore = endpoint.cert_file.empty() ? nullptr : endpoint.cert_file.c_str();
    ssl.privateKey = endpoint.key_file.empty() ? nullptr : endpoint.key_file.c_str();
    ssl.enableServerCertAuth = 1;
    ssl.verify = 1;
    ssl.enabledCipherSuites = kTls12Ciphers;
    // Not read by Paho C 1.3.12 under OpenSSL >= 1.1 (see the top); says what is meant.
    ssl.sslVersion = MQTT_SSL_VERSION_TLS_1_2;
    ssl.disableDefaultTrustStore = 1;
    ssl.ssl_error_cb = &on_tls_error;
    ssl.ssl_error_context = attempt.get();

    MQTTAsync_connectOptions options = MQTTAsync_connectOptions_initializer;
    options.MQTTVersion = MQTTVERSION_3_1_1;
    options.cleansession = 1;
    options.keepAliveInterval = static_cast<int>(endpoint.keepalive.count());
    options.connectTimeout = static_cast<int>(endpoint.connect_timeout.count());
    options.automaticReconnect = 0;
    options.retryInterval = 0;
    options.ssl = &ssl;
    options.onSuccess = &on_connect_success;
    options.onFailure = &on_connect_failure;
    options.context = attempt.get();
    rc = MQTTAsync_connect(attempt->handle, &options);
    if (rc != MQTTASYNC_SUCCESS) {
      post_failure("cannot connect to " + peer + ": " + paho_error(rc));
    }
  }

  void connack_received() {
    if (filters.empty()) {
      phase = Phase::Connected;
      if (handlers.connected) {
        handlers.connected();
      }
      return;
    }
    phase = Phase::Subscribing;
    std::vector<char*> names;
    std::vector<int> qos(filters.size(), kQos);
    for (auto& filter : filters) {
      names.push_back(filter.data());
    }
    MQTTAsync_responseOptions response = MQTTAsync_responseOptions_initializer;
    response.onSuccess = &on_subscribe_success;
    response.onFailure = &on_subscribe_failure;
    response.context = attempt.get();
    const int rc = MQTTAsync_subscribeMany(attempt->handle, static_cast<int>(names.size()),
                                           names.data(), qos.data(), &response);
    if (rc != MQTTASYNC_SUCCESS) {
      fail("cannot subscribe the downlink filters at " + peer + ": " + paho_error(rc), false);
    }
  }

  void suback_received(const std::vector<int>& granted) {
    for (std::size_t i = 0; i < filters.size(); ++i) {
      if (i >= granted.size() || granted[i] == MQTT_BAD_SUBSCRIBE) {
        fail("subscription refused: " + filters[i], false);
        return;
      }
    }
    phase = Phase::Connected;
    if (handlers.connected) {
      handlers.connected();
    }
  }

  void completed(int token, bool ok) {
    const auto found = id_by_token.find(token);
    if (found == id_by_token.end()) {
      return;
    }
    const std::int64_t id = found->second;
    id_by_token.erase(found);
    token_by_id.erase(id);
    if (handlers.delivered) {
      handlers.delivered(id, ok);
    }
  }

  // --- Paho's threads ------------------------------------------------------------------

  // Runs `work` on the io thread if the attempt is still the current one there.
  template <typename Work>
  static void post_to_io(void* context, Work work) {
    auto* attempt = static_cast<Attempt*>(context);
    const std::shared_ptr<State> state = attempt->state.lock();
    if (!state) {
      return;
    }
    boost::asio::post(state->io, [state, g = attempt->generation, work = std::move(work)] {
      if (state->generation == g) {
        work(*state);
      }
    });
  }

  static int on_tls_error(const char* text, std::size_t length, void* context) {
    auto* attempt = static_cast<Attempt*>(context);
    const std::lock_guard lock(attempt->tls_mutex);
    // A handshake yields a few lines; more would only repeat them.
    if (attempt->tls_errors.size() < 4096) {
      attempt->tls_errors.append(text, length);
    }
    return 1;
  }

  static void on_connect_success(void* context, MQTTAsync_successData* /*data*/) {
    post_to_io(context, [](State& state) {
      if (state.phase == Phase::Connecting) {
        state.connack_received();
      }
    });
  }

  static void on_connect_failure(void* context, MQTTAsync_failureData* data) {
    const int code = data != nullptr ? data->code : MQTTASYNC_FAILURE;
    std::string message = data != nullptr && data->message != nullptr ? data->message : "";
    std::string tls;
    {
      auto* attempt = static_cast<Attempt*>(context);
      const std::lock_guard lock(attempt->tls_mutex);
      tls = tls_reasons(attempt->tls_errors);
    }
    post_to_io(context, [code, message = std::move(message), tls = std::move(tls)](State& state) {
      state.fail(state.connect_failure_text(code, message, tls), false);
    });
  }

  std::string connect_failure_text(int code, const std::string& message,
                                   const std::string& tls) const {
    if (!tls.empty()) {
      return "TLS with " + peer + " failed: " + tls;
    }
    if (message == "CONNACK return code") {
      return "the broker at " + peer + " refused the connection: " + connack_text(code);
    }
    if (message == "TCP connect timeout") {
      return "no MQTT connection to " + peer + " within the connect timeout";
    }
    if (message == "TCP connect completion failure") {
      return "the connection to " + peer +
             " closed before CONNACK (did the broker refuse the client certificate?)";
    }
    if (message == "TCP/TLS connect failure") {
      // All Paho C says when the connection was refused or reset (which is also what a
      // broker refusing the client certificate looks like here) and when the certificate
      // does not name the address, which it checks after the handshake.
      return "connect to " + peer + " failed without a TLS error: refused, unreachable or " +
             "reset (as when the broker refuses the client certificate), or the server " +
             "certificate does not name " + host;
    }
    return "connect to " + peer + " failed: " + (message.empty() ? paho_error(code) : message);
  }

  static void on_subscribe_success(void* context, MQTTAsync_successData* data) {
    const std::size_t count = static_cast<Attempt*>(context)->filter_count;
    std::vector<int> granted;
    if (data != nullptr) {
      if (count == 1) {
        granted.push_back(data->alt.qos);
      } else if (data->alt.qosList != nullptr) {
        granted.assign(data->alt.qosList, data->alt.qosList + count);
      }
    }
    post_to_io(context, [granted = std::move(granted)](State& state) {
      if (state.phase == Phase::Subscribing) {
        state.suback_received(granted);
      }
    });
  }

  static void on_subscribe_failure(void* context, MQTTAsync_failureData* data) {
    const int code = data != nullptr ? data->code : MQTTASYNC_FAILURE;
    post_to_io(context, [code](State& state) {
      if (state.phase != Phase::Subscribing) {
        return;
      }
      // Paho C turns a SUBACK refusing the only filter into a failure with code 0x80.
      if (code == MQTT_BAD_SUBSCRIBE && state.filters.size() == 1) {
        state.suback_received({MQTT_BAD_SUBSCRIBE});
        return;
      }
      state.fail(
          "subscribing the downlink filters at " + state.peer + " failed: " + paho_error(code),
          false);
    });
  }

  static void on_publish_success(void* context, MQTTAsync_successData* data) {
    if (data != nullptr) {
      post_to_io(context, [token = data->token](State& state) { state.completed(token, true); });
    }
  }

  static void on_publish_failure(void* context, MQTTAsync_failureData* data) {
    if (data != nullptr) {
      post_to_io(context, [token = data->token](State& state) { state.completed(token, false); });
    }
  }

  static void on_connection_lost(void* context, char* cause) {
    std::string why = cause != nullptr ? cause : "";
    post_to_io(context, [why = std::move(why)](State& state) {
      const bool was_connected = state.phase == Phase::Connected;
      state.fail("the connection to " + state.peer + " was lost" + (why.empty() ? "" : ": " + why),
                 was_connected);
    });
  }

  static int on_message_arrived(void* context, char* topic_name, int topic_length,
                                MQTTAsync_message* message) {
    std::string topic =
        topic_length > 0 ? std::string(topic_name, topic_length) : std::string(topic_name);
    std::string payload(static_cast<const char*>(message->payload),
                        static_cast<std::size_t>(message->payloadlen));
    MQTTAsync_freeMessage(&message);
    MQTTAsync_free(topic_name);
    post_to_io(context, [topic = std::move(topic), payload = std::move(payload)](State& state) {
      if (state.phase != Phase::Idle && state.handlers.downlink) {
        state.handlers.downlink(topic, payload);
      }
    });
    return 1;  // taken: Paho frees nothing more and acknowledges
  }
};

CloudLink::CloudLink(boost::asio::io_context& io, CloudLinkHandlers handlers)
    : state_(std::make_shared<State>(io, std::move(handlers))) {}

CloudLink::~CloudLink() {
  state_->alive = false;
  state_->end_attempt();
}

void CloudLink::connect(const CloudEndpoint& endpoint) {
  // Held here: a delivered() handler may destroy this CloudLink.
  const std::shared_ptr<State> state = state_;
  state->report_lost(state->end_attempt());
  if (state->alive) {
    state->start(endpoint);
  }
}

bool CloudLink::publish(std::int64_t id, const std::string& topic, const std::string& payload) {
  State& state = *state_;
  // Also refused (nothing sent, nothing reported): an id already in flight, and what MQTT
  // forbids in a PUBLISH, for which the broker would drop the connection and with it every
  // message in flight.
  if (state.phase != Phase::Connected || state.token_by_id.count(id) != 0 || topic.empty() ||
      topic.size() > 65535 || topic.find_first_of(std::string("+#\0", 3)) != std::string::npos ||
      payload.size() > static_cast<std::size_t>(INT_MAX)) {
    return false;
  }
  MQTTAsync_message message = MQTTAsync_message_initializer;
  message.payload = const_cast<char*>(payload.data());
  message.payloadlen = static_cast<int>(payload.size());
  message.qos = kQos;
  message.retained = 0;
  MQTTAsync_responseOptions response = MQTTAsync_responseOptions_initializer;
  response.onSuccess = &State::on_publish_success;
  response.onFailure = &State::on_publish_failure;
  response.context = state.attempt.get();
  if (MQTTAsync_sendMessage(state.attempt->handle, topic.c_str(), &message, &response) !=
      MQTTASYNC_SUCCESS) {
    return false;
  }
  state.id_by_token[response.token] = id;
  state.token_by_id[id] = response.token;
  return true;
}

void CloudLink::disconnect() {
  const std::shared_ptr<State> state = state_;
  state->report_lost(state->end_attempt());
}

bool CloudLink::connected() const {
  return state_->phase == Phase::Connected;
}

std::size_t CloudLink::in_flight() const {
  return state_->token_by_id.size();
}

}  // namespace sekisho::cloud
