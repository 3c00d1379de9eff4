#pragma once
// A table as comparable text: one line per table, chain, named set, set element and rule.
// Handles, counter values, element timeouts and the names the kernel gives anonymous sets
// are left out (an anonymous set appears inline, with its elements, in the rule that uses
// it), so what we sent and what the kernel dumps give the same lines exactly when the
// kernel holds what we sent.
//
// Both sides go through the same libnftnl parsers: our own batch messages and the
// kernel's dump replies are the same netlink objects.
//
// A set the kernel fills from the packet path (ir::SetFill::Kernel, flag NFT_SET_EVAL:
// meters, detectors) is compared without its elements: readback, drift restore and
// verify leave them alone.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <libnftnl/rule.h>
#include <linux/netlink.h>

#include "daemon/nft/batch.hpp"

namespace sekisho::nft {

class TableImage {
 public:
  // Takes one NEWTABLE, NEWCHAIN, NEWSET, NEWSETELEM or NEWRULE message (request or dump
  // reply); ignores the others. Returns false when the message cannot be parsed.
  bool add_message(const nlmsghdr* nlh);

  bool has_table() const { return has_table_; }
  // Removes the element lines of one set and returns them ("element NAME ..."), for a set
  // whose elements change at run time and are compared on their own terms.
  std::vector<std::string> take_elements(const std::string& set);
  std::vector<std::string> lines() const;  // sorted

 private:
  struct SetInfo {
    std::string attributes;
    bool anonymous = false;
    bool kernel_filled = false;  // NFT_SET_EVAL: lines() leaves its elements out
    std::vector<std::string> elements;
  };
  struct RuleDeleter {
    void operator()(nftnl_rule* rule) const { nftnl_rule_free(rule); }
  };

  std::string rule_line(const nftnl_rule* rule) const;
  std::string set_line(const std::string& name, const SetInfo& set) const;

  bool has_table_ = false;
  std::vector<std::string> other_lines_;  // table and chains
  std::map<std::string, SetInfo> sets_;   // by name, or "#id" for a set named by id only
  std::vector<std::unique_ptr<nftnl_rule, RuleDeleter>> rules_;
};

// The image of the table a replace batch creates.
TableImage image_of_batch(const Batch& batch);

// Lines only in `expected` ("missing: ...") and only in `actual` ("unexpected: ..."), at
// most `limit` of them and then a count of the rest.
std::vector<std::string> differences(const TableImage& expected, const TableImage& actual,
                                     std::size_t limit = 20);

}  // namespace sekisho::nft
