#include "daemon/audit/signer.hpp"

#include <cerrno>
#include <optional>

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/common/files.hpp"
#include "daemon/common/sha256.hpp"

namespace sekisho::audit {

namespace {

// A PEM Ed25519 private key is 119 bytes; anything much larger is not one.
constexpr std::size_t kMaxKeyFileBytes = 64 * 1024;

std::error_code errno_code() {
  return std::error_code(errno ? errno : EIO, std::generic_category());
}

// The public half of `key` as PEM ("" when it cannot be written).
std::string public_pem_of(EVP_PKEY* key) {
  BIO* memory = BIO_new(BIO_s_mem());
  std::string out;
  if (memory && key && PEM_write_bio_PUBKEY(memory, key) == 1) {
    char* data = nullptr;
    const long length = BIO_get_mem_data(memory, &data);
    out.assign(data, static_cast<std::size_t>(length));
  }
  BIO_free(memory);
  return out;
}

// The private key as PEM ("" when it cannot be written).
std::string private_pem_of(EVP_PKEY* key) {
  BIO* memory = BIO_new(BIO_s_secmem());
  std::string out;
  if (memory && PEM_write_bio_PrivateKey(memory, key, nullptr, nullptr, 0, nullptr, nullptr) == 1) {
    char* data = nullptr;
    const long length = BIO_get_mem_data(memory, &data);
    out.assign(data, static_cast<std::size_t>(length));
  }
  BIO_free(memory);
  return out;
}

// Key material leaves no copy in freed memory.
void wipe(std::string& secret) {
  OPENSSL_cleanse(secret.data(), secret.size());
  secret.clear();
}

}  // namespace

Signer::Signer() = default;

Signer::~Signer() {
  EVP_PKEY_free(key_);
}

std::error_code Signer::fail(const std::string& path, std::error_code error,
                             const std::string& what) {
  EVP_PKEY_free(key_);
  key_ = nullptr;
  problem_ = path + " " + what;
  return error;
}

std::error_code Signer::load(const std::string& path) {
  EVP_PKEY_free(key_);
  key_ = nullptr;
  problem_.clear();
  // O_NONBLOCK: a FIFO planted there must not hang the daemon's start.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) {
    const std::error_code error = errno_code();
    return fail(path, error,
                errno == ELOOP ? "is a symbolic link, not the key file"
                               : "cannot be read: " + error.message());
  }
  struct stat status {};
  if (::fstat(fd, &status) < 0 || !S_ISREG(status.st_mode)) {
    const bool directory = S_ISDIR(status.st_mode);
    ::close(fd);
    return fail(
        path,
        std::make_error_code(directory ? std::errc::is_a_directory : std::errc::invalid_argument),
        directory ? "is a directory, not the key file" : "is not a regular file");
  }
  std::string text;
  char buffer[4096];
  std::error_code read_error;
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      read_error = errno_code();
      break;
    }
    if (n == 0) {
      break;
    }
    text.append(buffer, static_cast<std::size_t>(n));
    if (text.size() > kMaxKeyFileBytes) {
      read_error = std::make_error_code(std::errc::file_too_large);
      break;
    }
  }
  OPENSSL_cleanse(buffer, sizeof buffer);
  ::close(fd);
  if (read_error) {
    wipe(text);
    return fail(path, read_error, "cannot be read: " + read_error.message());
  }
  BIO* memory = BIO_new_mem_buf(text.data(), static_cast<int>(text.size()));
  EVP_PKEY* key = memory ? PEM_read_bio_PrivateKey(memory, nullptr, nullptr, nullptr) : nullptr;
  BIO_free(memory);
  wipe(text);
  if (!key || EVP_PKEY_is_a(key, "ED25519") != 1) {
    EVP_PKEY_free(key);
    return fail(path, std::make_error_code(std::errc::invalid_argument),
                "does not hold an Ed25519 private key (PEM)");
  }
  key_ = key;
  return {};
}

std::error_code Signer::load_or_create(const std::string& path) {
  if (std::error_code error = load(path); error != std::errc::no_such_file_or_directory) {
    return error;  // loaded, or there and unusable: never replaced
  }
  EVP_PKEY* made = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  std::string pem = made ? private_pem_of(made) : "";
  const std::string made_public = public_pem_of(made);
  EVP_PKEY_free(made);
  if (pem.empty() || made_public.empty()) {
    return fail(path, std::make_error_code(std::errc::not_enough_memory),
                "is missing and no key could be made");
  }
  // Written beside it first: a crash leaves PATH.new (removed at the next start), never a
  // half-written key at PATH that the next start would have to refuse.
  const std::string temporary = path + ".new";
  if (::unlink(temporary.c_str()) < 0 && errno != ENOENT) {
    const std::error_code error = errno_code();
    wipe(pem);
    return fail(path, error,
                "is missing and " + temporary + " cannot be removed: " + error.message());
  }
  std::error_code error = write_new_file(temporary, pem, 0600);
  wipe(pem);
  if (error) {
    return fail(path, error, "is missing and a new key cannot be written: " + error.message());
  }
  // link() never replaces: a key that appeared meanwhile stays, and is the one loaded.
  const bool linked = ::link(temporary.c_str(), path.c_str()) == 0;
  const std::error_code link_error = linked ? std::error_code() : errno_code();
  ::unlink(temporary.c_str());
  sync_directory_of(path);
  if (!linked && link_error != std::errc::file_exists) {
    return fail(path, link_error,
                "is missing and a new key cannot be saved: " + link_error.message());
  }
  // Only what is on the disk signs: read back, and the same key.
  if (std::error_code reread = load(path)) {
    return reread;
  }
  if (linked && public_pem() != made_public) {
    return fail(path, std::make_error_code(std::errc::io_error),
                "does not read back as the key just written");
  }
  return {};
}

std::string Signer::sign_hex(std::string_view message) const {
  const std::lock_guard<std::mutex> lock(signing_);
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
  return public_pem_of(key_);
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
