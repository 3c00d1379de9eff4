#include "daemon/nft/readback.hpp"

#include <cerrno>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/gen.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include "daemon/net/netlink_request.hpp"
#include "daemon/net/netlink_transaction.hpp"
#include "daemon/nft/attributes.hpp"

namespace sekisho::nft {

namespace {

// Requests and their answers on the nftables socket, one at a time.
class Reader {
 public:
  explicit Reader(net::NetlinkSocket& socket) : socket_(socket) {}

  // Sends one request and feeds every reply message to `on_message`. Returns the errno
  // the kernel answered with (0 when none).
  using OnMessage = std::function<void(const nlmsghdr*)>;
  int request(std::uint16_t type, std::uint16_t flags,
              const std::function<void(net::Request&)>& payload, const OnMessage& on_message) {
    net::Request request(0, 0, MNL_SOCKET_BUFFER_SIZE);
    // libnftnl's header: the subsystem in the type, nfgenmsg of family inet.
    nftnl_nlmsg_build_hdr(reinterpret_cast<char*>(request.header()), type, NFPROTO_INET, flags, 0);
    if (payload) {
      payload(request);
    }
    // Whatever an earlier request left waiting (the rest of an interrupted dump) is
    // discarded before this one goes out.
    const std::error_code error =
        net::transact(socket_, request, [&](const nlmsghdr* nlh) -> std::error_code {
          const auto* header = net::fixed_header<nfgenmsg>(nlh);
          if (header == nullptr) {
            return std::make_error_code(std::errc::bad_message);
          }
          if (checking_ &&
              ((nlh->nlmsg_flags & NLM_F_DUMP_INTR) || ntohs(header->res_id) != generation_)) {
            consistent_ = false;
          }
          on_message(nlh);
          return {};
        });
    return error ? error.value() : 0;
  }

  // A reply is consistent when it carries the generation the dump started at and the
  // kernel did not mark the dump as interrupted by a commit.
  bool consistent() const { return consistent_; }
  void expect_generation(std::uint32_t genid) {
    generation_ = static_cast<std::uint16_t>(genid & 0xffff);
    checking_ = true;
    consistent_ = true;
  }

