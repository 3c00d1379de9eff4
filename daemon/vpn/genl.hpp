#pragma once
// WireGuard in the kernel, through its generic netlink family "wireguard" (libmnl).
//
// Contract:
// - The codec (genl_* and parse_* below) is pure: bytes in, bytes or values out, no socket,
//   so it is tested against hand-built byte fixtures on machines without the module.
// - SET never sends WGDEVICE_F_REPLACE_PEERS: peers a change does not name are left alone.
//   A change larger than one message is split as the kernel asks: device attributes only in
//   the first message; a peer continued in a later message repeats its public key and
//   carries more allowed IPs, and only its first chunk may carry
//   WGPEER_F_REPLACE_ALLOWEDIPS (a later one would empty the list again).
// - GET is a dump whose parts may repeat a peer (public key + more allowed IPs); adjacent
//   peers with the same public key are merged into one.
// - Malformed input (truncated messages or attributes, wrong attribute lengths, a dump with
//   no end) is std::errc::bad_message, never an out-of-bounds read. A dump the kernel
//   marked inconsistent (NLM_F_DUMP_INTR: the device changed while it was read) is
//   std::errc::interrupted, and the caller reads it again. Errors the kernel reports are
//   std::error_code(errno, std::system_category()).

#include <cstddef>
#include <cstdint>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "daemon/vpn/wg_device.hpp"

namespace sekisho::vpn {

// What one SET message may hold at most unless told otherwise: a page, as wg(8) sends.
inline constexpr std::size_t kGenlDefaultMessageSize = 4096;
// Smaller limits are raised to the room one message needs for the headers, the interface
// name, the device attributes, one peer's header and one IPv6 allowed IP (about 200
// bytes), so that every change can be sent.

// CTRL_CMD_GETFAMILY for "wireguard", to GENL_ID_CTRL.
std::vector<std::uint8_t> genl_family_request(std::uint32_t seq);

// The id from the controller's reply (CTRL_ATTR_FAMILY_ID). An NLMSG_ERROR gives its
// errno: ENOENT means the wireguard module is not loaded.
std::error_code parse_genl_family_reply(const std::vector<std::uint8_t>& reply,
                                        std::uint16_t& family_id);

// WG_CMD_GET_DEVICE as a dump (the kernel accepts it only as one) for `ifname`.
std::vector<std::uint8_t> genl_get_request(std::uint16_t family_id, const std::string& ifname,
                                           std::uint32_t seq);

// The WG_CMD_SET_DEVICE requests (NLM_F_REQUEST | NLM_F_ACK) that make `change`, each at
// most max_message bytes (or the minimum above), numbered first_seq, first_seq + 1, ...
// Empty when the change is empty. A removed peer carries only its key and
// WGPEER_F_REMOVE_ME; an empty allowed_ips list clears the peer's list.
std::vector<std::vector<std::uint8_t>> genl_set_messages(
    std::uint16_t family_id, const std::string& ifname, const WgChange& change,
    std::uint32_t first_seq, std::size_t max_message = kGenlDefaultMessageSize);

// The reply to genl_get_request: every datagram received, in order, each holding one or
// more netlink messages, up to and including NLMSG_DONE. `device` is replaced only on
// success. A non-zero error in NLMSG_DONE, or an NLMSG_ERROR, gives that errno.
std::error_code parse_genl_device_dump(const std::vector<std::vector<std::uint8_t>>& messages,
                                       WgDevice& device);

// One interface run by the kernel module. Every operation opens its own NETLINK_GENERIC
// socket and resolves the family id again (it changes when the module is reloaded).
// Needs CAP_NET_ADMIN.
class GenlControl : public WgControl {
 public:
  explicit GenlControl(std::string ifname) : ifname_(std::move(ifname)) {}
  std::error_code get(WgDevice& device) override;
  // Sends the messages one by one, each waiting for its ACK, and stops at the first error.
  // Not atomic: the messages before a failing one stay applied.
  std::error_code set(const WgChange& change) override;

 private:
  std::string ifname_;
};

}  // namespace sekisho::vpn
