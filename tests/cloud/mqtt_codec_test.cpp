// The MQTT 3.1.1 codec: byte fixtures written by hand from the standard (OASIS, 2014) for
// every packet type, round trips, the remaining length's boundaries, input in pieces of
// every size, every malformation a receiver must refuse, and over-long PUBLISH packets
// skipped without being held in memory.

#include "daemon/cloud/mqtt_codec.hpp"

#include <algorithm>
#include <chrono>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>

using namespace sekisho::cloud::mqtt;

namespace doctest {
template <>
struct StringMaker<Packet> {
  static String convert(const Packet& packet) {
    std::ostringstream out;
    out << "packet #" << packet.index();
    if (const auto* publish = std::get_if<Publish>(&packet)) {
      out << " topic '" << publish->topic << "' qos " << static_cast<int>(publish->qos) << " id "
          << publish->packet_id << " payload " << publish->payload.size() << " bytes";
    }
    if (const auto* large = std::get_if<TooLarge>(&packet)) {
      out << " topic '" << large->topic << "' id " << large->packet_id << " size " << large->size;
    }
    return out.str().c_str();
  }
};
}  // namespace doctest

namespace {

constexpr std::size_t kLarge = 1 << 24;

// Bytes written the way the standard's figures show them: hex bytes, and 'quoted' ASCII.
// "10 0C 00 04 'MQTT'" is 0x10 0x0C 0x00 0x04 'M' 'Q' 'T' 'T'.
std::string bytes(std::string_view text) {
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    if (text[i] == ' ') {
      ++i;
    } else if (text[i] == '\'') {
      const std::size_t close = text.find('\'', i + 1);
      out += text.substr(i + 1, close - i - 1);
      i = close + 1;
    } else {
      out += static_cast<char>(std::stoi(std::string(text.substr(i, 2)), nullptr, 16));
      i += 2;
    }
  }
  return out;
}

// Every packet `stream` holds, fed whole.
std::vector<Packet> decode_all(const std::string& stream, std::size_t max_packet = kLarge) {
  Decoder decoder(max_packet);
  decoder.feed(stream);
  std::vector<Packet> packets;
  while (auto packet = decoder.next()) {
    packets.push_back(std::move(*packet));
  }
  CHECK(decoder.buffered() == 0);
  return packets;
}

Packet decode_one(const std::string& stream) {
  std::vector<Packet> packets = decode_all(stream);
  REQUIRE(packets.size() == 1);
  return packets[0];
}

// Throws what the decoder throws, for `stream` fed whole and drained.
void drain(const std::string& stream, std::size_t max_packet = kLarge) {
  Decoder decoder(max_packet);
  decoder.feed(stream);
  while (decoder.next()) {
  }
}

struct Fixture {
  const char* what;
  Packet packet;
  std::string wire;
};

