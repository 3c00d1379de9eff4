#pragma once
// SHA-256 (OpenSSL) as lowercase hex: policy hashes in status and audit records.

#include <string>
#include <string_view>

namespace sekisho {

std::string sha256_hex(std::string_view data);

}  // namespace sekisho
