#pragma once
// SHA-256 (OpenSSL) as lowercase hex: policy hashes in status and audit records.

#include <cstddef>
#include <string>
#include <string_view>

namespace sekisho {

std::string sha256_hex(std::string_view data);

// Bytes as lowercase hex: digests, signatures, set keys in readback lines.
std::string to_hex(const void* data, std::size_t length);

}  // namespace sekisho
