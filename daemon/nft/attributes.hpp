#pragma once
// Walking the top-level attributes of an nf_tables message (after its nfgenmsg header).
// libmnl's mnl_attr_for_each is a C macro that does not compile as C++.

#include <string>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

namespace sekisho::nft {

template <typename Visit>
void for_each_attribute(const nlmsghdr* nlh, Visit visit) {
  const auto* tail = static_cast<const char*>(mnl_nlmsg_get_payload_tail(nlh));
  for (auto* attr = static_cast<const nlattr*>(mnl_nlmsg_get_payload_offset(nlh, sizeof(nfgenmsg)));
       mnl_attr_ok(attr, static_cast<int>(tail - reinterpret_cast<const char*>(attr)));
       attr = mnl_attr_next(attr)) {
    visit(attr);
  }
}

// Attribute 1 of every nf_tables object message names its table (NFTA_TABLE_NAME,
// NFTA_CHAIN_TABLE, NFTA_SET_TABLE, NFTA_SET_ELEM_LIST_TABLE...); attribute 2 names the
// chain of a rule, the set of a set or element list; a chain's own name is attribute 3.
inline void object_names(const nlmsghdr* nlh, std::string& table, std::string& object) {
  const int message = nlh->nlmsg_type & 0xff;
  const std::uint16_t name =
      message == NFT_MSG_NEWCHAIN || message == NFT_MSG_DELCHAIN ? NFTA_CHAIN_NAME : 2;
  for_each_attribute(nlh, [&](const nlattr* attr) {
    const std::uint16_t type = mnl_attr_get_type(attr);
    if ((type == 1 || type == name) && mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) == 0) {
      (type == 1 ? table : object) = mnl_attr_get_str(attr);
    }
  });
}

}  // namespace sekisho::nft