std::vector<Fixture> fixtures() {
  Connect full;
  full.client_id = "c";
  full.clean_session = false;
  full.keepalive_seconds = 0x0102;
  full.username = "u";
  full.password = std::string("p\0q", 3);  // binary data: U+0000 is allowed here
  full.will = {"w/t", "bye"};
  full.will_qos = 1;
  full.will_retain = true;
  return {
      // 3.1: protocol name, level 4, flags (clean session), keepalive 60, client id.
      {"CONNECT", Connect{"sekisho", true, 60, {}, {}, {}, 0, false},
       bytes("10 13 00 04 'MQTT' 04 02 00 3C 00 07 'sekisho'")},
      // Flags 0xEC: user name, password, will retain, will QoS 1, will; no clean session.
      {"CONNECT with will, user name and password", full,
       bytes("10 1F 00 04 'MQTT' 04 EC 01 02 00 01 'c' 00 03 'w/t' 00 03 'bye' 00 01 'u' 00 03 "
             "'p' 00 'q'")},
      {"CONNACK", Connack{true, 0}, bytes("20 02 01 00")},
      {"CONNACK refused", Connack{false, 5}, bytes("20 02 00 05")},
      // 3.3: QoS 0 has no packet id.
      {"PUBLISH QoS 0", Publish{"a/b", "hi", 0, false, false, 0}, bytes("30 07 00 03 'a/b' 'hi'")},
      // First byte 0x3B: PUBLISH, DUP, QoS 1, RETAIN.
      {"PUBLISH QoS 1", Publish{"t", "xyz", 1, true, true, 0x1234},
       bytes("3B 08 00 01 't' 12 34 'xyz'")},
      {"PUBLISH QoS 2, empty payload", Publish{"s/é", "", 2, false, false, 0xFFFF},
       bytes("34 08 00 04 's/' C3 A9 FF FF")},
      {"PUBACK", Ack{PacketType::Puback, 7}, bytes("40 02 00 07")},
      {"PUBREC", Ack{PacketType::Pubrec, 0x0100}, bytes("50 02 01 00")},
      {"PUBREL", Ack{PacketType::Pubrel, 9}, bytes("62 02 00 09")},
      {"PUBCOMP", Ack{PacketType::Pubcomp, 10}, bytes("70 02 00 0A")},
      {"SUBSCRIBE", Subscribe{10, {{"a/#", 1}, {"+", 2}}},
       bytes("82 0C 00 0A 00 03 'a/#' 01 00 01 '+' 02")},
      {"SUBACK", Suback{10, {1, 0x80}}, bytes("90 04 00 0A 01 80")},
      {"UNSUBSCRIBE", Unsubscribe{11, {"a/#", "b"}}, bytes("A2 0A 00 0B 00 03 'a/#' 00 01 'b'")},
      {"UNSUBACK", Ack{PacketType::Unsuback, 11}, bytes("B0 02 00 0B")},
      {"PINGREQ", Bare{PacketType::Pingreq}, bytes("C0 00")},
      {"PINGRESP", Bare{PacketType::Pingresp}, bytes("D0 00")},
      {"DISCONNECT", Bare{PacketType::Disconnect}, bytes("E0 00")},
  };
}

std::string all_fixtures() {
  std::string stream;
  for (const Fixture& fixture : fixtures()) {
    stream += fixture.wire;
  }
  return stream;
}

std::vector<Packet> all_fixture_packets() {
  std::vector<Packet> packets;
  for (const Fixture& fixture : fixtures()) {
    packets.push_back(fixture.packet);
  }
  return packets;
}

Publish publish_of_remaining_length(std::size_t remaining) {
  // Topic "t" (2 + 1 bytes), QoS 0: the rest is payload.
  return Publish{"t", std::string(remaining - 3, 'p'), 0, false, false, 0};
}

}  // namespace

TEST_CASE("every packet type: encoded as the standard shows it, and decoded back") {
  for (const Fixture& fixture : fixtures()) {
    CAPTURE(fixture.what);
    CHECK(encode(fixture.packet) == fixture.wire);
    CHECK(decode_one(fixture.wire) == fixture.packet);
  }
  // The typed encoders and encode(Packet) agree.
  CHECK(encode(Publish{"a/b", "hi", 0, false, false, 0}) ==
        encode(Packet{Publish{"a/b", "hi", 0, false, false, 0}}));
}

TEST_CASE("round trips") {
  std::vector<Packet> packets{
      Connect{"", true, 0, {}, {}, {}, 0, false},
      Connect{"gw-1", false, 65535, "user", {}, std::pair{"$will/x", ""}, 2, false},
      Connect{"gw-2", true, 30, "", "", {}, 0, false},
      Publish{"line1/telemetry", std::string(200, '\x01'), 1, false, false, 1},
      Publish{"$SYS/x", std::string("\0\xff", 2), 2, true, true, 65535},
      Publish{"/", {}, 0, true, false, 0},
      Subscribe{1, {{"#", 0}}},
      Subscribe{2, {{"a/+/b", 2}, {"/", 1}, {"$SYS/#", 0}}},
      Suback{3, {0, 1, 2, 0x80}},
      Unsubscribe{4, {"+/+"}},
      Ack{PacketType::Pubrel, 65535},
      Bare{PacketType::Disconnect},
  };
  for (const Packet& packet : packets) {
    CHECK(decode_one(encode(packet)) == packet);
  }
}

TEST_CASE("a PUBLISH with a 200-byte payload") {
  std::string payload;
  for (int i = 0; i < 200; ++i) {
    payload += static_cast<char>(i);
  }
  const Publish publish{"line1/telemetry", payload, 1, false, false, 42};
  const std::string wire = encode(publish);
  // 2 + 15 (topic) + 2 (packet id) + 200 = 219 = 0x5B + 1 * 128: two length bytes.
  REQUIRE(wire.size() == 1 + 2 + 219);
  CHECK(wire.substr(0, 3) == bytes("32 DB 01"));
  CHECK(wire.substr(3, 17) == bytes("00 0F 'line1/telemetry'"));
  CHECK(wire.substr(20, 2) == bytes("00 2A"));
  CHECK(wire.substr(22) == payload);
  CHECK(decode_one(wire) == Packet{publish});
}

