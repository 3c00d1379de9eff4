// libFuzzer target: the MQTT 3.1.1 decoder on an arbitrary byte stream, fed in pieces.
// The first byte chooses the decoder's packet limit (low three bits) and how the rest is
// cut into pieces (high five bits); the rest is the stream. It must hold that:
// - the packets, and whether the stream is refused, do not depend on the pieces;
// - what the decoder holds stays bounded (mqtt_codec.hpp);
// - every packet decoded encodes (the encoder accepts it), and that decodes to the same
//   packet and encodes to the same bytes again; a TooLarge is over the limit and
//   consistent;
// - nothing but ProtocolError is ever thrown (anything else escapes and aborts).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "daemon/cloud/mqtt_codec.hpp"

namespace {

namespace mqtt = sekisho::cloud::mqtt;

void require(bool condition) {
  if (!condition) {
    __builtin_trap();
  }
}

struct Outcome {
  std::vector<mqtt::Packet> packets;
  bool refused = false;
};

// Pieces of at most `largest` bytes (0: the whole stream at once), their sizes drawn from a
// small generator seeded by `seed`, so that one input always cuts the same way.
Outcome decode(std::string_view stream, std::size_t max_packet, std::size_t largest,
               std::uint32_t seed) {
  // What the decoder may hold once next() returned nullopt: the start of one packet, or
  // of an over-long PUBLISH up to its packet id (a topic is at most 65,535 bytes).
  const std::size_t bound = std::max<std::size_t>(max_packet, 65'539) + 4;
  Outcome outcome;
  mqtt::Decoder decoder(max_packet);
  std::uint32_t state = seed | 1;
  try {
    while (!stream.empty()) {
      std::size_t piece = stream.size();
      if (largest > 0) {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        piece = std::min<std::size_t>(1 + state % largest, stream.size());
      }
      decoder.feed(stream.substr(0, piece));
      stream.remove_prefix(piece);
      require(decoder.buffered() <= bound + piece);
      while (std::optional<mqtt::Packet> packet = decoder.next()) {
        outcome.packets.push_back(std::move(*packet));
      }
      require(decoder.buffered() <= bound);
    }
  } catch (const mqtt::ProtocolError&) {
    outcome.refused = true;
  }
  return outcome;
}

void check_packet(const mqtt::Packet& packet, std::size_t max_packet) {
  if (const auto* large = std::get_if<mqtt::TooLarge>(&packet)) {
    require(large->size > max_packet);
    require(large->qos <= 2);
    require((large->qos == 0) == (large->packet_id == 0));
    require(!large->topic.empty());
    return;
  }
  const std::string wire = mqtt::encode(packet);
  mqtt::Decoder fresh(wire.size());
  fresh.feed(wire);
  const std::optional<mqtt::Packet> again = fresh.next();
  require(again.has_value() && *again == packet);
  require(!fresh.next().has_value());
  require(fresh.buffered() == 0);
  require(mqtt::encode(*again) == wire);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  static constexpr std::size_t kLimits[8] = {0, 3, 16, 64, 200, 1024, 65536, 268'435'455};
  static constexpr std::size_t kPieces[32] = {0,  1,   1,   2,   2,   3,   3,   4,    5,    6,  7,
                                              8,  9,   10,  11,  13,  16,  17,  23,   31,   32, 47,
                                              64, 100, 127, 128, 129, 255, 256, 1000, 4096, 0};
  const std::size_t max_packet = kLimits[data[0] & 0x07];
  const std::size_t largest = kPieces[data[0] >> 3];
  const std::string_view stream(reinterpret_cast<const char*>(data) + 1, size - 1);

  const Outcome pieces = decode(stream, max_packet, largest, data[0] * 2654435761u);
  const Outcome whole = decode(stream, max_packet, 0, 0);
  require(pieces.refused == whole.refused);
  require(pieces.packets == whole.packets);
  for (const mqtt::Packet& packet : pieces.packets) {
    check_packet(packet, max_packet);
  }
  return 0;
}
