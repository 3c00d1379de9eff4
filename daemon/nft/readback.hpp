#pragma once
// Reads one table back from the kernel (a consistent dump: every reply carries the
// generation it was taken at, and a dump that raced a commit is taken again), and the
// generation id itself, on the nftables socket given (socket.hpp), in the network
// namespace it was opened in.

#include <cstdint>
#include <string>
#include <system_error>

#include "daemon/nft/image.hpp"
#include "daemon/nft/socket.hpp"

namespace sekisho::nft {

struct Readback {
  std::error_code error;  // netlink failed (not: the table is missing)
  TableImage image;       // has_table() false when the table does not exist
  std::uint32_t genid = 0;
};

Readback read_table(Socket& socket, const std::string& table);
// The same on a socket of its own (sekishoctl verify).
Readback read_table(const std::string& table);

// The namespace's nftables generation id: it goes up by one with every commit, by anyone.
std::error_code read_genid(Socket& socket, std::uint32_t& genid);

}  // namespace sekisho::nft
