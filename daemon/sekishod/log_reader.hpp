#pragma once
// The NFLOG groups one plugin's rules log to (ir::PluginResources::log_groups), read on the
// daemon's loop: bound to one nfnetlink_log socket of its own with a large receive buffer,
// each packet handed to the plugin's receiver. What the kernel could not deliver (a full
// receive buffer) and gaps in the per-group sequence numbers are counted, never silent.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <nlohmann/json.hpp>

#include "daemon/net/netlink_subscription.hpp"
#include "daemon/net/nflog.hpp"

namespace sekisho::daemon {

class LogReader {
 public:
  // Room for a burst of logged packets while the loop is busy elsewhere (forced with
  // CAP_NET_ADMIN, which sekishod has).
  static constexpr int kReceiveBuffer = 8 << 20;
  // Datagrams read per wake-up, so that a flood cannot hold the loop.
  static constexpr std::size_t kReadBatch = 256;
  // Bytes of each packet copied to userspace: the headers a detector looks at.
  static constexpr std::uint32_t kCopyRange = 128;

  // A gap in the sequence numbers larger than this is the numbering starting again.
  static constexpr std::uint32_t kImplausibleGap = 1u << 30;

  using Receiver = std::function<void(const net::NflogPacket& packet)>;

  LogReader(boost::asio::io_context& io, std::string owner);
  ~LogReader();

  void set_receiver(Receiver receive) { receive_ = std::move(receive); }
  // Binds exactly `groups` (opening the socket at the first group); a group the kernel
  // refuses (another process bound it) is logged once and tried again at each call.
  void bind(const std::vector<std::uint16_t>& groups);
  nlohmann::json status_json() const;

 private:
  std::error_code open();
  void wrap_descriptor();
  void wait();
  void read();

  boost::asio::io_context& io_;
  std::string owner_;  // for log lines: "plugin monitor"
  Receiver receive_;
  net::Subscription subscription_;
  bool open_ = false;
  bool renewed_ = false;       // since the descriptor was last wrapped
  std::uint64_t wrapped_ = 0;  // how often: a wait of an earlier one does not re-arm
  // Not owned: the subscription's descriptor, released before the socket closes or renews.
  std::unique_ptr<boost::asio::posix::stream_descriptor> descriptor_;
  std::vector<std::uint16_t> bound_;
  std::vector<std::uint16_t> refused_;  // groups whose refusal is logged already
  bool open_failed_ = false;            // logged already
  std::map<std::uint16_t, std::uint32_t> next_seq_;
  std::uint64_t packets_ = 0;
  std::uint64_t unreadable_ = 0;  // overflows and datagrams that could not be read
  std::uint64_t gaps_ = 0;        // packets missing in the sequence numbers: lost
};

}  // namespace sekisho::daemon
