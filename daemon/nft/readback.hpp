#pragma once
// Reads one table back from the kernel (a consistent dump: every reply carries the
// generation it was taken at, and a dump that raced a commit is taken again), and the
// generation id itself, on the nftables socket given (socket.hpp), in the network
// namespace it was opened in.

#include <cstdint>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

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

// One element of a set as the kernel holds it now: for sets the packet path fills (a
// plugin's meters and detectors).
struct KernelElement {
  // The key's bytes as the kernel keeps them: in a concatenation each field is padded to a
  // multiple of four bytes (ir::field_size gives each field's own size).
  std::vector<std::uint8_t> key;
  std::optional<std::uint64_t> packets;  // the element's counter, when it has one
  std::optional<std::uint64_t> bytes;
  std::optional<std::uint64_t> expires_ms;  // time left, when the element has a timeout
};

struct SetElements {
  std::error_code error;  // netlink failed; no_such_file_or_directory: no such set
  std::vector<KernelElement> elements;
  bool truncated = false;  // more than the limit were there: only the first `limit` kept
};

// The elements of set `set` of table inet `table`, at most `limit` of them.
SetElements read_set_elements(Socket& socket, const std::string& table, const std::string& set,
                              std::size_t limit);

// The namespace's nftables generation id: it goes up by one with every commit, by anyone.
std::error_code read_genid(Socket& socket, std::uint32_t& genid);

}  // namespace sekisho::nft