TEST_CASE("remaining length: the boundaries of table 2.4") {
  struct Boundary {
    std::size_t length;
    const char* encoded;
  };
  for (const Boundary& boundary :
       {Boundary{127, "7F"}, Boundary{128, "80 01"}, Boundary{16383, "FF 7F"},
        Boundary{16384, "80 80 01"}, Boundary{2097151, "FF FF 7F"},
        Boundary{2097152, "80 80 80 01"}}) {
    CAPTURE(boundary.length);
    const Publish publish = publish_of_remaining_length(boundary.length);
    const std::string wire = encode(publish);
    const std::string header = bytes(boundary.encoded);
    CHECK(wire.size() == 1 + header.size() + boundary.length);
    CHECK(wire.substr(1, header.size()) == header);
    CHECK(decode_one(wire) == Packet{publish});
  }
}

TEST_CASE("remaining length: the maximum, 268,435,455, and one more") {
  Publish publish = publish_of_remaining_length(268'435'455);
  {
    const std::string wire = encode(publish);
    CHECK(wire.size() == 1 + 4 + 268'435'455);
    CHECK(wire.substr(0, 8) == bytes("30 FF FF FF 7F 00 01 't'"));
  }
  publish.payload += 'p';
  CHECK_THROWS_AS(encode(publish), std::invalid_argument);
  publish.payload.clear();
  publish.payload.shrink_to_fit();

  // Decoded: the largest length a PUBLISH can announce, reported without its payload.
  Decoder decoder(1000);
  decoder.feed(bytes("32 FF FF FF 7F 00 01 't' 00 05 'abc'"));
  const auto packet = decoder.next();
  REQUIRE(packet);
  CHECK(*packet == Packet{TooLarge{"t", 1, 5, 268'435'455}});
  CHECK(decoder.buffered() == 0);
}

TEST_CASE("remaining length: longer forms than needed are accepted, five bytes are not") {
  // 2.2.3 asks for at most four bytes, not for the shortest form (MQTT 5 does, 1.5.5-1).
  CHECK(decode_one(bytes("C0 80 80 80 00")) == Packet{Bare{PacketType::Pingreq}});
  CHECK(decode_one(bytes("40 82 00 00 07")) == Packet{Ack{PacketType::Puback, 7}});
  CHECK_THROWS_AS(drain(bytes("C0 80 80 80 80 00")), ProtocolError);
  // Refused as soon as the fifth byte is due, before it arrives.
  Decoder decoder(kLarge);
  decoder.feed(bytes("30 FF FF FF"));
  CHECK_FALSE(decoder.next());
  decoder.feed(bytes("FF"));
  CHECK_THROWS_AS(decoder.next(), ProtocolError);
  // And again: the decoder is not to be used after an error, but does not pretend.
  CHECK_THROWS_AS(decoder.next(), ProtocolError);
}

TEST_CASE("input one byte at a time: each packet comes out with its last byte") {
  std::string stream;
  std::vector<std::size_t> ends;  // where each fixture ends in the stream
  for (const Fixture& fixture : fixtures()) {
    stream += fixture.wire;
    ends.push_back(stream.size());
  }
  Decoder decoder(kLarge);
  std::vector<Packet> packets;
  for (std::size_t fed = 1; fed <= stream.size(); ++fed) {
    decoder.feed(std::string_view(stream).substr(fed - 1, 1));
    while (auto packet = decoder.next()) {
      packets.push_back(std::move(*packet));
    }
    const auto whole =
        static_cast<std::size_t>(std::upper_bound(ends.begin(), ends.end(), fed) - ends.begin());
    REQUIRE(packets.size() == whole);
    CHECK(decoder.buffered() == fed - (whole == 0 ? 0 : ends[whole - 1]));
  }
  CHECK(packets == all_fixture_packets());
  CHECK(decoder.buffered() == 0);
}

