#include "daemon/sekishod/log_reader.hpp"

#include <algorithm>

#include <linux/netlink.h>

#include "daemon/common/log.hpp"

namespace sekisho::daemon {

LogReader::LogReader(boost::asio::io_context& io, std::string owner)
    : io_(io), owner_(std::move(owner)) {}

LogReader::~LogReader() {
  if (descriptor_) {
    descriptor_->release();  // the subscription closes it
  }
}

std::error_code LogReader::open() {
  if (std::error_code error = subscription_.open(NETLINK_NETFILTER, {}, kReceiveBuffer)) {
    return error;
  }
  // A renewed socket (after a request failed) has none of the bindings of the old one.
  subscription_.socket().on_renew([this](net::NetlinkSocket&) -> std::error_code {
    renewed_ = true;
    next_seq_.clear();  // the kernel numbers the new socket's packets from 0
    for (std::uint16_t group : bound_) {
      net::Request again = net::nflog_bind_request({group, kCopyRange, true});
      if (std::error_code error = subscription_.request(again)) {
        return error;
      }
    }
    return {};
  });
  open_ = true;
  wrap_descriptor();
  return {};
}

// A request may have renewed the socket (the new one may even have the old number): the
// loop then waits on the new descriptor.
void LogReader::wrap_descriptor() {
  if (descriptor_ && !renewed_) {
    return;
  }
  renewed_ = false;
  if (descriptor_) {
    descriptor_->cancel();
    descriptor_->release();
  }
  descriptor_ = std::make_unique<boost::asio::posix::stream_descriptor>(io_, subscription_.fd());
  ++wrapped_;  // a wait of the old descriptor that already completed does not re-arm
  wait();
}

void LogReader::bind(const std::vector<std::uint16_t>& groups) {
  if (!open_ && !groups.empty()) {
    if (std::error_code error = open()) {
      if (!open_failed_) {
        log_error(owner_ + ": cannot open an nfnetlink_log socket: " + error.message() +
                  "; its log groups are not read; trying every second");
      }
      open_failed_ = true;
      return;
    }
    open_failed_ = false;
  }
  for (auto it = bound_.begin(); it != bound_.end();) {
    if (std::find(groups.begin(), groups.end(), *it) != groups.end()) {
      ++it;
      continue;
    }
    net::Request unbind = net::nflog_unbind_request(*it);
    if (std::error_code error = subscription_.request(unbind)) {
      log_warning(owner_ + ": cannot unbind log group " + std::to_string(*it) + ": " +
                  error.message());
    }
    next_seq_.erase(*it);
    it = bound_.erase(it);
  }
  for (std::uint16_t group : groups) {
    if (std::find(bound_.begin(), bound_.end(), group) != bound_.end()) {
      continue;
    }
    net::Request request = net::nflog_bind_request({group, kCopyRange, true});
    const bool refused_before =
        std::find(refused_.begin(), refused_.end(), group) != refused_.end();
    if (std::error_code error = subscription_.request(request)) {
      if (!refused_before) {
        log_error(owner_ + ": cannot bind log group " + std::to_string(group) + ": " +
                  error.message() + " (another process may hold it); trying every second");
        refused_.push_back(group);
      }
      continue;
    }
    if (refused_before) {
      refused_.erase(std::find(refused_.begin(), refused_.end(), group));
    }
    bound_.push_back(group);
    log_info(owner_ + ": reading log group " + std::to_string(group));
  }
  std::erase_if(refused_, [&](std::uint16_t group) {
    return std::find(groups.begin(), groups.end(), group) == groups.end();
  });
  if (open_) {
    wrap_descriptor();
  }
}

void LogReader::wait() {
  descriptor_->async_wait(boost::asio::posix::stream_descriptor::wait_read,
                          [this, wrapped = wrapped_](const boost::system::error_code& error) {
                            if (error || wrapped != wrapped_) {
                              return;
                            }
                            read();
                            if (wrapped == wrapped_) {
                              wait();
                            }
                          });
}

void LogReader::read() {
  std::size_t lost = 0;
  std::error_code error = subscription_.read(
      kReadBatch,
      [this](const nlmsghdr* message) {
        net::NflogPacket packet;
        if (!net::parse_nflog_packet(message, packet)) {
          return;
        }
        ++packets_;
        if (packet.seq) {
          auto [expected, first] = next_seq_.try_emplace(packet.group, *packet.seq);
          const std::uint32_t skipped = *packet.seq - expected->second;
          // A jump backwards or past any buffer is a numbering that started again (a
          // group bound anew), not loss.
          if (!first && skipped != 0 && skipped < kImplausibleGap) {
            gaps_ += skipped;
          }
          expected->second = *packet.seq + 1;
        }
        if (receive_) {
          receive_(packet);
        }
      },
      lost);
  unreadable_ += lost;
  if (error) {
    log_warning(owner_ + ": reading its log groups: " + error.message());
  }
}

nlohmann::json LogReader::status_json() const {
  // The sequence numbers count each packet the kernel could not deliver, however it was
  // lost; the overflows are the times it said so.
  return {{"groups", bound_}, {"packets", packets_}, {"lost", gaps_}, {"overflows", unreadable_}};
}

}  // namespace sekisho::daemon
