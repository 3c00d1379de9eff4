#pragma once
// WireGuard keys as `wg genkey` and `wg pubkey` make them: Curve25519 (X25519) keys of 32
// bytes, written as 44 characters of base64.

#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace sekisho::vpn {

using Key = std::array<unsigned char, 32>;

// A new private key: 32 bytes from the kernel's random source, clamped as X25519 and
// `wg genkey` clamp them. Empty when no randomness could be had.
std::optional<Key> generate_private_key();

// The public key of a private key (X25519 with the base point, RFC 7748).
std::optional<Key> public_key_of(const Key& private_key);

// 44 characters of base64 ending in '='; and back, empty unless exactly that.
std::string key_to_base64(const Key& key);
std::optional<Key> key_from_base64(std::string_view text);

}  // namespace sekisho::vpn
