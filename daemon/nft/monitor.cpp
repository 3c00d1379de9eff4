#include "daemon/nft/monitor.hpp"

#include <cerrno>
#include <limits>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

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

std::error_code ChangeMonitor::open(int receive_buffer) {
  // A full apply of a large policy is tens of thousands of events: room for them, so
  // that only a real overflow reports loss.
  const int groups[] = {NFNLGRP_NFTABLES};
  return events_.open(NETLINK_NETFILTER, groups, receive_buffer);
}

std::error_code ChangeMonitor::pause() {
  return events_.pause();
}

std::error_code ChangeMonitor::resume() {
  pending_ = Commit{};  // events of a commit cut in half by the pause say nothing reliable
  return events_.resume();
}

int ChangeMonitor::fd() const {
  return events_.fd();
}

void ChangeMonitor::on_message(const nlmsghdr* nlh, std::vector<Commit>& commits) {
  if ((nlh->nlmsg_type >> 8) != NFNL_SUBSYS_NFTABLES) {
    return;
  }
  const int type = nlh->nlmsg_type & 0xff;
  if (type == NFT_MSG_NEWGEN) {
    for_each_attribute(nlh, [this](const nlattr* attr) {
      switch (net::attribute_type(attr)) {
        case NFTA_GEN_ID:
          net::read_be(attr, pending_.genid);
          break;
        case NFTA_GEN_PROC_PID:
          net::read_be(attr, pending_.pid);
          break;
        case NFTA_GEN_PROC_NAME: {
          std::string name;
          if (net::read_string(attr, name)) {
            pending_.process = printable(std::move(name));
          }
          break;
        }
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
  const auto* header = net::fixed_header<nfgenmsg>(nlh);
  if (header == nullptr) {
    return;
  }
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
  // Events after a loss belong to a commit whose start is gone.
  std::size_t lost_count = 0;
  std::size_t seen = 0;
  const std::error_code error = events_.read(
      std::numeric_limits<std::size_t>::max(),
      [&](const nlmsghdr* nlh) {
        if (lost_count != seen) {
          pending_ = Commit{};
          seen = lost_count;
        }
        on_message(nlh, commits);
      },
      lost_count);
  if (lost_count > 0) {
    lost = true;
    if (lost_count != seen) {
      pending_ = Commit{};
    }
  }
  return error;
}

}  // namespace sekisho::nft
