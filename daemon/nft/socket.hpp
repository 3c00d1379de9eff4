#pragma once
// The nftables request socket: sends one batch and collects the kernel's answer for every
// message (success means no error for any sequence number); generation reads and
// readbacks (readback.hpp) go through it too. sekishod opens one at start and keeps it,
// so that applying, restoring and reading back never need a descriptor they could fail to
// get; `sekishod --restore`, `sekishoctl verify` and the lab tools open their own.

#include <cstdint>
#include <string>
#include <system_error>
#include <vector>

#include "daemon/net/netlink_socket.hpp"
#include "daemon/net/netlink_transaction.hpp"
#include "daemon/nft/batch.hpp"

namespace sekisho::nft {

// A message the kernel refused: its index into Batch::seqs / origins / what, and errno.
using MessageError = net::AckError;

struct BatchOutcome {
  std::error_code system;            // the socket itself failed
  int batch_error = 0;               // errno on BATCH_BEGIN: the batch as a whole failed
  std::vector<MessageError> errors;  // the kernel refused these messages
  bool ok() const { return !system && batch_error == 0 && errors.empty(); }
};

enum class Send { DryRun, Commit };

class Socket {
 public:
  // A NETLINK_NETFILTER socket in the calling thread's network namespace.
  std::error_code open();

  // Sends `batch`, renumbered with sequence numbers of this socket, and waits for its
  // acknowledgements. A dry run leaves out the end message: the kernel checks everything
  // and then aborts, and the outcome says whether it would apply. The socket's buffers
  // are sized for each batch: the send buffer holds the whole batch (one datagram), the
  // receive buffer every acknowledgement. Acknowledgements the kernel dropped anyway
  // (ENOBUFS) make the outcome a system error: whether the batch took is then unknown.
  BatchOutcome send_batch(Batch& batch, Send mode);

  net::NetlinkSocket& netlink() { return socket_; }

 private:
  net::NetlinkSocket socket_;
};

// "set ot_to_it_v4 (factory-line.yaml:10): File exists" for each error.
std::vector<std::string> describe(const Batch& batch, const BatchOutcome& outcome,
                                  const std::string& policy_file);

}  // namespace sekisho::nft