 private:
  net::NetlinkSocket& socket_;
  std::uint16_t generation_ = 0;
  bool checking_ = false;
  bool consistent_ = true;
};

int genid_of(Reader& reader, std::uint32_t& genid) {
  return reader.request(NFT_MSG_GETGEN, NLM_F_ACK, nullptr, [&genid](const nlmsghdr* nlh) {
    std::unique_ptr<nftnl_gen, decltype(&nftnl_gen_free)> gen(nftnl_gen_alloc(), nftnl_gen_free);
    if (nftnl_gen_nlmsg_parse(nlh, gen.get()) >= 0) {
      genid = nftnl_gen_get_u32(gen.get(), NFTNL_GEN_ID);
    }
  });
}

// One attempt at a consistent dump; false when a commit raced it.
bool dump_once(Reader& reader, const std::string& table, Readback& out) {
  out.image = TableImage{};
  if (int error = genid_of(reader, out.genid)) {
    out.error = std::error_code(error, std::system_category());
    return true;
  }
  reader.expect_generation(out.genid);
  auto keep_ours = [&](const nlmsghdr* nlh) {
    // Reader::request has checked that the message holds its nfgenmsg.
    const auto* header = net::fixed_header<nfgenmsg>(nlh);
    std::string owner;
    std::string object;
    object_names(nlh, owner, object);
    if (header->nfgen_family == NFPROTO_INET && owner == table) {
      out.image.add_message(nlh);
    }
  };
  int error = reader.request(
      NFT_MSG_GETTABLE, NLM_F_ACK,
      [&](net::Request& request) { request.put_string(NFTA_TABLE_NAME, table); }, keep_ours);
  if (error == ENOENT) {
    return reader.consistent();
  }
  auto by_table = [&](net::Request& request) { request.put_string(1, table); };
  std::vector<std::string> set_names;
  auto note_set = [&](const nlmsghdr* nlh) {
    keep_ours(nlh);
    std::unique_ptr<nftnl_set, decltype(&nftnl_set_free)> s(nftnl_set_alloc(), nftnl_set_free);
    if (nftnl_set_nlmsg_parse(nlh, s.get()) >= 0 &&
        nftnl_set_get_str(s.get(), NFTNL_SET_TABLE) == table) {
      set_names.push_back(nftnl_set_get_str(s.get(), NFTNL_SET_NAME));
    }
  };
  if (!error)
    error = reader.request(NFT_MSG_GETCHAIN, NLM_F_DUMP, by_table, keep_ours);
  if (!error)
    error = reader.request(NFT_MSG_GETSET, NLM_F_DUMP, by_table, note_set);
  for (const std::string& set : set_names) {
    if (error)
      break;
    error = reader.request(
        NFT_MSG_GETSETELEM, NLM_F_DUMP,
        [&](net::Request& request) {
          request.put_string(NFTA_SET_ELEM_LIST_TABLE, table);
          request.put_string(NFTA_SET_ELEM_LIST_SET, set);
        },
        keep_ours);
  }
  if (!error)
    error = reader.request(NFT_MSG_GETRULE, NLM_F_DUMP, by_table, keep_ours);
  if (error == ENOENT || error == EINTR) {
    return false;  // the table or a set went away during the dump: take it again
  }
  if (error) {
    out.error = std::error_code(error, std::system_category());
    return true;
  }
  return reader.consistent();
}

}  // namespace

Readback read_table(Socket& socket, const std::string& table) {
  Readback out;
  Reader reader(socket.netlink());
  for (int attempt = 0; attempt < 10; ++attempt) {
    if (dump_once(reader, table, out)) {
      return out;
    }
  }
  out.error = std::make_error_code(std::errc::resource_unavailable_try_again);
  return out;
}

Readback read_table(const std::string& table) {
  Socket socket;
  if (std::error_code error = socket.open()) {
    Readback out;
    out.error = error;
    return out;
  }
  return read_table(socket, table);
}

namespace {

KernelElement kernel_element(nftnl_set_elem* element) {
  KernelElement kept;
  std::uint32_t length = 0;
  if (nftnl_set_elem_is_set(element, NFTNL_SET_ELEM_KEY)) {
    const auto* key =
        static_cast<const std::uint8_t*>(nftnl_set_elem_get(element, NFTNL_SET_ELEM_KEY, &length));
    kept.key.assign(key, key + length);
  }
  if (nftnl_set_elem_is_set(element, NFTNL_SET_ELEM_EXPIRATION)) {
    kept.expires_ms = nftnl_set_elem_get_u64(element, NFTNL_SET_ELEM_EXPIRATION);
  }
  nftnl_set_elem_expr_foreach(
      element,
      [](nftnl_expr* expression, void* data) {
        auto* into = static_cast<KernelElement*>(data);
        const char* name = nftnl_expr_get_str(expression, NFTNL_EXPR_NAME);
        if (name != nullptr && std::string_view(name) == "counter") {
          into->packets = nftnl_expr_get_u64(expression, NFTNL_EXPR_CTR_PACKETS);
          into->bytes = nftnl_expr_get_u64(expression, NFTNL_EXPR_CTR_BYTES);
        }
        return 0;
      },
      &kept);
  return kept;
}

}  // namespace

SetElements read_set_elements(Socket& socket, const std::string& table, const std::string& set,
                              std::size_t limit) {
  SetElements out;
  Reader reader(socket.netlink());
  auto take = [&](const nlmsghdr* nlh) {
    std::unique_ptr<nftnl_set, decltype(&nftnl_set_free)> parsed(nftnl_set_alloc(), nftnl_set_free);
    if (nftnl_set_elems_nlmsg_parse(nlh, parsed.get()) < 0) {
      return;
    }
    struct Walk {
      SetElements& out;
      std::size_t limit;
    } walk{out, limit};
    nftnl_set_elem_foreach(
        parsed.get(),
        [](nftnl_set_elem* element, void* data) {
          auto& [into, most] = *static_cast<Walk*>(data);
          if (into.elements.size() >= most) {
            into.truncated = true;
            return 0;
          }
          into.elements.push_back(kernel_element(element));
          return 0;
        },
        &walk);
  };
  const int error = reader.request(
      NFT_MSG_GETSETELEM, NLM_F_DUMP,
      [&](net::Request& request) {
        request.put_string(NFTA_SET_ELEM_LIST_TABLE, table);
        request.put_string(NFTA_SET_ELEM_LIST_SET, set);
      },
      take);
  if (error) {
    out.error = std::error_code(error, std::system_category());
  }
  return out;
}

std::error_code read_genid(Socket& socket, std::uint32_t& genid) {
  Reader reader(socket.netlink());
  if (int error = genid_of(reader, genid)) {
    return std::error_code(error, std::system_category());
  }
  return {};
}

}  // namespace sekisho::nft
