#include "daemon/nft/image.hpp"

#include <algorithm>
#include <cstdio>
#include <iterator>

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include "daemon/common/sha256.hpp"
#include "daemon/nft/attributes.hpp"

namespace sekisho::nft {

namespace {

template <typename T, void (*Free)(T*)>
struct Owned {
  T* object;
  Owned(T* allocated) : object(allocated) {}
  ~Owned() { Free(object); }
  Owned(const Owned&) = delete;
  Owned& operator=(const Owned&) = delete;
};

void free_table(nftnl_table* t) {
  nftnl_table_free(t);
}
void free_chain(nftnl_chain* c) {
  nftnl_chain_free(c);
}
void free_set(nftnl_set* s) {
  nftnl_set_free(s);
}

// Our anonymous sets are all "__set%d" until the kernel numbers them; their id (which
// libnftnl does not parse from element messages) tells them apart.
std::string set_key(const nftnl_set* set, const nlmsghdr* nlh, std::uint16_t id_attribute) {
  std::string name = nftnl_set_get_str(set, NFTNL_SET_NAME);
  if (name.find('%') == std::string::npos) {
    return name;
  }
  std::string key = name;
  for_each_attribute(nlh, [&](const nlattr* attr) {
    std::uint32_t id = 0;
    if (net::attribute_type(attr) == id_attribute && net::read_be(attr, id)) {
      key = "#" + std::to_string(id);
    }
  });
  return key;
}

std::string u32_attribute(const nftnl_set* set, std::uint16_t attribute, const char* label) {
  if (!nftnl_set_is_set(set, attribute)) {
    return "";
  }
  return std::string(" ") + label + " " + std::to_string(nftnl_set_get_u32(set, attribute));
}

std::string set_attributes(const nftnl_set* set) {
  std::string out = "flags " + std::to_string(nftnl_set_get_u32(set, NFTNL_SET_FLAGS));
  out += u32_attribute(set, NFTNL_SET_KEY_TYPE, "key-type");
  out += u32_attribute(set, NFTNL_SET_KEY_LEN, "key-len");
  out += u32_attribute(set, NFTNL_SET_DATA_TYPE, "data-type");
  if (nftnl_set_is_set(set, NFTNL_SET_DESC_CONCAT)) {
    std::uint32_t length = 0;
    const void* fields = nftnl_set_get_data(set, NFTNL_SET_DESC_CONCAT, &length);
    out += " concat " + to_hex(fields, length);
  }
  if (nftnl_set_is_set(set, NFTNL_SET_DESC_SIZE)) {
    out += " size " + std::to_string(nftnl_set_get_u32(set, NFTNL_SET_DESC_SIZE));
  }
  if (nftnl_set_is_set(set, NFTNL_SET_TIMEOUT)) {
    out += " timeout " + std::to_string(nftnl_set_get_u64(set, NFTNL_SET_TIMEOUT));
  }
  if (nftnl_set_is_set(set, NFTNL_SET_USERDATA)) {
    std::uint32_t length = 0;
    const void* data = nftnl_set_get_data(set, NFTNL_SET_USERDATA, &length);
    out += " userdata " + to_hex(data, length);
  }
  return out;
}

std::string element_line(nftnl_set_elem* element) {
  std::string out;
  std::uint32_t length = 0;
  if (nftnl_set_elem_is_set(element, NFTNL_SET_ELEM_KEY)) {
    const void* key = nftnl_set_elem_get(element, NFTNL_SET_ELEM_KEY, &length);
    out += "key " + to_hex(key, length);
  }
  if (nftnl_set_elem_is_set(element, NFTNL_SET_ELEM_KEY_END)) {
    const void* end = nftnl_set_elem_get(element, NFTNL_SET_ELEM_KEY_END, &length);
    out += " end " + to_hex(end, length);
  }
  if (nftnl_set_elem_is_set(element, NFTNL_SET_ELEM_DATA)) {
    const void* data = nftnl_set_elem_get(element, NFTNL_SET_ELEM_DATA, &length);
    out += " data " + to_hex(data, length);
  }
  if (nftnl_set_elem_is_set(element, NFTNL_SET_ELEM_VERDICT)) {
    out +=
        " verdict " +
        std::to_string(static_cast<int>(nftnl_set_elem_get_u32(element, NFTNL_SET_ELEM_VERDICT)));
  }
  if (nftnl_set_elem_is_set(element, NFTNL_SET_ELEM_CHAIN)) {
    out += std::string(" chain ") + nftnl_set_elem_get_str(element, NFTNL_SET_ELEM_CHAIN);
  }
  return out;
}

std::uint32_t u32_or_zero(const nftnl_expr* e, std::uint16_t attribute) {
  return nftnl_expr_is_set(e, attribute) ? nftnl_expr_get_u32(e, attribute) : 0;
}

// An expression by libnftnl's own text, a counter without its values (they change with
// traffic).
std::string plain_expression(nftnl_expr* e) {
  const std::string name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);
  if (name == "counter") {
    return name;
  }
  char buffer[1024];
  nftnl_expr_snprintf(buffer, sizeof buffer, e, NFTNL_OUTPUT_DEFAULT, 0);
  return name + " " + buffer;
}

// A set update from the packet path as both sides give it: the kernel dumps the set's
// name but not its id, a timeout also when it is zero, the counters of the statements it
// keeps per element, and not NFT_DYNSET_F_EXPR (which only says that several follow).
std::string dynset_text(nftnl_expr* e) {
  std::string out = " op " + std::to_string(u32_or_zero(e, NFTNL_EXPR_DYNSET_OP)) + " sreg " +
                    std::to_string(u32_or_zero(e, NFTNL_EXPR_DYNSET_SREG_KEY));
  if (nftnl_expr_is_set(e, NFTNL_EXPR_DYNSET_SREG_DATA)) {
    out += " dreg " + std::to_string(nftnl_expr_get_u32(e, NFTNL_EXPR_DYNSET_SREG_DATA));
  }
  const std::uint64_t timeout = nftnl_expr_is_set(e, NFTNL_EXPR_DYNSET_TIMEOUT)
                                    ? nftnl_expr_get_u64(e, NFTNL_EXPR_DYNSET_TIMEOUT)
                                    : 0;
  out +=
      " timeout " + std::to_string(timeout) + " flags " +
      std::to_string(u32_or_zero(e, NFTNL_EXPR_DYNSET_FLAGS) & ~std::uint32_t{NFT_DYNSET_F_EXPR}) +
      " set " + nftnl_expr_get_str(e, NFTNL_EXPR_DYNSET_SET_NAME) + " {";
  nftnl_expr_expr_foreach(
      e,
      [](nftnl_expr* nested, void* text) {
        *static_cast<std::string*>(text) += " " + plain_expression(nested) + ";";
        return 0;
      },
      &out);
  return out + " }";
}

}  // namespace

