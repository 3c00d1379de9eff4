#include "daemon/cloud/mqtt_codec.hpp"

#include <algorithm>
#include <array>

#include "policy/topic_filter.hpp"

namespace sekisho::cloud::mqtt {

namespace {

constexpr std::size_t kMaxRemainingLength = 268'435'455;
constexpr std::size_t kMaxString = 65'535;

std::string type_name(unsigned type) {
  static constexpr std::array<const char*, 16> kNames{"reserved packet type 0",
                                                      "CONNECT",
                                                      "CONNACK",
                                                      "PUBLISH",
                                                      "PUBACK",
                                                      "PUBREC",
                                                      "PUBREL",
                                                      "PUBCOMP",
                                                      "SUBSCRIBE",
                                                      "SUBACK",
                                                      "UNSUBSCRIBE",
                                                      "UNSUBACK",
                                                      "PINGREQ",
                                                      "PINGRESP",
                                                      "DISCONNECT",
                                                      "reserved packet type 15"};
  return kNames[type & 0x0F];
}

unsigned type_code(PacketType type) {
  return static_cast<unsigned>(type);
}

// 1.5.3: well-formed UTF-8 as RFC 3629 has it (no overlong form, no surrogate, nothing past
// U+10FFFF) and no U+0000. Other control characters and non-characters are only
// discouraged (SHOULD NOT), so they pass.
bool valid_utf8(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* const end = p + text.size();
  while (p < end) {
    const unsigned char lead = *p;
    if (lead < 0x80) {
      if (lead == 0) {
        return false;
      }
      ++p;
      continue;
    }
    std::size_t size = 0;
    std::uint32_t code = 0;
    std::uint32_t smallest = 0;
    if ((lead & 0xE0) == 0xC0) {
      size = 2;
      code = lead & 0x1F;
      smallest = 0x80;
    } else if ((lead & 0xF0) == 0xE0) {
      size = 3;
      code = lead & 0x0F;
      smallest = 0x800;
    } else if ((lead & 0xF8) == 0xF0) {
      size = 4;
      code = lead & 0x07;
      smallest = 0x10000;
    } else {
      return false;
    }
    if (static_cast<std::size_t>(end - p) < size) {
      return false;
    }
    for (std::size_t i = 1; i < size; ++i) {
      if ((p[i] & 0xC0) != 0x80) {
        return false;
      }
      code = (code << 6) | (p[i] & 0x3F);
    }
    if (code < smallest || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) {
      return false;
    }
    p += size;
  }
  return true;
}

// The topic rules (4.7) are policy/topic_filter's, which the policy's filters obey too.
bool valid_filter(std::string_view filter) {
  return policy::topic_filter_error(filter).empty();
}

bool valid_topic(std::string_view topic) {
  return policy::topic_name_error(topic).empty();
}

// --- Encoding ---

[[noreturn]] void fail_encode(const std::string& why) {
  throw std::invalid_argument("MQTT encode: " + why);
}

void check_string(std::string_view text, const char* what) {
  if (text.size() > kMaxString) {
    fail_encode(std::string(what) + " is longer than 65535 bytes");
  }
}

void check_utf8(std::string_view text, const char* what) {
  check_string(text, what);
  if (!valid_utf8(text)) {
    fail_encode(std::string(what) + " is not UTF-8 without U+0000");
  }
}

void check_topic(std::string_view topic, const char* what) {
  check_utf8(topic, what);
  if (!valid_topic(topic)) {
    fail_encode(std::string(what) + " '" + std::string(topic) + "' is empty or has a wildcard");
  }
}

void check_filter(std::string_view filter) {
  check_utf8(filter, "a topic filter");
  if (!valid_filter(filter)) {
    fail_encode("topic filter '" + std::string(filter) + "' is not valid");
  }
}

void check_packet_id(std::uint16_t id) {
  if (id == 0) {
    fail_encode("packet id 0 (2.3.1-1)");
  }
}

void put_u16(std::string& out, std::size_t value) {
  out += static_cast<char>((value >> 8) & 0xFF);
  out += static_cast<char>(value & 0xFF);
}

// A string or binary field: two bytes of length, then the bytes (checked by the caller).
void put_field(std::string& out, std::string_view text) {
  put_u16(out, text.size());
  out += text;
}

// The fixed header: the first byte, then the remaining length in 1 to 4 bytes of 7 bits
// each, least significant first (2.2.3).
std::string fixed_header(unsigned first, std::size_t remaining, std::size_t reserve_extra) {
  if (remaining > kMaxRemainingLength) {
    fail_encode("a packet of " + std::to_string(remaining) + " bytes is over the maximum of " +
                std::to_string(kMaxRemainingLength));
  }
  std::string out;
  out.reserve(5 + reserve_extra);
  out += static_cast<char>(first);
  do {
    unsigned digit = remaining % 128;
    remaining /= 128;
    if (remaining > 0) {
      digit |= 0x80;
    }
    out += static_cast<char>(digit);
  } while (remaining > 0);
  return out;
}

std::string with_header(unsigned first, const std::string& body) {
  std::string out = fixed_header(first, body.size(), body.size());
  out += body;
  return out;
}

// --- Decoding ---

[[noreturn]] void fail(const std::string& why) {
  throw ProtocolError("MQTT: " + why);
}

// The fields of one packet's variable header and payload, which must be used up exactly.
class Reader {
 public:
  Reader(std::string_view body, unsigned type) : rest_(body), type_(type) {}

