#pragma once
// The top-level attributes of an nf_tables message (after its nfgenmsg header), walked
// with the netlink toolkit's rules (daemon/net/netlink_attributes.hpp), and the names they
// carry.

#include <cstdint>
#include <optional>
#include <string>

#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include "daemon/net/netlink_attributes.hpp"

namespace sekisho::nft {

// Calls visit(attribute) for each attribute; false when the message is too short for its
// nfgenmsg or an attribute does not fit (the ones before it were visited).
template <typename Visit>
bool for_each_attribute(const nlmsghdr* nlh, Visit visit) {
  const std::optional<net::ByteSpan> attributes = net::payload_after<nfgenmsg>(nlh);
  return attributes && net::walk(*attributes, [&](const nlattr* attribute) {
           visit(attribute);
           return true;
         });
}

// Attribute 1 of every nf_tables object message names its table (NFTA_TABLE_NAME,
// NFTA_CHAIN_TABLE, NFTA_SET_TABLE, NFTA_SET_ELEM_LIST_TABLE...); attribute 2 names the
// chain of a rule, the set of a set or element list; a chain's own name is attribute 3.
inline void object_names(const nlmsghdr* nlh, std::string& table, std::string& object) {
  const int message = nlh->nlmsg_type & 0xff;
  const std::uint16_t name =
      message == NFT_MSG_NEWCHAIN || message == NFT_MSG_DELCHAIN ? NFTA_CHAIN_NAME : 2;
  for_each_attribute(nlh, [&](const nlattr* attr) {
    const std::uint16_t type = net::attribute_type(attr);
    if (type == 1 || type == name) {
      net::read_string(attr, type == 1 ? table : object);
    }
  });
}

}  // namespace sekisho::nft
