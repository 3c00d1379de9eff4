#pragma once
// The device's Ed25519 key (OpenSSL): generated on first start, kept 0600 as PEM in the
// state directory, never leaving the box; it signs audit checkpoints. The public half is
// what an auditor gets (`sekishoctl audit pubkey`, PEM SubjectPublicKeyInfo).
//
// A key that is there but cannot be used (unreadable, not a regular file, not an Ed25519
// key) is never replaced: the signer then has no key and says why (problem()), and the
// daemon signs nothing until someone fixes the file. Only a missing file means "first
// start": the new key is saved and read back before it signs anything.

#include <memory>
#include <mutex>
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

  // Loads the key at `path`: a regular file (a link is not followed) of at most 64 KiB
  // holding an Ed25519 private key in PEM.
  std::error_code load(const std::string& path);
  // load(), or, only when there is no file at `path` at all (ENOENT), a new key: written
  // to PATH.new (0600, fsync), linked to `path` without replacing anything, the directory
  // fsynced, then loaded from `path` and compared with the one made.
  std::error_code load_or_create(const std::string& path);
  bool ready() const { return key_ != nullptr; }
  // Why there is no key, for the log and `status` ("" when ready).
  const std::string& problem() const { return problem_; }

  // 64 bytes as 128 hex digits. Safe from several threads (an export signs in its own).
  std::string sign_hex(std::string_view message) const;
  std::string public_pem() const;

 private:
  std::error_code fail(const std::string& path, std::error_code error, const std::string& what);

  evp_pkey_st* key_ = nullptr;
  std::string problem_;
  mutable std::mutex signing_;
};

// Whether `public_pem` holds an Ed25519 public key (PEM SubjectPublicKeyInfo).
bool is_public_key(const std::string& public_pem);

// Checks a signature made by the key whose public half is `public_pem`.
bool verify_signature(const std::string& public_pem, std::string_view message,
                      const std::string& signature_hex);

}  // namespace sekisho::audit
