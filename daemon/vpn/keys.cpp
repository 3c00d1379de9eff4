#include "daemon/vpn/keys.hpp"

#include <memory>

#include <openssl/evp.h>
#include <openssl/rand.h>

namespace sekisho::vpn {

std::optional<Key> generate_private_key() {
  Key key{};
  // RAND_priv_bytes: OpenSSL's generator kept for secrets, seeded from getrandom().
  if (RAND_priv_bytes(key.data(), static_cast<int>(key.size())) != 1) {
    return std::nullopt;
  }
  key[0] &= 248;
  key[31] &= 127;
  key[31] |= 64;
  return key;
}

std::optional<Key> public_key_of(const Key& private_key) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pkey(
      EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, private_key.data(),
                                   private_key.size()),
      EVP_PKEY_free);
  if (!pkey) {
    return std::nullopt;
  }
  Key public_key{};
  std::size_t length = public_key.size();
  if (EVP_PKEY_get_raw_public_key(pkey.get(), public_key.data(), &length) != 1 ||
      length != public_key.size()) {
    return std::nullopt;
  }
  return public_key;
}

std::string key_to_base64(const Key& key) {
  unsigned char text[45];  // 4 * ceil(32 / 3) and the NUL EVP_EncodeBlock adds
  const int length = EVP_EncodeBlock(text, key.data(), static_cast<int>(key.size()));
  return std::string(reinterpret_cast<const char*>(text), static_cast<std::size_t>(length));
}

std::optional<Key> key_from_base64(std::string_view text) {
  if (text.size() != 44 || text[43] != '=' || text[42] == '=') {
    return std::nullopt;
  }
  unsigned char bytes[33];  // 44 characters decode to 33 bytes, the last one padding
  if (EVP_DecodeBlock(bytes, reinterpret_cast<const unsigned char*>(text.data()), 44) != 33) {
    return std::nullopt;
  }
  Key key{};
  std::copy(bytes, bytes + key.size(), key.begin());
  // Canonical only: the text must be what encoding these 32 bytes gives.
  if (key_to_base64(key) != text) {
    return std::nullopt;
  }
  return key;
}

}  // namespace sekisho::vpn
