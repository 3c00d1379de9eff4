#include "daemon/nft/socket.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <unordered_map>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>

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

struct Collected {
  std::uint32_t begin_seq = 0;
  int batch_error = 0;
  std::unordered_map<std::uint32_t, std::size_t> index_of_seq;
  std::vector<bool> answered;
  std::size_t answers = 0;
  std::vector<MessageError> errors;
};

int on_error(const nlmsghdr* nlh, void* data) {
  auto* collected = static_cast<Collected*>(data);
  const auto* error = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
  // nfnetlink answers BATCH_BEGIN for failures of the batch as a whole: no permission,
  // no memory, a failed commit (then the other messages may all be acked).
  if (nlh->nlmsg_seq == collected->begin_seq && error->error != 0) {
    collected->batch_error = -error->error;
    return MNL_CB_OK;
  }
  // An answer to another request (an earlier one's, come late) has none of our numbers.
  auto it = collected->index_of_seq.find(nlh->nlmsg_seq);
  if (it == collected->index_of_seq.end()) {
    return MNL_CB_OK;
  }
  if (!collected->answered[it->second]) {
    collected->answered[it->second] = true;
    ++collected->answers;
  }
  if (error->error != 0) {
    collected->errors.push_back(MessageError{it->second, -error->error});
  }
  return MNL_CB_OK;
}

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

  Collected collected;
  collected.begin_seq = batch.begin_seq;
  collected.answered.assign(batch.seqs.size(), false);
  for (std::size_t i = 0; i < batch.seqs.size(); ++i) {
    collected.index_of_seq.emplace(batch.seqs[i], i);
  }
  mnl_cb_t callbacks[NLMSG_MIN_TYPE] = {};
  callbacks[NLMSG_ERROR] = on_error;
  std::vector<std::uint8_t> datagram;
  // Every message asked for an ack; a refused batch answers only some of them, so stop
  // when all are answered or, after an error, when nothing more is waiting.
  while (collected.answers < batch.seqs.size()) {
    const bool failed = !collected.errors.empty() || collected.batch_error != 0;
    std::error_code error = failed ? socket_.receive(datagram, std::chrono::milliseconds(0))
                                   : socket_.receive(datagram);
    if (error == std::errc::timed_out && failed) {
      break;
    }
    if (error) {
      outcome.system = error;
      break;
    }
    mnl_cb_run2(datagram.data(), datagram.size(), 0, socket_.port(), nullptr, &collected, callbacks,
                NLMSG_MIN_TYPE);
  }
  outcome.errors = std::move(collected.errors);
  outcome.batch_error = collected.batch_error;
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
