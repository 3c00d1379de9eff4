#pragma once
// Reads one table back from the kernel (a consistent dump: every reply carries the
// generation it was taken at, and a dump that raced a commit is taken again), and the
// generation id itself. Runs in the caller's network namespace.

#include <cstdint>
#include <string>
#include <system_error>

#include "daemon/nft/image.hpp"

namespace sekisho::nft {

struct Readback {
  std::error_code error;  // netlink failed (not: the table is missing)
  TableImage image;       // has_table() false when the table does not exist
  std::uint32_t genid = 0;
};

Readback read_table(const std::string& table);

// The namespace's nftables generation id: it goes up by one with every commit, by anyone.
std::error_code read_genid(std::uint32_t& genid);

}  // namespace sekisho::nft