  bool empty() const { return rest_.empty(); }

  std::uint8_t byte() { return static_cast<std::uint8_t>(take(1)[0]); }

  std::uint16_t u16() {
    const std::string_view two = take(2);
    return static_cast<std::uint16_t>((static_cast<std::uint8_t>(two[0]) << 8) |
                                      static_cast<std::uint8_t>(two[1]));
  }

  std::uint16_t packet_id() {
    const std::uint16_t id = u16();
    if (id == 0) {
      fail(type_name(type_) + " with packet id 0 (2.3.1-1)");
    }
    return id;
  }

  std::string_view binary() { return take(u16()); }

  std::string utf8(const char* what) {
    const std::string_view text = binary();
    if (!valid_utf8(text)) {
      fail(type_name(type_) + ": " + what + " is not UTF-8 without U+0000 (1.5.3)");
    }
    return std::string(text);
  }

  std::string topic(const char* what) {
    std::string name = utf8(what);
    if (!valid_topic(name)) {
      fail(type_name(type_) + ": " + what + " '" + name +
           "' is empty or has a wildcard (3.3.2-2, 4.7.3-1)");
    }
    return name;
  }

  std::string filter() {
    std::string text = utf8("topic filter");
    if (!valid_filter(text)) {
      fail(type_name(type_) + ": topic filter '" + text + "' is not valid (4.7.1)");
    }
    return text;
  }

  std::string_view rest() { return take(rest_.size()); }

  void end() const {
    if (!rest_.empty()) {
      fail(type_name(type_) + " has " + std::to_string(rest_.size()) +
           " bytes after its last field");
    }
  }

 private:
  std::string_view take(std::size_t size) {
    if (rest_.size() < size) {
      fail(type_name(type_) + " ends inside a field (the remaining length is too short)");
    }
    const std::string_view part = rest_.substr(0, size);
    rest_.remove_prefix(size);
    return part;
  }

