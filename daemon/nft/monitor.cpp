#include "daemon/nft/monitor.hpp"

#include <cerrno>

#include <arpa/inet.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <sys/socket.h>

#include "daemon/nft/attributes.hpp"

namespace sekisho::nft {

namespace {

constexpr std::size_t kChangesKept = 5;

// Names from the kernel end up in log lines: whoever chose them (any process with
// CAP_NET_ADMIN) must not be able to write line breaks or terminal controls there.
std::string printable(std::string text) {
  for (char& c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      c = '?';
    }
  }
  return text;
}

const char* change_name(int type) {
  switch (type) {
    case NFT_MSG_NEWTABLE:
      return "new table";
    case NFT_MSG_DELTABLE:
      return "delete table";
    case NFT_MSG_NEWCHAIN:
      return "new chain";
    case NFT_MSG_DELCHAIN:
      return "delete chain";
    case NFT_MSG_NEWRULE:
      return "new rule";
    case NFT_MSG_DELRULE:
      return "delete rule";
    case NFT_MSG_NEWSET:
      return "new set";
    case NFT_MSG_DELSET:
      return "delete set";
    case NFT_MSG_NEWSETELEM:
      return "new element";
    case NFT_MSG_DELSETELEM:
      return "delete element";
    default:
      return nullptr;
  }
}

}  // namespace

ChangeMonitor::ChangeMonitor(std::string table) : table_(std::move(table)) {}

ChangeMonitor::~ChangeMonitor() {
  if (socket_) {
    mnl_socket_close(socket_);
  }
}

std::error_code ChangeMonitor::open(int receive_buffer) {
  socket_ = mnl_socket_open2(NETLINK_NETFILTER, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (!socket_ || mnl_socket_bind(socket_, 0, MNL_SOCKET_AUTOPID) < 0) {
    return std::error_code(errno, std::generic_category());
  }
  int group = NFNLGRP_NFTABLES;
  if (mnl_socket_setsockopt(socket_, NETLINK_ADD_MEMBERSHIP, &group, sizeof group) < 0) {
    return std::error_code(errno, std::generic_category());
  }
  // A full apply of a large policy is tens of thousands of events: room for them, so
  // that only a real overflow reports loss.
  int size = receive_buffer;
  const int fd = mnl_socket_get_fd(socket_);
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  }
  return {};
}

std::error_code ChangeMonitor::pause() {
  int group = NFNLGRP_NFTABLES;
  if (mnl_socket_setsockopt(socket_, NETLINK_DROP_MEMBERSHIP, &group, sizeof group) < 0) {
    return std::error_code(errno, std::generic_category());
  }
  return {};
}

std::error_code ChangeMonitor::resume() {
  pending_ = Commit{};  // events of a commit cut in half by the pause say nothing reliable
  int group = NFNLGRP_NFTABLES;
  if (mnl_socket_setsockopt(socket_, NETLINK_ADD_MEMBERSHIP, &group, sizeof group) < 0) {
    return std::error_code(errno, std::generic_category());
  }
  return {};
}

int ChangeMonitor::fd() const {
  return mnl_socket_get_fd(socket_);
}

void ChangeMonitor::on_message(const nlmsghdr* nlh, std::vector<Commit>& commits) {
  if ((nlh->nlmsg_type >> 8) != NFNL_SUBSYS_NFTABLES) {
    return;
  }
  const int type = nlh->nlmsg_type & 0xff;
  if (type == NFT_MSG_NEWGEN) {
    for_each_attribute(nlh, [this](const nlattr* attr) {
      switch (mnl_attr_get_type(attr)) {
        case NFTA_GEN_ID:
          pending_.genid = ntohl(mnl_attr_get_u32(attr));
          break;
        case NFTA_GEN_PROC_PID:
          pending_.pid = ntohl(mnl_attr_get_u32(attr));
          break;
        case NFTA_GEN_PROC_NAME:
          if (mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) == 0) {
            pending_.process = printable(mnl_attr_get_str(attr));
          }
          break;
      }
    });
    commits.push_back(std::move(pending_));
    pending_ = Commit{};
    return;
  }
  const char* change = change_name(type);
  if (!change) {
    return;
  }
  const auto* header = static_cast<const nfgenmsg*>(mnl_nlmsg_get_payload(nlh));
  std::string table;
  std::string object;
  object_names(nlh, table, object);
  // "flush ruleset" names each table; a table of family inet named like ours is ours.
  if (header->nfgen_family != NFPROTO_INET || table != table_) {
    return;
  }
  pending_.touched_table = true;
  // The first few changes say what happened; a deleted table says it all, so it leads.
  std::string what = change;
  if (type != NFT_MSG_NEWTABLE && type != NFT_MSG_DELTABLE && !object.empty()) {
    what += " " + printable(object);
  }
  if (type == NFT_MSG_DELTABLE) {
    pending_.changes.insert(pending_.changes.begin(), what);
  } else if (pending_.changes.size() < kChangesKept) {
    pending_.changes.push_back(what);
  }
}

std::error_code ChangeMonitor::read(std::vector<Commit>& commits, bool& lost) {
  std::vector<char> buffer(MNL_SOCKET_BUFFER_SIZE * 4);
  while (true) {
    const ssize_t n = mnl_socket_recvfrom(socket_, buffer.data(), buffer.size());
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        return {};
      }
      if (errno == ENOBUFS) {
        lost = true;
        pending_ = Commit{};
        continue;
      }
      if (errno == EINTR) {
        continue;
      }
      return std::error_code(errno, std::generic_category());
    }
    int remaining = static_cast<int>(n);
    for (auto* nlh = reinterpret_cast<const nlmsghdr*>(buffer.data()); mnl_nlmsg_ok(nlh, remaining);
         nlh = mnl_nlmsg_next(nlh, &remaining)) {
      on_message(nlh, commits);
    }
  }
}

}  // namespace sekisho::nft