bool TableImage::add_message(const nlmsghdr* nlh) {
  if ((nlh->nlmsg_type >> 8) != NFNL_SUBSYS_NFTABLES) {
    return true;
  }
  switch (nlh->nlmsg_type & 0xff) {
    case NFT_MSG_NEWTABLE: {
      Owned<nftnl_table, free_table> t(nftnl_table_alloc());
      if (nftnl_table_nlmsg_parse(nlh, t.object) < 0) {
        return false;
      }
      if (!has_table_) {
        has_table_ = true;
        const std::uint32_t flags = nftnl_table_is_set(t.object, NFTNL_TABLE_FLAGS)
                                        ? nftnl_table_get_u32(t.object, NFTNL_TABLE_FLAGS)
                                        : 0;
        other_lines_.push_back(std::string("table ") +
                               nftnl_table_get_str(t.object, NFTNL_TABLE_NAME) + " flags " +
                               std::to_string(flags));
      }
      return true;
    }
    case NFT_MSG_NEWCHAIN: {
      Owned<nftnl_chain, free_chain> c(nftnl_chain_alloc());
      if (nftnl_chain_nlmsg_parse(nlh, c.object) < 0) {
        return false;
      }
      std::string line = std::string("chain ") + nftnl_chain_get_str(c.object, NFTNL_CHAIN_NAME);
      if (nftnl_chain_is_set(c.object, NFTNL_CHAIN_HOOKNUM)) {
        line += " hook " + std::to_string(nftnl_chain_get_u32(c.object, NFTNL_CHAIN_HOOKNUM)) +
                " priority " + std::to_string(nftnl_chain_get_s32(c.object, NFTNL_CHAIN_PRIO)) +
                " type " + nftnl_chain_get_str(c.object, NFTNL_CHAIN_TYPE) + " policy " +
                std::to_string(nftnl_chain_get_u32(c.object, NFTNL_CHAIN_POLICY));
      }
      other_lines_.push_back(std::move(line));
      return true;
    }
    case NFT_MSG_NEWSET: {
      Owned<nftnl_set, free_set> s(nftnl_set_alloc());
      if (nftnl_set_nlmsg_parse(nlh, s.object) < 0) {
        return false;
      }
      const std::string key = set_key(s.object, nlh, NFTA_SET_ID);
      SetInfo& info = sets_[key];
      info.attributes = set_attributes(s.object);
      info.anonymous = (nftnl_set_get_u32(s.object, NFTNL_SET_FLAGS) & NFT_SET_ANONYMOUS) != 0;
      info.kernel_filled = (nftnl_set_get_u32(s.object, NFTNL_SET_FLAGS) & NFT_SET_EVAL) != 0;
      return true;
    }
    case NFT_MSG_NEWSETELEM: {
      Owned<nftnl_set, free_set> s(nftnl_set_alloc());
      if (nftnl_set_elems_nlmsg_parse(nlh, s.object) < 0) {
        return false;
      }
      SetInfo& info = sets_[set_key(s.object, nlh, NFTA_SET_ELEM_LIST_SET_ID)];
      nftnl_set_elems_iter* it = nftnl_set_elems_iter_create(s.object);
      for (nftnl_set_elem* e = nftnl_set_elems_iter_next(it); e;
           e = nftnl_set_elems_iter_next(it)) {
        info.elements.push_back(element_line(e));
      }
      nftnl_set_elems_iter_destroy(it);
      return true;
    }
    case NFT_MSG_NEWRULE: {
      std::unique_ptr<nftnl_rule, RuleDeleter> r(nftnl_rule_alloc());
      if (nftnl_rule_nlmsg_parse(nlh, r.get()) < 0) {
        return false;
      }
      rules_.push_back(std::move(r));
      return true;
    }
    default:
      return true;
  }
}

