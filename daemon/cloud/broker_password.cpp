#include "daemon/cloud/broker_password.hpp"

#include <array>
#include <charconv>
#include <vector>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

namespace sekisho::cloud {

namespace {

constexpr std::size_t kPasswordBytes = 24;
constexpr std::size_t kHashBytes = 64;  // SHA-512's size: what mosquitto asks PBKDF2 for
// Far above anything sekisho writes; a bound on the work a stored hash can ask for.
constexpr int kMaxIterations = 1000000;

std::string base64(std::string_view bytes) {
  std::string text(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int length = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(text.data()),
                                     reinterpret_cast<const unsigned char*>(bytes.data()),
                                     static_cast<int>(bytes.size()));
  text.resize(static_cast<std::size_t>(length));
  return text;
}

// The bytes canonical base64 `text` spells (padded, no line breaks), or nullopt.
std::optional<std::string> from_base64(std::string_view text) {
  if (text.empty() || text.size() % 4 != 0) {
    return std::nullopt;
  }
  std::string bytes(text.size() / 4 * 3, '\0');
  const int length = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(bytes.data()),
                                     reinterpret_cast<const unsigned char*>(text.data()),
                                     static_cast<int>(text.size()));
  if (length < 0) {
    return std::nullopt;
  }
  // EVP_DecodeBlock counts the padding as zero bytes.
  const std::size_t padding = text.ends_with("==") ? 2 : text.ends_with('=') ? 1 : 0;
  bytes.resize(static_cast<std::size_t>(length) - padding);
  if (base64(bytes) != text) {
    return std::nullopt;
  }
  return bytes;
}

struct ParsedHash {
  int iterations = 0;
  std::string salt;
  std::string hash;
};

std::optional<ParsedHash> parse(std::string_view text) {
  // "$7$" ITERATIONS "$" SALT "$" HASH
  if (!text.starts_with("$7$")) {
    return std::nullopt;
  }
  text.remove_prefix(3);
  std::array<std::string_view, 3> parts;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const std::size_t dollar = text.find('$');
    if ((i < 2) != (dollar != std::string_view::npos)) {
      return std::nullopt;
    }
    parts[i] = text.substr(0, dollar);
    text.remove_prefix(i < 2 ? dollar + 1 : text.size());
  }
  ParsedHash parsed;
  const auto [end, error] =
      std::from_chars(parts[0].data(), parts[0].data() + parts[0].size(), parsed.iterations);
  if (error != std::errc() || end != parts[0].data() + parts[0].size() || parts[0].front() == '0' ||
      parsed.iterations < 1 || parsed.iterations > kMaxIterations) {
    return std::nullopt;
  }
  auto salt = from_base64(parts[1]);
  auto hash = from_base64(parts[2]);
  if (!salt || salt->size() != kPasswordSaltBytes || !hash || hash->size() != kHashBytes) {
    return std::nullopt;
  }
  parsed.salt = std::move(*salt);
  parsed.hash = std::move(*hash);
  return parsed;
}

std::string pbkdf2(std::string_view password, std::string_view salt, int iterations) {
  std::string hash(kHashBytes, '\0');
  if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                        reinterpret_cast<const unsigned char*>(salt.data()),
                        static_cast<int>(salt.size()), iterations, EVP_sha512(),
                        static_cast<int>(hash.size()),
                        reinterpret_cast<unsigned char*>(hash.data())) != 1) {
    return {};
  }
  return hash;
}

}  // namespace

std::optional<std::string> random_password() {
  std::array<unsigned char, kPasswordBytes> bytes{};
  if (RAND_priv_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    return std::nullopt;
  }
  std::string text =
      base64(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  OPENSSL_cleanse(bytes.data(), bytes.size());
  // 24 bytes need no padding; base64url instead of '+' and '/'.
  for (char& c : text) {
    c = c == '+' ? '-' : c == '/' ? '_' : c;
  }
  return text;
}

std::optional<std::string> password_hash(std::string_view password) {
  std::array<unsigned char, kPasswordSaltBytes> salt{};
  if (RAND_bytes(salt.data(), static_cast<int>(salt.size())) != 1) {
    return std::nullopt;
  }
  return password_hash(password,
                       std::string_view(reinterpret_cast<const char*>(salt.data()), salt.size()),
                       kPasswordHashIterations);
}

std::string password_hash(std::string_view password, std::string_view salt, int iterations) {
  return "$7$" + std::to_string(iterations) + "$" + base64(salt) + "$" +
         base64(pbkdf2(password, salt, iterations));
}

bool valid_password_hash(std::string_view hash) {
  return parse(hash).has_value();
}

bool password_matches(std::string_view hash, std::string_view password) {
  std::optional<ParsedHash> parsed = parse(hash);
  if (!parsed) {
    return false;
  }
  const std::string computed = pbkdf2(password, parsed->salt, parsed->iterations);
  return computed.size() == parsed->hash.size() &&
         CRYPTO_memcmp(computed.data(), parsed->hash.data(), computed.size()) == 0;
}

}  // namespace sekisho::cloud
