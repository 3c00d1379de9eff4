#pragma once
// SHA-256 (OpenSSL) as lowercase hex: policy hashes in status and audit records.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace sekisho {

std::string sha256_hex(std::string_view data);

// The SHA-256 of the file at `path`, read piece by piece; nullopt (and `error`) when it
// cannot be read.
std::optional<std::string> sha256_file_hex(const std::string& path, std::error_code& error);

// Bytes as lowercase hex: digests, signatures, set keys in readback lines.
std::string to_hex(const void* data, std::size_t length);

// The bytes that `hex` spells (upper or lower case digits, an even number of them); nullopt
// for anything else: no whitespace, no sign, no "0x".
std::optional<std::string> from_hex(std::string_view hex);

}  // namespace sekisho