  std::string_view rest_;
  unsigned type_;
};

// 2.2.2: the flags each type must carry (PUBLISH's are checked on their own), and the
// exact remaining length of the types that have no payload.
void check_fixed_header(unsigned type, unsigned flags) {
  if (type == 0 || type == 15) {
    fail(type_name(type) + " (2.2.1)");
  }
  const unsigned pubrel = type_code(PacketType::Pubrel);
  const unsigned subscribe = type_code(PacketType::Subscribe);
  const unsigned unsubscribe = type_code(PacketType::Unsubscribe);
  if (type == type_code(PacketType::Publish)) {
    const unsigned qos = (flags >> 1) & 0x03;
    if (qos == 3) {
      fail("PUBLISH with QoS 3 (3.3.1-4)");
    }
    if (qos == 0 && (flags & 0x08) != 0) {
      fail("PUBLISH with QoS 0 and DUP set (3.3.1-2)");
    }
    return;
  }
  const unsigned wanted = type == pubrel || type == subscribe || type == unsubscribe ? 2 : 0;
  if (flags != wanted) {
    fail(type_name(type) + " with fixed header flags " + std::to_string(flags) + " instead of " +
         std::to_string(wanted) + " (2.2.2)");
  }
}

std::optional<std::size_t> fixed_remaining_length(unsigned type) {
  switch (static_cast<PacketType>(type)) {
    case PacketType::Connack:
    case PacketType::Puback:
    case PacketType::Pubrec:
    case PacketType::Pubrel:
    case PacketType::Pubcomp:
    case PacketType::Unsuback:
      return 2;
    case PacketType::Pingreq:
    case PacketType::Pingresp:
    case PacketType::Disconnect:
      return 0;
    default:
      return std::nullopt;
  }
}

Connect parse_connect(Reader& in) {
  if (in.binary() != "MQTT") {
    fail("CONNECT whose protocol name is not MQTT (3.1.2-1)");
  }
  if (const unsigned level = in.byte(); level != 4) {
    fail("CONNECT with protocol level " + std::to_string(level) + ", not 4 (3.1.1) (3.1.2-2)");
  }
  const unsigned flags = in.byte();
  if ((flags & 0x01) != 0) {
    fail("CONNECT with the reserved flag set (3.1.2-3)");
  }
  const bool has_will = (flags & 0x04) != 0;
  Connect packet;
  packet.clean_session = (flags & 0x02) != 0;
  packet.will_qos = static_cast<std::uint8_t>((flags >> 3) & 0x03);
  packet.will_retain = (flags & 0x20) != 0;
  if (!has_will && (packet.will_qos != 0 || packet.will_retain)) {
    fail("CONNECT with a will QoS or will retain but no will (3.1.2-13, 3.1.2-15)");
  }
  if (packet.will_qos == 3) {
    fail("CONNECT with will QoS 3 (3.1.2-14)");
  }
  const bool has_username = (flags & 0x80) != 0;
  const bool has_password = (flags & 0x40) != 0;
  if (has_password && !has_username) {
    fail("CONNECT with a password but no user name (3.1.2-22)");
  }
  packet.keepalive_seconds = in.u16();
  packet.client_id = in.utf8("client id");
  if (has_will) {
    std::string topic = in.topic("will topic");
    packet.will.emplace(std::move(topic), std::string(in.binary()));
  }
  if (has_username) {
    packet.username = in.utf8("user name");
  }
  if (has_password) {
    packet.password = std::string(in.binary());
  }
  in.end();
  return packet;
}

Connack parse_connack(Reader& in) {
  const unsigned flags = in.byte();
  if ((flags & 0xFE) != 0) {
    fail("CONNACK with reserved flag bits set (3.2.2.1)");
  }
  Connack packet;
  packet.session_present = flags != 0;
  packet.return_code = in.byte();
  if (packet.return_code > 5) {
    fail("CONNACK with reserved return code " + std::to_string(packet.return_code) + " (3.2.2.3)");
  }
  if (packet.session_present && packet.return_code != 0) {
    fail("CONNACK refusing the connection with session present set (3.2.2-4)");
  }
  return packet;
}

Publish parse_publish(Reader& in, unsigned flags) {
  Publish packet;
  packet.dup = (flags & 0x08) != 0;
  packet.qos = static_cast<std::uint8_t>((flags >> 1) & 0x03);
  packet.retain = (flags & 0x01) != 0;
  packet.topic = in.topic("topic name");
  if (packet.qos > 0) {
    packet.packet_id = in.packet_id();
  }
  packet.payload = std::string(in.rest());
  return packet;
}

Subscribe parse_subscribe(Reader& in) {
  Subscribe packet;
  packet.packet_id = in.packet_id();
  do {
    std::string filter = in.filter();
    const std::uint8_t qos = in.byte();
    if (qos > 2) {
      fail("SUBSCRIBE requesting QoS byte " + std::to_string(qos) + " (3.8.3-4)");
    }
    packet.filters.emplace_back(std::move(filter), qos);
  } while (!in.empty());
  return packet;
}

Suback parse_suback(Reader& in) {
  Suback packet;
  packet.packet_id = in.packet_id();
  do {
    const std::uint8_t code = in.byte();
    if (code > 2 && code != 0x80) {
      fail("SUBACK with reserved return code " + std::to_string(code) + " (3.9.3-2)");
    }
    packet.return_codes.push_back(code);
  } while (!in.empty());
  return packet;
}

Unsubscribe parse_unsubscribe(Reader& in) {
  Unsubscribe packet;
  packet.packet_id = in.packet_id();
  do {
    packet.filters.push_back(in.filter());
  } while (!in.empty());
  return packet;
}

// One whole packet's variable header and payload; the fixed header was checked.
Packet parse(unsigned first, std::string_view body) {
  const unsigned type = first >> 4;
  Reader in(body, type);
  switch (static_cast<PacketType>(type)) {
    case PacketType::Connect:
      return parse_connect(in);
    case PacketType::Connack:
      return parse_connack(in);
    case PacketType::Publish:
      return parse_publish(in, first & 0x0F);
    case PacketType::Subscribe:
      return parse_subscribe(in);
    case PacketType::Suback:
      return parse_suback(in);
    case PacketType::Unsubscribe:
      return parse_unsubscribe(in);
    case PacketType::Puback:
    case PacketType::Pubrec:
    case PacketType::Pubrel:
    case PacketType::Pubcomp:
    case PacketType::Unsuback:
      return Ack{static_cast<PacketType>(type), in.packet_id()};
    case PacketType::Pingreq:
    case PacketType::Pingresp:
    case PacketType::Disconnect:
      return Bare{static_cast<PacketType>(type)};
  }
  fail(type_name(type));
}

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

}  // namespace

std::string encode(const Connect& packet) {
  if (packet.password && !packet.username) {
    fail_encode("CONNECT with a password but no user name (3.1.2-22)");
  }
  if (packet.will_qos > 2) {
    fail_encode("will QoS " + std::to_string(packet.will_qos));
  }
  if (!packet.will && (packet.will_qos != 0 || packet.will_retain)) {
    fail_encode("will QoS or will retain without a will (3.1.2-13, 3.1.2-15)");
  }
  check_utf8(packet.client_id, "the client id");
  unsigned flags = packet.clean_session ? 0x02 : 0x00;
  std::string body;
  put_field(body, "MQTT");
  body += static_cast<char>(4);
  if (packet.will) {
    check_topic(packet.will->first, "the will topic");
    check_string(packet.will->second, "the will message");
    flags |= 0x04 | (packet.will_qos << 3) | (packet.will_retain ? 0x20 : 0x00);
  }
  if (packet.username) {
    check_utf8(*packet.username, "the user name");
    flags |= 0x80;
  }
  if (packet.password) {
    check_string(*packet.password, "the password");
    flags |= 0x40;
  }
  body += static_cast<char>(flags);
  put_u16(body, packet.keepalive_seconds);
  put_field(body, packet.client_id);
  if (packet.will) {
    put_field(body, packet.will->first);
    put_field(body, packet.will->second);
  }
  if (packet.username) {
    put_field(body, *packet.username);
  }
  if (packet.password) {
    put_field(body, *packet.password);
  }
  return with_header(type_code(PacketType::Connect) << 4, body);
}

std::string encode(const Connack& packet) {
  if (packet.return_code > 5) {
    fail_encode("CONNACK return code " + std::to_string(packet.return_code) + " is reserved");
  }
  if (packet.session_present && packet.return_code != 0) {
    fail_encode("CONNACK refusing with session present (3.2.2-4)");
  }
  std::string body;
  body += static_cast<char>(packet.session_present ? 1 : 0);
  body += static_cast<char>(packet.return_code);
  return with_header(type_code(PacketType::Connack) << 4, body);
}

std::string encode(const Publish& packet) {
  if (packet.qos > 2) {
    fail_encode("PUBLISH with QoS " + std::to_string(packet.qos));
  }
  if (packet.qos == 0 && (packet.dup || packet.packet_id != 0)) {
    fail_encode("PUBLISH with QoS 0 has neither DUP nor a packet id (3.3.1-2, 2.3.1-5)");
  }
  if (packet.qos > 0) {
    check_packet_id(packet.packet_id);
  }
  check_topic(packet.topic, "the topic name");
  const std::size_t id_size = packet.qos > 0 ? 2 : 0;
  const std::size_t remaining = 2 + packet.topic.size() + id_size + packet.payload.size();
  const unsigned first = (type_code(PacketType::Publish) << 4) | (packet.dup ? 0x08 : 0x00) |
                         (packet.qos << 1) | (packet.retain ? 0x01 : 0x00);
  // Straight into one buffer: the hot path, and payloads can be large.
  std::string out = fixed_header(first, remaining, remaining);
  put_field(out, packet.topic);
  if (packet.qos > 0) {
    put_u16(out, packet.packet_id);
  }
  out += packet.payload;
  return out;
}

std::string encode(const Subscribe& packet) {
  check_packet_id(packet.packet_id);
  if (packet.filters.empty()) {
    fail_encode("SUBSCRIBE without a topic filter (3.8.3-3)");
  }
  std::string body;
  put_u16(body, packet.packet_id);
  for (const auto& [filter, qos] : packet.filters) {
    check_filter(filter);
    if (qos > 2) {
      fail_encode("SUBSCRIBE requesting QoS " + std::to_string(qos));
    }
    put_field(body, filter);
    body += static_cast<char>(qos);
  }
  return with_header((type_code(PacketType::Subscribe) << 4) | 0x02, body);
}

std::string encode(const Suback& packet) {
  check_packet_id(packet.packet_id);
  if (packet.return_codes.empty()) {
    fail_encode("SUBACK without a return code");
  }
  std::string body;
  put_u16(body, packet.packet_id);
  for (const std::uint8_t code : packet.return_codes) {
    if (code > 2 && code != 0x80) {
      fail_encode("SUBACK return code " + std::to_string(code) + " is reserved (3.9.3-2)");
    }
    body += static_cast<char>(code);
  }
  return with_header(type_code(PacketType::Suback) << 4, body);
}

std::string encode(const Unsubscribe& packet) {
  check_packet_id(packet.packet_id);
  if (packet.filters.empty()) {
    fail_encode("UNSUBSCRIBE without a topic filter (3.10.3-2)");
  }
  std::string body;
  put_u16(body, packet.packet_id);
  for (const std::string& filter : packet.filters) {
    check_filter(filter);
    put_field(body, filter);
  }
  return with_header((type_code(PacketType::Unsubscribe) << 4) | 0x02, body);
}

std::string encode(const Ack& packet) {
  unsigned flags = 0;
  switch (packet.type) {
    case PacketType::Puback:
    case PacketType::Pubrec:
    case PacketType::Pubcomp:
    case PacketType::Unsuback:
      break;
    case PacketType::Pubrel:
      flags = 0x02;
      break;
    default:
      fail_encode(type_name(type_code(packet.type)) + " is not an acknowledgement");
  }
  check_packet_id(packet.packet_id);
  std::string out = fixed_header((type_code(packet.type) << 4) | flags, 2, 2);
  put_u16(out, packet.packet_id);
  return out;
}

std::string encode(const Bare& packet) {
  switch (packet.type) {
    case PacketType::Pingreq:
    case PacketType::Pingresp:
    case PacketType::Disconnect:
      return fixed_header(type_code(packet.type) << 4, 0, 0);
    default:
      fail_encode(type_name(type_code(packet.type)) + " is not a packet without fields");
  }
}

std::string encode(const Packet& packet) {
  return std::visit(Overloaded{[](const TooLarge&) -> std::string {
                                 fail_encode("a TooLarge is a report, not a packet");
                               },
                               [](const auto& whole) { return encode(whole); }},
                    packet);
}

Decoder::Decoder(std::size_t max_packet) : max_packet_(max_packet) {}

void Decoder::feed(std::string_view bytes) {
  const std::size_t dropped = std::min(skipping_, bytes.size());
  skipping_ -= dropped;
  bytes.remove_prefix(dropped);
  if (bytes.empty()) {
    return;
  }
  // Returned packets are cut off here, not in next(): when at least as many bytes were
  // returned as are left (each byte is moved at most about once), or when the append
  // would reallocate (and copy) anyway.
  const std::size_t held = buffer_.size() - read_;
  if (read_ > 0 && (read_ >= held || buffer_.size() + bytes.size() > buffer_.capacity())) {
    buffer_.erase(0, read_);
    read_ = 0;
  }
  buffer_.append(bytes);
}

std::size_t Decoder::buffered() const {
  return buffer_.size() - read_;
}

std::optional<Packet> Decoder::next() {
  // Nothing changes before a packet is whole and valid, so a ProtocolError is thrown
  // again if next() is called again.
  const std::string_view held = std::string_view(buffer_).substr(read_);
  if (held.empty()) {
    return std::nullopt;
  }
  const auto first = static_cast<std::uint8_t>(held[0]);
  const unsigned type = first >> 4;
  const unsigned flags = first & 0x0F;
  check_fixed_header(type, flags);

  // 2.2.3 limits the remaining length to four bytes but, unlike MQTT 5 (1.5.5-1), does
  // not ask for the shortest form, so a longer one (0x80 0x00 for 0) is accepted.
  std::size_t remaining = 0;
  std::size_t header = 1;
  for (unsigned shift = 0;; shift += 7) {
    if (header == 5) {
      fail(type_name(type) + " whose remaining length runs past four bytes (2.2.3)");
    }
    if (held.size() <= header) {
      return std::nullopt;
    }
    const auto digit = static_cast<std::uint8_t>(held[header++]);
    remaining |= static_cast<std::size_t>(digit & 0x7F) << shift;
    if ((digit & 0x80) == 0) {
      break;
    }
  }
  if (const auto fixed = fixed_remaining_length(type); fixed && remaining != *fixed) {
    fail(type_name(type) + " with remaining length " + std::to_string(remaining) + " instead of " +
         std::to_string(*fixed));
  }

  if (remaining > max_packet_) {
    if (type != type_code(PacketType::Publish)) {
      fail(type_name(type) + " of " + std::to_string(remaining) + " bytes, over the limit of " +
           std::to_string(max_packet_));
    }
    // Only the topic and packet id are needed (and waited for); the payload is dropped.
    if (remaining < 2) {
      fail("PUBLISH ends inside its topic name");
    }
    if (held.size() < header + 2) {
      return std::nullopt;
    }
    const std::size_t topic_size = (static_cast<std::uint8_t>(held[header]) << 8) |
                                   static_cast<std::uint8_t>(held[header + 1]);
    const unsigned qos = (flags >> 1) & 0x03;
    const std::size_t needed = 2 + topic_size + (qos > 0 ? 2 : 0);
    if (needed > remaining) {
      fail("PUBLISH ends inside its topic name or packet id");
    }
    if (held.size() < header + needed) {
      return std::nullopt;
    }
    Reader in(held.substr(header, needed), type);
    TooLarge report;
    report.topic = in.topic("topic name");
    report.qos = static_cast<std::uint8_t>(qos);
    if (qos > 0) {
      report.packet_id = in.packet_id();
    }
    report.size = remaining;
    const std::size_t end = header + remaining;
    const std::size_t here = std::min(held.size(), end);
    skipping_ = end - here;
    consume(here);
    return report;
  }

  if (held.size() - header < remaining) {
    return std::nullopt;
  }
  Packet packet = parse(first, held.substr(header, remaining));
  consume(header + remaining);
  return packet;
}

void Decoder::consume(std::size_t bytes) {
  read_ += bytes;
  // The common case, a piece that held whole packets only: nothing to move later.
  if (read_ == buffer_.size()) {
    buffer_.clear();
    read_ = 0;
  }
}

}  // namespace sekisho::cloud::mqtt
