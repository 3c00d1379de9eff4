#include "daemon/nft/socket.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>

#include "daemon/net/netlink_transaction.hpp"

namespace sekisho::nft {

namespace {

// How long the kernel may take to answer (a large batch is committed inside the send;
// this only keeps a wedged kernel from hanging the daemon).
constexpr std::chrono::seconds kAnswerTimeout{30};
// The receive buffer the answers need at least, and per acknowledgement: each is a
// datagram of its own, and the kernel counts the whole buffer it sits in (well under
// 1 KiB) against the socket's receive buffer.
constexpr std::size_t kReceiveBuffer = 16 * 1024 * 1024;
constexpr std::size_t kRoomPerAnswer = 1024;
constexpr std::size_t kLargestBuffer = 1U << 30;

int buffer_size(std::size_t bytes) {
  return static_cast<int>(std::min(bytes, kLargestBuffer));
}

}  // namespace

std::error_code Socket::open() {
  if (std::error_code error = socket_.open(NETLINK_NETFILTER, kAnswerTimeout)) {
    return error;
  }
  // Acknowledgements need not echo each message back.
  socket_.set_option(NETLINK_CAP_ACK, 1);
  socket_.set_buffers(0, buffer_size(kReceiveBuffer));
  return {};
}

BatchOutcome Socket::send_batch(Batch& batch, Send mode) {
  BatchOutcome outcome;
  set_first_seq(batch, socket_.next_sequence(sequence_count(batch)));
  const std::size_t size = mode == Send::DryRun ? batch.dry_run_size : batch.bytes.size();
  // A large batch is one sendmsg: the send buffer must hold it all (CAP_NET_ADMIN lets us
  // exceed the system maximum), and every acknowledgement must fit at once, since the
  // kernel sends them all before the send returns.
  socket_.set_buffers(buffer_size(size + 4096),
                      buffer_size(std::max(kReceiveBuffer, batch.seqs.size() * kRoomPerAnswer)));
  if (std::error_code error = socket_.send(batch.bytes.data(), size)) {
    outcome.system = error;
    return outcome;
  }

  net::Acks acks = net::collect_acks(socket_, batch.seqs, batch.begin_seq);
  outcome.system = acks.system;
  outcome.errors = std::move(acks.errors);
  outcome.batch_error = acks.batch_error;
  return outcome;
}

std::vector<std::string> describe(const Batch& batch, const BatchOutcome& outcome,
                                  const std::string& policy_file) {
  std::vector<std::string> out;
  if (outcome.system) {
    out.push_back("netlink: " + outcome.system.message());
  }
  if (outcome.batch_error != 0) {
    out.push_back(policy_file +
                  ": the kernel refused the whole ruleset: " + std::strerror(outcome.batch_error));
  }
  for (const MessageError& error : outcome.errors) {
    const ir::Origin& origin = batch.origins[error.index];
    std::string where = policy_file;
    if (origin.pos.line > 0) {
      where += ":" + std::to_string(origin.pos.line) + ":" + std::to_string(origin.pos.column);
    }
    out.push_back(where + ": the kernel refused " + batch.what[error.index] +
                  (origin.what.empty() ? "" : " (" + origin.what + ")") + ": " +
                  std::strerror(error.error));
  }
  return out;
}

}  // namespace sekisho::nft
