#pragma once
// nftables change events (the NFNLGRP_NFTABLES multicast group): every commit in the
// network namespace, by anyone, ends with a NEWGEN message naming the new generation and
// the committing process. The monitor notes whether the commit touched one table, so the
// daemon can tell its own commits from someone else's changes to its table.

#include <cstdint>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "daemon/net/netlink_subscription.hpp"

struct nlmsghdr;

namespace sekisho::nft {

struct Commit {
  std::uint32_t genid = 0;
  std::uint32_t pid = 0;  // the process that committed
  std::string process;    // its name (comm)
  bool touched_table = false;
  std::vector<std::string> changes;  // "delete table", "new rule in chain forward"... (first few)
};

class ChangeMonitor {
 public:
  explicit ChangeMonitor(std::string table);
  ChangeMonitor(const ChangeMonitor&) = delete;
  ChangeMonitor& operator=(const ChangeMonitor&) = delete;

  // Opens a non-blocking socket subscribed to the events, with room for that many bytes
  // of them. Only datagrams the kernel sent count.
  static constexpr int kReceiveBuffer = 32 * 1024 * 1024;
  std::error_code open(int receive_buffer = kReceiveBuffer);
  int fd() const;

  // Leaves and rejoins the event group. While no one listens the kernel builds no
  // events, which makes a large commit markedly cheaper: the daemon pauses around its own
  // applies (whose events it would only discard) and relies on the generation check for
  // anything that happens meanwhile.
  std::error_code pause();
  std::error_code resume();

  // Reads every waiting event. Commits completed so far go to `commits`; `lost` is set
  // when the kernel dropped events (the socket overflowed, or a datagram too large to
  // read): then only a readback can tell what happened.
  std::error_code read(std::vector<Commit>& commits, bool& lost);

 private:
  void on_message(const nlmsghdr* nlh, std::vector<Commit>& commits);

  std::string table_;
  net::Subscription events_;
  Commit pending_;
};

}  // namespace sekisho::nft
