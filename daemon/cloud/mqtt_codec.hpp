#pragma once
// MQTT 3.1.1 packets (OASIS standard, 2014) to and from bytes: every control packet a
// client or a server sends, so sekishod's own client to the local broker and its tests
// share one codec. No I/O, nothing but the standard library and policy/'s topic rules, so
// the clang fuzz build compiles it with policy/ (tests/fuzz/mqtt_fuzz.cpp).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace sekisho::cloud::mqtt {

enum class PacketType : std::uint8_t {
  Connect = 1,
  Connack = 2,
  Publish = 3,
  Puback = 4,
  Pubrec = 5,
  Pubrel = 6,
  Pubcomp = 7,
  Subscribe = 8,
  Suback = 9,
  Unsubscribe = 10,
  Unsuback = 11,
  Pingreq = 12,
  Pingresp = 13,
  Disconnect = 14,
};

// The bytes could not be an MQTT 3.1.1 packet (the connection must be closed, 4.8).
class ProtocolError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Connect {
  std::string client_id;
  bool clean_session = true;
  std::uint16_t keepalive_seconds = 0;
  std::optional<std::string> username;
  std::optional<std::string> password;
  // The will is not used by sekisho; decoded so a server-side test can see it.
  std::optional<std::pair<std::string, std::string>> will;  // topic, message
  std::uint8_t will_qos = 0;
  bool will_retain = false;
  bool operator==(const Connect&) const = default;
};

struct Connack {
  bool session_present = false;
  std::uint8_t return_code = 0;  // 0 accepted; 1-5 refused (3.2.2.3)
  bool operator==(const Connack&) const = default;
};

struct Publish {
  std::string topic;
  std::string payload;
  std::uint8_t qos = 0;
  bool retain = false;
  bool dup = false;
  std::uint16_t packet_id = 0;  // only with qos > 0 (never 0 then)
  bool operator==(const Publish&) const = default;
};

struct Subscribe {
  std::uint16_t packet_id = 0;
  std::vector<std::pair<std::string, std::uint8_t>> filters;  // filter, requested qos
  bool operator==(const Subscribe&) const = default;
};

struct Suback {
  std::uint16_t packet_id = 0;
  std::vector<std::uint8_t> return_codes;  // granted qos, or 0x80 failure
  bool operator==(const Suback&) const = default;
};

struct Unsubscribe {
  std::uint16_t packet_id = 0;
  std::vector<std::string> filters;
  bool operator==(const Unsubscribe&) const = default;
};

// PUBACK, PUBREC, PUBREL, PUBCOMP and UNSUBACK: a type and a packet id.
struct Ack {
  PacketType type = PacketType::Puback;
  std::uint16_t packet_id = 0;
  bool operator==(const Ack&) const = default;
};

// PINGREQ, PINGRESP and DISCONNECT: a type alone.
struct Bare {
  PacketType type = PacketType::Pingreq;
  bool operator==(const Bare&) const = default;
};

// A PUBLISH longer than the decoder's limit: its topic and packet id were read, its
// payload skipped as it arrived (never held in memory). The receiver acknowledges it as
// usual and counts it as dropped, so the sender does not offer it again and again.
struct TooLarge {
  std::string topic;
  std::uint8_t qos = 0;
  std::uint16_t packet_id = 0;
  std::size_t size = 0;  // the packet's remaining length
  bool operator==(const TooLarge&) const = default;
};

using Packet =
    std::variant<Connect, Connack, Publish, Subscribe, Suback, Unsubscribe, Ack, Bare, TooLarge>;

// Encoders: the whole packet, fixed header included. They throw std::invalid_argument for
// what the standard forbids (a string over 65,535 bytes, qos > 2, packet id 0 with qos >
// 0, a packet over 268,435,455 bytes, an empty SUBSCRIBE).
std::string encode(const Connect& packet);
std::string encode(const Connack& packet);
std::string encode(const Publish& packet);
std::string encode(const Subscribe& packet);
std::string encode(const Suback& packet);
std::string encode(const Unsubscribe& packet);
std::string encode(const Ack& packet);
std::string encode(const Bare& packet);
std::string encode(const Packet& packet);

// Reads packets from a byte stream, as they arrive in pieces of any size.
class Decoder {
 public:
  // Packets whose remaining length exceeds `max_packet` are refused (ProtocolError),
  // except a PUBLISH, which comes out as TooLarge.
  explicit Decoder(std::size_t max_packet);

  // Appends bytes received.
  void feed(std::string_view bytes);

  // The next complete packet; nullopt when more bytes are needed. Throws ProtocolError on
  // bytes no MQTT 3.1.1 packet may hold (reserved types or flags, a remaining length over
  // four bytes, a string that is not UTF-8 or holds U+0000, a topic with wildcards, qos 3,
  // lengths that do not add up); after that the decoder is not to be used again.
  std::optional<Packet> next();

  // Bytes held that are not a whole packet yet.
  std::size_t buffered() const;

 private:
  void consume(std::size_t bytes);

  // Once next() has returned nullopt, what is held is the start of one packet: at most
  // max_packet + 4 bytes, or up to 65,539 + 4 while an over-long PUBLISH's topic (at most
  // 65,535 bytes, which TooLarge needs whole) and packet id arrive.
  std::size_t max_packet_;
  std::string buffer_;
  std::size_t read_ = 0;      // buffer_'s bytes before this were returned as packets
  std::size_t skipping_ = 0;  // bytes of a TooLarge PUBLISH yet to arrive, dropped by feed()
};

}  // namespace sekisho::cloud::mqtt
