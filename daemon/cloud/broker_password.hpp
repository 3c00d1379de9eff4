#pragma once
// Passwords for the local MQTT broker and their hashes in mosquitto's password-file format
// (mosquitto 2.0's `$7$`: PBKDF2-HMAC-SHA512 over a 12-byte salt, giving 64 bytes):
//
//   $7$ITERATIONS$BASE64(SALT)$BASE64(HASH)
//
// as `mosquitto_passwd` writes it and mosquitto 2.0.11 checks it (src/security_default.c,
// unpwd__decode_passwords, pw__digest). sekisho makes every password itself, 24 random
// bytes, so the iteration count adds nothing against guessing: it stays at mosquitto's own
// default (101), which also keeps a flood of bad logins cheap for the broker.

#include <optional>
#include <string>
#include <string_view>

namespace sekisho::cloud {

inline constexpr int kPasswordHashIterations = 101;
inline constexpr std::size_t kPasswordSaltBytes = 12;

// 24 bytes from OpenSSL's generator for secrets, as 32 characters of base64url
// ([A-Za-z0-9_-], no padding): typed or pasted into a device without escaping. nullopt
// when the generator fails.
std::optional<std::string> random_password();

// The `$7$` hash of `password` with a fresh random salt; nullopt when the generator fails.
std::optional<std::string> password_hash(std::string_view password);
// The same with a given salt and iteration count (tests, and checking a password).
std::string password_hash(std::string_view password, std::string_view salt, int iterations);

// Whether `hash` is a `$7$` hash mosquitto 2.0.11 accepts: an iteration count of at least
// 1, a 12-byte salt and a 64-byte hash, both canonical base64.
bool valid_password_hash(std::string_view hash);

// Whether `password` gives `hash` (compared in constant time); false for an invalid hash.
bool password_matches(std::string_view hash, std::string_view password);

}  // namespace sekisho::cloud
