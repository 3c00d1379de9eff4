#pragma once
// The device's Ed25519 key (OpenSSL): generated on first start, kept 0600 as PEM in the
// state directory, never leaving the box; it signs audit checkpoints. The public half is
// what an auditor gets (`sekishoctl audit pubkey`, PEM SubjectPublicKeyInfo).

#include <memory>
#include <string>
#include <string_view>
#include <system_error>

struct evp_pkey_st;

namespace sekisho::audit {

class Signer {
 public:
  Signer();
  ~Signer();
  Signer(const Signer&) = delete;
  Signer& operator=(const Signer&) = delete;

  // Loads the key at `path`, or creates it (0600) when there is none.
  std::error_code load_or_create(const std::string& path);
  bool ready() const { return key_ != nullptr; }

  std::string sign_hex(std::string_view message) const;  // 64 bytes as 128 hex digits
  std::string public_pem() const;

 private:
  evp_pkey_st* key_ = nullptr;
};

// Whether `public_pem` holds an Ed25519 public key (PEM SubjectPublicKeyInfo).
bool is_public_key(const std::string& public_pem);

// Checks a signature made by the key whose public half is `public_pem`.
bool verify_signature(const std::string& public_pem, std::string_view message,
                      const std::string& signature_hex);

}  // namespace sekisho::audit