std::string TableImage::set_line(const std::string& name, const SetInfo& set) const {
  return "set " + name + " " + set.attributes;
}

std::string TableImage::rule_line(const nftnl_rule* rule) const {
  std::string out;
  nftnl_expr_iter* it = nftnl_expr_iter_create(rule);
  for (nftnl_expr* e = nftnl_expr_iter_next(it); e; e = nftnl_expr_iter_next(it)) {
    const std::string name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);
    out += out.empty() ? "" : "; ";
    out += name;
    if (name == "counter") {
      continue;  // its values change with traffic
    }
    if (name == "lookup") {
      out += " sreg " + std::to_string(u32_or_zero(e, NFTNL_EXPR_LOOKUP_SREG));
      if (nftnl_expr_is_set(e, NFTNL_EXPR_LOOKUP_DREG)) {
        out += " dreg " + std::to_string(nftnl_expr_get_u32(e, NFTNL_EXPR_LOOKUP_DREG));
      }
      out += " flags " + std::to_string(u32_or_zero(e, NFTNL_EXPR_LOOKUP_FLAGS));
      std::string set = nftnl_expr_get_str(e, NFTNL_EXPR_LOOKUP_SET);
      if (set.find('%') != std::string::npos) {
        set = "#" + std::to_string(u32_or_zero(e, NFTNL_EXPR_LOOKUP_SET_ID));
      }
      auto found = sets_.find(set);
      if (found != sets_.end() && found->second.anonymous) {
        std::vector<std::string> elements = found->second.elements;
        std::sort(elements.begin(), elements.end());
        out += " anonymous set " + found->second.attributes + " {";
        for (const std::string& element : elements) {
          out += " " + element + ",";
        }
        out += " }";
      } else {
        out += " set " + set;
      }
      continue;
    }
    if (name == "dynset") {
      out += dynset_text(e);
      continue;
    }
    char buffer[1024];
    nftnl_expr_snprintf(buffer, sizeof buffer, e, NFTNL_OUTPUT_DEFAULT, 0);
    out += " ";
    out += buffer;
  }
  nftnl_expr_iter_destroy(it);
  return out;
}

std::vector<std::string> TableImage::take_elements(const std::string& set) {
  std::vector<std::string> out;
  auto found = sets_.find(set);
  if (found != sets_.end()) {
    for (const std::string& element : found->second.elements) {
      out.push_back("element " + set + " " + element);
    }
    found->second.elements.clear();
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> TableImage::lines() const {
  std::vector<std::string> out = other_lines_;
  for (const auto& [key, set] : sets_) {
    if (set.anonymous) {
      continue;
    }
    out.push_back(set_line(key, set));
    if (set.kernel_filled) {
      continue;  // its elements are the kernel's own doing
    }
    for (const std::string& element : set.elements) {
      out.push_back("element " + key + " " + element);
    }
  }
  std::map<std::string, int> index_in_chain;
  for (const auto& rule : rules_) {
    const std::string chain = nftnl_rule_get_str(rule.get(), NFTNL_RULE_CHAIN);
    out.push_back("rule " + chain + " " + std::to_string(++index_in_chain[chain]) + ": " +
                  rule_line(rule.get()));
  }
  std::sort(out.begin(), out.end());
  return out;
}

TableImage image_of_batch(const Batch& batch) {
  TableImage image;
  const auto* data = batch.bytes.data();
  int remaining = static_cast<int>(batch.bytes.size());
  for (auto* nlh = reinterpret_cast<const nlmsghdr*>(data); mnl_nlmsg_ok(nlh, remaining);
       nlh = mnl_nlmsg_next(nlh, &remaining)) {
    image.add_message(nlh);
  }
  return image;
}

std::vector<std::string> differences(const TableImage& expected, const TableImage& actual,
                                     std::size_t limit) {
  const std::vector<std::string> want = expected.lines();
  const std::vector<std::string> have = actual.lines();
  std::vector<std::string> missing;
  std::vector<std::string> unexpected;
  std::set_difference(want.begin(), want.end(), have.begin(), have.end(),
                      std::back_inserter(missing));
  std::set_difference(have.begin(), have.end(), want.begin(), want.end(),
                      std::back_inserter(unexpected));
  std::vector<std::string> out;
  for (const std::string& line : missing) {
    out.push_back("missing: " + line);
  }
  for (const std::string& line : unexpected) {
    out.push_back("unexpected: " + line);
  }
  if (out.size() > limit) {
    const std::size_t more = out.size() - limit;
    out.resize(limit);
    out.push_back("... and " + std::to_string(more) + " more differences");
  }
  return out;
}

}  // namespace sekisho::nft
