#include "daemon/net/netlink_transaction.hpp"

#include <array>
#include <cerrno>
#include <chrono>
#include <unordered_map>

#include <libmnl/libmnl.h>

#include "daemon/net/netlink_attributes.hpp"

namespace sekisho::net {

namespace {

// Giving mnl_cb_run2 a control array replaces all of libmnl's defaults below its length,
// so NLMSG_ERROR is handled here as libmnl would, and NLMSG_DONE reads its error.
int on_error(const nlmsghdr* header, void*) {
  if (header->nlmsg_len < NLMSG_HDRLEN + sizeof(nlmsgerr)) {
    errno = EBADMSG;
    return MNL_CB_ERROR;
  }
  const int error = *message_error(header);
  if (error == 0) {
    return MNL_CB_STOP;
  }
  errno = error < 0 ? -error : error;
  return MNL_CB_ERROR;
}

int on_done(const nlmsghdr* header, void*) {
  const std::optional<int> error = message_error(header);
  if (error && *error != 0) {
    errno = *error < 0 ? -*error : *error;
    return MNL_CB_ERROR;
  }
  return MNL_CB_STOP;
}

struct Answers {
  const OnMessage* on_message;
};

int on_data(const nlmsghdr* header, void* data) {
  const OnMessage& on_message = *static_cast<Answers*>(data)->on_message;
  if (!on_message) {
    return MNL_CB_OK;
  }
  if (std::error_code error = on_message(header)) {
    errno = error.value();
    return MNL_CB_ERROR;
  }
  return MNL_CB_OK;
}

}  // namespace

std::error_code transact(NetlinkSocket& socket, Request& request, const OnMessage& on_message) {
  if (request.overflowed()) {
    return {EMSGSIZE, std::system_category()};  // never send half a request
  }
  nlmsghdr* header = request.header();
  header->nlmsg_seq = socket.next_sequence();
  if (std::error_code error = socket.send(header, header->nlmsg_len)) {
    return error;
  }
  std::array<mnl_cb_t, NLMSG_DONE + 1> control{};
  control[NLMSG_ERROR] = on_error;
  control[NLMSG_DONE] = on_done;
  Answers answers{&on_message};
  return socket.run_until_stop(header->nlmsg_seq, on_data, &answers, control.data(),
                               static_cast<unsigned>(control.size()));
}

Acks collect_acks(NetlinkSocket& socket, std::span<const std::uint32_t> seqs,
                  std::uint32_t begin_seq) {
  Acks acks;
  std::unordered_map<std::uint32_t, std::size_t> index_of_seq;
  for (std::size_t i = 0; i < seqs.size(); ++i) {
    index_of_seq.emplace(seqs[i], i);
  }
  std::vector<bool> answered(seqs.size(), false);
  std::size_t answers = 0;
  auto on_message = [&](const nlmsghdr* message) {
    if (message->nlmsg_type != NLMSG_ERROR ||
        (message->nlmsg_pid != 0 && message->nlmsg_pid != socket.port())) {
      return true;
    }
    const std::optional<int> code = message_error(message);
    if (!code || message->nlmsg_len < NLMSG_HDRLEN + sizeof(nlmsgerr)) {
      acks.system = std::make_error_code(std::errc::bad_message);
      return false;
    }
    const int error = *code < 0 ? -*code : *code;
    // nfnetlink answers the begin message for failures of the batch as a whole: no
    // permission, no memory, a failed commit (then the other messages may all be acked).
    if (message->nlmsg_seq == begin_seq && error != 0) {
      acks.batch_error = error;
      return true;
    }
    auto it = index_of_seq.find(message->nlmsg_seq);
    if (it == index_of_seq.end()) {
      return true;
    }
    if (!answered[it->second]) {
      answered[it->second] = true;
      ++answers;
    }
    if (error != 0) {
      acks.errors.push_back(AckError{it->second, error});
    }
    return true;
  };
  std::vector<std::uint8_t> datagram;
  // A refused batch answers only some of its messages: after an error, stop when nothing
  // more is waiting.
  while (answers < seqs.size()) {
    const bool failed = !acks.errors.empty() || acks.batch_error != 0;
    std::error_code error =
        failed ? socket.receive(datagram, std::chrono::milliseconds(0)) : socket.receive(datagram);
    if (error == std::errc::timed_out && failed) {
      break;
    }
    if (error) {
      acks.system = error;
      break;
    }
    walk_messages(datagram, on_message);
    if (acks.system) {
      break;
    }
  }
  return acks;
}

}  // namespace sekisho::net
