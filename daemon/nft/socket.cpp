#include "daemon/nft/socket.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <unordered_map>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace sekisho::nft {

namespace {

struct SocketCloser {
  void operator()(mnl_socket* socket) const { mnl_socket_close(socket); }
};

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

}  // namespace

BatchOutcome send_batch(const Batch& batch, Send mode) {
  BatchOutcome outcome;
  std::unique_ptr<mnl_socket, SocketCloser> socket(mnl_socket_open(NETLINK_NETFILTER));
  if (!socket || mnl_socket_bind(socket.get(), 0, MNL_SOCKET_AUTOPID) < 0) {
    outcome.system = std::error_code(errno, std::generic_category());
    return outcome;
  }
  const int fd = mnl_socket_get_fd(socket.get());
  // A large batch is one sendmsg: the send buffer must hold it all (CAP_NET_ADMIN lets us
  // exceed the system maximum), and the answers need room too.
  int send_size = static_cast<int>(std::min<std::size_t>(batch.bytes.size() + 4096, 1U << 30));
  int receive_size = 16 * 1024 * 1024;
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &send_size, sizeof send_size) < 0) {
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &send_size, sizeof send_size);
  }
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &receive_size, sizeof receive_size) < 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_size, sizeof receive_size);
  }
  int on = 1;
  setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &on, sizeof on);

  const std::size_t size = mode == Send::DryRun ? batch.dry_run_size : batch.bytes.size();
  if (mnl_socket_sendto(socket.get(), batch.bytes.data(), size) < 0) {
    outcome.system = std::error_code(errno, std::generic_category());
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
  std::vector<char> buffer(MNL_SOCKET_BUFFER_SIZE * 16);
  // Every message asked for an ack; a refused batch answers only some of them, so stop
  // when all are answered or when the kernel has gone quiet after an error.
  while (collected.answers < batch.seqs.size()) {
    pollfd p{fd, POLLIN, 0};
    const bool failed = !collected.errors.empty() || collected.batch_error != 0;
    const int timeout_ms = failed ? 200 : 30000;
    const int ready = poll(&p, 1, timeout_ms);
    if (ready == 0) {
      if (!failed) {
        outcome.system = std::make_error_code(std::errc::timed_out);
      }
      break;
    }
    if (ready < 0) {
      if (errno == EINTR) {
        continue;
      }
      outcome.system = std::error_code(errno, std::generic_category());
      break;
    }
    const ssize_t received = mnl_socket_recvfrom(socket.get(), buffer.data(), buffer.size());
    if (received < 0) {
      outcome.system = std::error_code(errno, std::generic_category());
      break;
    }
    mnl_cb_run2(buffer.data(), static_cast<std::size_t>(received), 0, 0, nullptr, &collected,
                callbacks, NLMSG_MIN_TYPE);
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