TEST_CASE("input in random pieces") {
  std::string stream = all_fixtures();
  std::vector<Packet> expected = all_fixture_packets();
  // Larger packets too, so that pieces end inside payloads and length bytes.
  for (const std::size_t size : {300, 20000, 5}) {
    const Publish publish = publish_of_remaining_length(size);
    stream += encode(publish);
    expected.emplace_back(publish);
  }
  stream += all_fixtures();
  for (const Packet& packet : all_fixture_packets()) {
    expected.push_back(packet);
  }
  std::mt19937 random(4711);
  for (int round = 0; round < 300; ++round) {
    Decoder decoder(kLarge);
    std::vector<Packet> packets;
    const std::size_t largest = round < 100 ? 8 : round < 200 ? 100 : 5000;
    for (std::size_t at = 0; at < stream.size();) {
      const std::size_t piece = std::min(1 + random() % largest, stream.size() - at);
      decoder.feed(std::string_view(stream).substr(at, piece));
      at += piece;
      while (auto packet = decoder.next()) {
        packets.push_back(std::move(*packet));
      }
    }
    REQUIRE(packets == expected);
    CHECK(decoder.buffered() == 0);
  }
}

TEST_CASE("malformed packets are refused, and their valid twins are not") {
  struct Case {
    const char* what;
    const char* valid;
    const char* malformed;
  };
  const Case cases[] = {
      {"reserved type 0", "C0 00", "00 00"},
      {"reserved type 15", "E0 00", "F0 00"},
      {"PUBREL flags", "62 02 00 01", "60 02 00 01"},
      {"SUBSCRIBE flags", "82 06 00 01 00 01 'a' 00", "80 06 00 01 00 01 'a' 00"},
      {"UNSUBSCRIBE flags", "A2 05 00 01 00 01 'a'", "AA 05 00 01 00 01 'a'"},
      {"PUBACK flags", "40 02 00 01", "42 02 00 01"},
      {"CONNACK flags", "20 02 00 00", "21 02 00 00"},
      {"PINGREQ flags", "C0 00", "C1 00"},
      {"DISCONNECT flags", "E0 00", "E8 00"},
      {"PUBLISH QoS 3", "32 05 00 01 't' 00 01", "36 05 00 01 't' 00 01"},
      {"PUBLISH QoS 0 with DUP", "30 03 00 01 't'", "38 03 00 01 't'"},
      {"PUBLISH packet id 0", "32 05 00 01 't' 00 01", "32 05 00 01 't' 00 00"},
      {"PUBACK packet id 0", "40 02 00 01", "40 02 00 00"},
      {"PUBREC packet id 0", "50 02 00 01", "50 02 00 00"},
      {"SUBSCRIBE packet id 0", "82 06 00 01 00 01 'a' 00", "82 06 00 00 00 01 'a' 00"},
      {"SUBACK packet id 0", "90 03 00 01 00", "90 03 00 00 00"},
      {"UNSUBSCRIBE packet id 0", "A2 05 00 01 00 01 'a'", "A2 05 00 00 00 01 'a'"},
      {"UNSUBACK packet id 0", "B0 02 00 01", "B0 02 00 00"},
      {"remaining length over four bytes", "C0 80 80 80 00", "C0 80 80 80 80 00"},
      // UTF-8 (1.5.3), in a topic name: each valid twin is the nearest well-formed sequence.
      {"byte 0xFF", "30 03 00 01 't'", "30 03 00 01 FF"},
      {"lone continuation byte", "30 03 00 01 't'", "30 03 00 01 80"},
      {"overlong '/'", "30 04 00 02 C3 A9", "30 04 00 02 C0 AF"},
      {"overlong 3-byte form", "30 05 00 03 E0 A0 80", "30 05 00 03 E0 80 AF"},
      {"surrogate U+D800", "30 05 00 03 ED 9F BF", "30 05 00 03 ED A0 80"},
      {"past U+10FFFF", "30 06 00 04 F4 8F BF BF", "30 06 00 04 F4 90 80 80"},
      {"truncated sequence", "30 05 00 03 E2 82 AC", "30 05 00 03 E2 82 'a'"},
      {"U+0000", "30 03 00 01 01", "30 03 00 01 00"},
      {"U+0000 in a client id", "10 0D 00 04 'MQTT' 04 02 00 00 00 01 'a'",
       "10 0D 00 04 'MQTT' 04 02 00 00 00 01 00"},
      {"bad UTF-8 in a user name", "10 10 00 04 'MQTT' 04 82 00 00 00 00 00 02 C3 A9",
       "10 10 00 04 'MQTT' 04 82 00 00 00 00 00 02 C3 28"},
      {"bad UTF-8 in a topic filter", "82 06 00 01 00 01 'a' 00", "82 06 00 01 00 01 FE 00"},
      // Topic names and filters (3.3.2-2, 4.7).
      {"PUBLISH topic with '+'", "30 05 00 03 'a/b'", "30 05 00 03 'a/+'"},
      {"PUBLISH topic with '#'", "30 05 00 03 'a/b'", "30 05 00 03 'a/#'"},
      {"PUBLISH empty topic", "30 03 00 01 'a'", "30 02 00 00"},
      {"will topic with '#'", "10 12 00 04 'MQTT' 04 06 00 00 00 00 00 01 't' 00 01 'm'",
       "10 12 00 04 'MQTT' 04 06 00 00 00 00 00 01 '#' 00 01 'm'"},
      {"SUBSCRIBE '#' not last", "82 08 00 01 00 03 'a/#' 00", "82 08 00 01 00 03 '#/a' 00"},
      {"SUBSCRIBE '+' not alone", "82 08 00 01 00 03 'a/+' 00", "82 08 00 01 00 03 'a+b' 00"},
      {"UNSUBSCRIBE empty filter", "A2 05 00 01 00 01 'a'", "A2 04 00 01 00 00"},
      // CONNECT (3.1.2).
      {"protocol name", "10 0C 00 04 'MQTT' 04 02 00 00 00 00",
       "10 0C 00 04 'MQTQ' 04 02 00 00 00 00"},
      {"MQTT 3.1's name and level", "10 0C 00 04 'MQTT' 04 02 00 00 00 00",
       "10 0E 00 06 'MQIsdp' 03 02 00 00 00 00"},
      {"protocol level 5", "10 0C 00 04 'MQTT' 04 02 00 00 00 00",
       "10 0C 00 04 'MQTT' 05 02 00 00 00 00"},
      {"reserved flag", "10 0C 00 04 'MQTT' 04 02 00 00 00 00",
       "10 0C 00 04 'MQTT' 04 03 00 00 00 00"},
      {"will QoS without will", "10 0C 00 04 'MQTT' 04 02 00 00 00 00",
       "10 0C 00 04 'MQTT' 04 0A 00 00 00 00"},
      {"will retain without will", "10 0C 00 04 'MQTT' 04 02 00 00 00 00",
       "10 0C 00 04 'MQTT' 04 22 00 00 00 00"},
      {"will QoS 3", "10 12 00 04 'MQTT' 04 16 00 00 00 00 00 01 't' 00 01 'm'",
       "10 12 00 04 'MQTT' 04 1E 00 00 00 00 00 01 't' 00 01 'm'"},
      {"password without user name", "10 10 00 04 'MQTT' 04 C2 00 00 00 00 00 00 00 00",
       "10 0E 00 04 'MQTT' 04 42 00 00 00 00 00 00"},
      {"will flag without will fields", "10 12 00 04 'MQTT' 04 06 00 00 00 00 00 01 't' 00 01 'm'",
       "10 0C 00 04 'MQTT' 04 06 00 00 00 00"},
      // SUBSCRIBE, SUBACK, UNSUBSCRIBE payloads.
      {"SUBSCRIBE without a filter", "82 06 00 01 00 01 'a' 00", "82 02 00 01"},
      {"SUBSCRIBE QoS 3", "82 06 00 01 00 01 'a' 02", "82 06 00 01 00 01 'a' 03"},
      {"SUBSCRIBE reserved QoS bits", "82 06 00 01 00 01 'a' 01", "82 06 00 01 00 01 'a' 41"},
      {"SUBSCRIBE filter without QoS", "82 0A 00 01 00 01 'a' 00 00 01 'b' 00",
       "82 09 00 01 00 01 'a' 00 00 01 'b'"},
      {"UNSUBSCRIBE without a filter", "A2 05 00 01 00 01 'a'", "A2 02 00 01"},
      {"SUBACK code 3", "90 03 00 01 80", "90 03 00 01 03"},
      {"SUBACK code 0x81", "90 03 00 01 80", "90 03 00 01 81"},
      {"SUBACK without a code", "90 03 00 01 02", "90 02 00 01"},
      // CONNACK (3.2.2).
      {"CONNACK reserved flag bits", "20 02 01 00", "20 02 03 00"},
      {"CONNACK return code 6", "20 02 00 05", "20 02 00 06"},
      {"CONNACK refusal with session present", "20 02 00 05", "20 02 01 05"},
      // Lengths that do not add up.
      {"PUBACK of 3 bytes", "40 02 00 01", "40 03 00 01 00"},
      {"PINGREQ of 1 byte", "C0 00", "C0 01 00"},
      {"CONNACK of 1 byte", "20 02 00 00", "20 01 00"},
      {"CONNECT with a byte left over", "10 0C 00 04 'MQTT' 04 02 00 00 00 00",
       "10 0D 00 04 'MQTT' 04 02 00 00 00 00 00"},
      {"SUBSCRIBE filter past the end", "82 06 00 01 00 01 'a' 01", "82 06 00 01 00 05 'a' 01"},
      {"PUBLISH shorter than its topic", "30 03 00 01 't'", "30 02 00 05"},
      {"PUBLISH QoS 1 without a packet id", "32 05 00 01 't' 00 01", "32 03 00 01 't'"},
      {"UNSUBSCRIBE with a stray byte", "A2 05 00 01 00 01 'a'", "A2 06 00 01 00 01 'a' 00"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    std::size_t valid_packets = 0;
    CHECK_NOTHROW(valid_packets = decode_all(bytes(c.valid)).size());
    CHECK(valid_packets == 1);
    CHECK_THROWS_AS(drain(bytes(c.malformed)), ProtocolError);
    // Also when it arrives a byte at a time, and after a valid packet.
    const std::string malformed = bytes("C0 00") + bytes(c.malformed);
    Decoder decoder(kLarge);
    bool thrown = false;
    std::size_t packets = 0;
    for (const char byte : malformed) {
      decoder.feed(std::string_view(&byte, 1));
      try {
        while (decoder.next()) {
          ++packets;
        }
      } catch (const ProtocolError&) {
        thrown = true;
        break;
      }
    }
    CHECK(thrown);
    CHECK(packets == 1);
  }
}

TEST_CASE("packets over the limit: a PUBLISH is reported, others refused") {
  const std::string subscribe = bytes("82 0C 00 0A 00 03 'a/#' 01 00 01 '+' 02");
  CHECK(decode_all(subscribe, 12).size() == 1);
  CHECK_THROWS_AS(drain(subscribe, 11), ProtocolError);
  // Refused from the fixed header on, without waiting for the rest.
  Decoder decoder(11);
  decoder.feed(subscribe.substr(0, 2));
  CHECK_THROWS_AS(decoder.next(), ProtocolError);

  const Publish exact = publish_of_remaining_length(100);
  CHECK(decode_all(encode(exact), 100) == std::vector<Packet>{exact});
  CHECK(decode_all(encode(exact), 99) == std::vector<Packet>{TooLarge{"t", 0, 0, 100}});

  // The topic of an over-long PUBLISH must be valid all the same.
  CHECK_THROWS_AS(drain(bytes("30 FF 01 00 03 'a/+'"), 10), ProtocolError);
  CHECK_THROWS_AS(drain(bytes("32 FF 01 00 01 't' 00 00"), 10), ProtocolError);
  // And fit inside the packet.
  CHECK_THROWS_AS(drain(bytes("32 0C 00 0B 't'"), 10), ProtocolError);
  CHECK_THROWS_AS(drain(bytes("30 01 00"), 0), ProtocolError);
}

TEST_CASE("an over-long PUBLISH arriving in pieces, then normal packets") {
  const std::size_t limit = 64;
  const Publish large{"big/one", std::string(1000, 'x'), 1, false, false, 7};
  const Publish small{"small", "ok", 1, false, false, 8};
  const std::string stream =
      encode(large) + encode(small) + encode(Bare{PacketType::Pingreq}) + encode(large);
  const std::size_t large_size = encode(large).size();
  const std::size_t remaining = 2 + 7 + 2 + 1000;
  const std::vector<Packet> expected{TooLarge{"big/one", 1, 7, remaining}, small,
                                     Bare{PacketType::Pingreq},
                                     TooLarge{"big/one", 1, 7, remaining}};

  SUBCASE("the report comes as soon as the topic and packet id are in") {
    Decoder decoder(limit);
    const std::size_t header = 3;  // 0x32 and two length bytes
    const std::size_t topic_and_id = 2 + 7 + 2;
    decoder.feed(std::string_view(stream).substr(0, header + topic_and_id - 1));
    CHECK_FALSE(decoder.next());
    decoder.feed(std::string_view(stream).substr(header + topic_and_id - 1, 1));
    auto packet = decoder.next();
    REQUIRE(packet);
    CHECK(*packet == expected[0]);
    // The payload is dropped as it comes, never held.
    for (std::size_t at = header + topic_and_id; at < large_size; at += 10) {
      decoder.feed(std::string_view(stream).substr(at, std::min<std::size_t>(10, large_size - at)));
      CHECK(decoder.buffered() == 0);
      CHECK_FALSE(decoder.next());
    }
    decoder.feed(std::string_view(stream).substr(large_size));
    std::vector<Packet> rest;
    while (auto next = decoder.next()) {
      rest.push_back(std::move(*next));
    }
    CHECK(rest == std::vector<Packet>(expected.begin() + 1, expected.end()));
    CHECK(decoder.buffered() == 0);
  }

  SUBCASE("in pieces of every size from 1 to 40 bytes, and whole") {
    for (std::size_t piece = 1; piece <= 41; ++piece) {
      CAPTURE(piece);
      const std::size_t size = piece == 41 ? stream.size() : piece;
      Decoder decoder(limit);
      std::vector<Packet> packets;
      for (std::size_t at = 0; at < stream.size(); at += size) {
        decoder.feed(std::string_view(stream).substr(at, size));
        CHECK(decoder.buffered() <= limit + 5 + size);
        while (auto packet = decoder.next()) {
          packets.push_back(std::move(*packet));
        }
        CHECK(decoder.buffered() <= limit + 4);
      }
      CHECK(packets == expected);
      CHECK(decoder.buffered() == 0);
    }
  }

  SUBCASE("QoS 0: no packet id to wait for") {
    const Publish qos0{"q0", std::string(500, 'y'), 0, true, false, 0};
    CHECK(decode_all(encode(qos0) + encode(small), limit) ==
          std::vector<Packet>{TooLarge{"q0", 0, 0, 504}, small});
  }
}

TEST_CASE("what is held stays bounded") {
  // Packets of every size up to and past the limit, in pieces of up to 3000 bytes: what
  // is held never exceeds the limit plus a fixed header plus the last piece, and once
  // next() returns nullopt it is one incomplete packet.
  const std::size_t limit = 1000;
  std::mt19937 random(99);
  std::string stream;
  std::size_t expected_packets = 0;
  for (int i = 0; i < 400; ++i) {
    const std::size_t remaining = 3 + random() % 1500;
    stream += encode(publish_of_remaining_length(remaining));
    stream += encode(Ack{PacketType::Puback, static_cast<std::uint16_t>(i + 1)});
    expected_packets += 2;
  }
  Decoder decoder(limit);
  std::size_t packets = 0;
  std::size_t too_large = 0;
  std::size_t most_held = 0;
  for (std::size_t at = 0; at < stream.size();) {
    const std::size_t piece = std::min(1 + random() % 3000, stream.size() - at);
    decoder.feed(std::string_view(stream).substr(at, piece));
    at += piece;
    REQUIRE(decoder.buffered() <= limit + 5 + piece);
    while (auto packet = decoder.next()) {
      ++packets;
      too_large += std::holds_alternative<TooLarge>(*packet) ? 1 : 0;
    }
    REQUIRE(decoder.buffered() <= limit + 4);
    most_held = std::max(most_held, decoder.buffered());
  }
  CHECK(packets == expected_packets);
  CHECK(too_large > 50);
  CHECK(most_held > limit / 2);  // the bound above is not met trivially
  CHECK(decoder.buffered() == 0);
}

TEST_CASE("many packets in one piece are taken in linear time") {
  // Erasing each packet from the front of the buffer would move the rest every time:
  // a million packets in one piece (2 MB) would then move about a terabyte, minutes of
  // work instead of some milliseconds.
  const std::size_t count = 1'000'000;
  std::string stream;
  for (std::size_t i = 0; i < count; ++i) {
    stream += bytes("C0 00");
  }
  const auto begun = std::chrono::steady_clock::now();
  Decoder decoder(kLarge);
  decoder.feed(stream);
  std::size_t packets = 0;
  while (decoder.next()) {
    ++packets;
  }
  const auto took = std::chrono::steady_clock::now() - begun;
  CHECK(packets == count);
  CHECK(decoder.buffered() == 0);
  CHECK(took < std::chrono::seconds(10));
}

TEST_CASE("the encoders refuse what the standard forbids") {
  const std::string long_string(65536, 'a');
  CHECK_NOTHROW(encode(Connect{std::string(65535, 'a'), true, 0, {}, {}, {}, 0, false}));
  CHECK_THROWS_AS(encode(Connect{long_string, true, 0, {}, {}, {}, 0, false}),
                  std::invalid_argument);
  CHECK_THROWS_AS(encode(Connect{"c", true, 0, {}, "pw", {}, 0, false}), std::invalid_argument);
  CHECK_THROWS_AS(encode(Connect{"c", true, 0, {}, {}, {}, 1, false}), std::invalid_argument);
  CHECK_THROWS_AS(encode(Connect{"c", true, 0, {}, {}, {}, 0, true}), std::invalid_argument);
  CHECK_THROWS_AS(encode(Connect{"c", true, 0, {}, {}, std::pair{"t", "m"}, 3, false}),
                  std::invalid_argument);
  CHECK_THROWS_AS(encode(Connect{"c", true, 0, {}, {}, std::pair{"t/#", "m"}, 0, false}),
                  std::invalid_argument);
  CHECK_THROWS_AS(encode(Connect{"c", true, 0, "u", long_string, {}, 0, false}),
                  std::invalid_argument);
  CHECK_THROWS_AS(encode(Connect{std::string("a\0", 2), true, 0, {}, {}, {}, 0, false}),
                  std::invalid_argument);
  CHECK_THROWS_AS(encode(Connack{false, 6}), std::invalid_argument);
  CHECK_THROWS_AS(encode(Connack{true, 1}), std::invalid_argument);

  CHECK_NOTHROW(encode(Publish{"t", "", 1, false, false, 1}));
  CHECK_THROWS_AS(encode(Publish{"t", "", 3, false, false, 1}), std::invalid_argument);
  CHECK_THROWS_AS(encode(Publish{"t", "", 1, false, false, 0}), std::invalid_argument);
  CHECK_THROWS_AS(encode(Publish{"t", "", 0, false, false, 1}), std::invalid_argument);
  CHECK_THROWS_AS(encode(Publish{"t", "", 0, false, true, 0}), std::invalid_argument);
  CHECK_THROWS_AS(encode(Publish{"", "", 0, false, false, 0}), std::invalid_argument);
  CHECK_THROWS_AS(encode(Publish{"a/+", "", 0, false, false, 0}), std::invalid_argument);
  CHECK_THROWS_AS(encode(Publish{"\xff", "", 0, false, false, 0}), std::invalid_argument);
  CHECK_THROWS_AS(encode(Publish{long_string, "", 0, false, false, 0}), std::invalid_argument);

  CHECK_THROWS_AS(encode(Subscribe{1, {}}), std::invalid_argument);
  CHECK_THROWS_AS(encode(Subscribe{0, {{"a", 0}}}), std::invalid_argument);
  CHECK_THROWS_AS(encode(Subscribe{1, {{"a", 3}}}), std::invalid_argument);
  CHECK_THROWS_AS(encode(Subscribe{1, {{"a/#/b", 0}}}), std::invalid_argument);
  CHECK_THROWS_AS(encode(Subscribe{1, {{"", 0}}}), std::invalid_argument);
  CHECK_THROWS_AS(encode(Suback{1, {}}), std::invalid_argument);
  CHECK_THROWS_AS(encode(Suback{1, {3}}), std::invalid_argument);
  CHECK_THROWS_AS(encode(Unsubscribe{1, {}}), std::invalid_argument);
  CHECK_THROWS_AS(encode(Unsubscribe{1, {"a+"}}), std::invalid_argument);
  CHECK_THROWS_AS(encode(Ack{PacketType::Puback, 0}), std::invalid_argument);
  CHECK_THROWS_AS(encode(Ack{PacketType::Pingreq, 1}), std::invalid_argument);
  CHECK_THROWS_AS(encode(Bare{PacketType::Puback}), std::invalid_argument);
  CHECK_THROWS_AS(encode(Packet{TooLarge{"t", 0, 0, 1}}), std::invalid_argument);
}
