#pragma once
// Request and answer on a NetlinkSocket, the same way for every family: a request gets
// the socket's next sequence number, goes out (send() drops what earlier requests left),
// and answers to it are read until the kernel's ACK or error, or the end of a dump.
// NLMSG_DONE's error counts as well (libmnl 1.0.4 ignores it; rtnetlink reports a dump
// filtered on a missing link there), a dump the kernel marks interrupted
// (NLM_F_DUMP_INTR) is EINTR, and a batch of messages (nf_tables) is answered by
// collect_acks. Errors are errno in std::system_category().

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <system_error>
#include <vector>

#include "daemon/net/netlink_request.hpp"
#include "daemon/net/netlink_socket.hpp"

struct nlmsghdr;

namespace sekisho::net {

// Called with each answer that is not a control message (the objects of a dump, the
// answer to a GET); an error stops reading and is what the transaction returns.
using OnMessage = std::function<std::error_code(const nlmsghdr* message)>;

// Sends `request` with a sequence number of `socket` and reads its answers until the ACK
// (a request with NLM_F_ACK), the end of a dump (NLM_F_DUMP) or an error.
std::error_code transact(NetlinkSocket& socket, Request& request, const OnMessage& on_message = {});

// Runs `attempt` (which builds and sends one dump) again while the kernel reports the
// dump interrupted (EINTR: the list changed while it was sent), at most `attempts` times.
template <typename Attempt>
std::error_code retry_interrupted(int attempts, Attempt&& attempt) {
  std::error_code error;
  for (int tries = 0; tries < attempts; ++tries) {
    error = attempt();
    if (!error || error.value() != EINTR) {
      break;
    }
  }
  return error;
}

// The answers to a batch whose messages asked for an ACK each (nfnetlink).
struct AckError {
  std::size_t index;  // into the batch's sequence numbers
  int error;          // errno
};
struct Acks {
  std::error_code system;        // the socket failed, or an answer was malformed
  int batch_error = 0;           // errno on the batch's begin message: the whole batch failed
  std::vector<AckError> errors;  // the kernel refused these messages
};

// Reads the answers to a batch just sent on `socket`: one per number in `seqs`, and an
// error on `begin_seq` when the batch as a whole failed. Stops when every message is
// answered or, after an error, when nothing more is waiting; a timeout before that, or
// answers the kernel dropped (ENOBUFS), are a system error (whether the batch took is
// then unknown). Answers to other sequence numbers (an earlier request's, come late) are
// skipped.
Acks collect_acks(NetlinkSocket& socket, std::span<const std::uint32_t> seqs,
                  std::uint32_t begin_seq);

}  // namespace sekisho::net
