#include "daemon/audit/signer.hpp"

#include <cstdio>
#include <optional>

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/common/sha256.hpp"

namespace sekisho::audit {

namespace {

std::error_code last_error() {
  return std::error_code(errno ? errno : EIO, std::generic_category());
}

}  // namespace

Signer::Signer() = default;

Signer::~Signer() {
  EVP_PKEY_free(key_);
}

std::error_code Signer::load_or_create(const std::string& path) {
  if (FILE* in = std::fopen(path.c_str(), "r")) {
    key_ = PEM_read_PrivateKey(in, nullptr, nullptr, nullptr);
    std::fclose(in);
    return key_ ? std::error_code() : std::make_error_code(std::errc::invalid_argument);
  }
  key_ = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  if (!key_) {
    return std::make_error_code(std::errc::not_enough_memory);
  }
  // Created 0600 before a byte is written: the private key is never readable by others.
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    return last_error();
  }
  FILE* out = ::fdopen(fd, "w");
  const bool written =
      out && PEM_write_PrivateKey(out, key_, nullptr, nullptr, 0, nullptr, nullptr) == 1;
  const bool flushed = out && std::fflush(out) == 0 && ::fsync(fd) == 0;
  if (out) {
    std::fclose(out);
  } else {
    ::close(fd);
  }
  return written && flushed ? std::error_code() : last_error();
}

std::string Signer::sign_hex(std::string_view message) const {
  unsigned char signature[64];
  std::size_t length = sizeof signature;
  EVP_MD_CTX* context = EVP_MD_CTX_new();
  const bool ok =
      context && EVP_DigestSignInit(context, nullptr, nullptr, nullptr, key_) == 1 &&
      EVP_DigestSign(context, signature, &length,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
  EVP_MD_CTX_free(context);
  return ok ? to_hex(signature, length) : "";
}

std::string Signer::public_pem() const {
  BIO* memory = BIO_new(BIO_s_mem());
  std::string out;
  if (memory && PEM_write_bio_PUBKEY(memory, key_) == 1) {
    char* data = nullptr;
    const long length = BIO_get_mem_data(memory, &data);
    out.assign(data, static_cast<std::size_t>(length));
  }
  BIO_free(memory);
  return out;
}

bool is_public_key(const std::string& public_pem) {
  BIO* memory = BIO_new_mem_buf(public_pem.data(), static_cast<int>(public_pem.size()));
  EVP_PKEY* key = memory ? PEM_read_bio_PUBKEY(memory, nullptr, nullptr, nullptr) : nullptr;
  BIO_free(memory);
  const bool ok = key && EVP_PKEY_is_a(key, "ED25519") == 1;
  EVP_PKEY_free(key);
  return ok;
}

bool verify_signature(const std::string& public_pem, std::string_view message,
                      const std::string& signature_hex) {
  const std::optional<std::string> signature = from_hex(signature_hex);
  if (!signature) {
    return false;
  }
  BIO* memory = BIO_new_mem_buf(public_pem.data(), static_cast<int>(public_pem.size()));
  EVP_PKEY* key = memory ? PEM_read_bio_PUBKEY(memory, nullptr, nullptr, nullptr) : nullptr;
  BIO_free(memory);
  EVP_MD_CTX* context = EVP_MD_CTX_new();
  const bool ok =
      key && EVP_PKEY_is_a(key, "ED25519") == 1 && context &&
      EVP_DigestVerifyInit(context, nullptr, nullptr, nullptr, key) == 1 &&
      EVP_DigestVerify(context, reinterpret_cast<const unsigned char*>(signature->data()),
                       signature->size(), reinterpret_cast<const unsigned char*>(message.data()),
                       message.size()) == 1;
  EVP_MD_CTX_free(context);
  EVP_PKEY_free(key);
  return ok;
}

}  // namespace sekisho::audit
