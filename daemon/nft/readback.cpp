#include "daemon/nft/readback.hpp"

#include <cerrno>
#include <functional>
#include <memory>
#include <vector>

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/gen.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

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
              const std::function<void(nlmsghdr*)>& payload, const OnMessage& on_message) {
    std::vector<char> buffer(MNL_SOCKET_BUFFER_SIZE);
    const std::uint32_t seq = socket_.next_sequence();
    nlmsghdr* nlh = nftnl_nlmsg_build_hdr(buffer.data(), type, NFPROTO_INET, flags, seq);
    if (payload) {
      payload(nlh);
    }
    // Whatever an earlier request left waiting (the rest of an interrupted dump) is
    // discarded before this one goes out.
    if (std::error_code error = socket_.send(nlh, nlh->nlmsg_len)) {
      return error.value();
    }
    on_message_ = &on_message;
    const std::error_code error = socket_.run_until_stop(seq, &Reader::on_data, this);
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
  static int on_data(const nlmsghdr* nlh, void* data) {
    auto* self = static_cast<Reader*>(data);
    if (self->checking_) {
      const auto* header = static_cast<const nfgenmsg*>(mnl_nlmsg_get_payload(nlh));
      if ((nlh->nlmsg_flags & NLM_F_DUMP_INTR) || ntohs(header->res_id) != self->generation_) {
        self->consistent_ = false;
      }
    }
    (*self->on_message_)(nlh);
    return MNL_CB_OK;
  }

  net::NetlinkSocket& socket_;
  const OnMessage* on_message_ = nullptr;
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
    out.error = std::error_code(error, std::generic_category());
    return true;
  }
  reader.expect_generation(out.genid);
  auto keep_ours = [&](const nlmsghdr* nlh) {
    const auto* header = static_cast<const nfgenmsg*>(mnl_nlmsg_get_payload(nlh));
    std::string owner;
    std::string object;
    object_names(nlh, owner, object);
    if (header->nfgen_family == NFPROTO_INET && owner == table) {
      out.image.add_message(nlh);
    }
  };
  int error = reader.request(
      NFT_MSG_GETTABLE, NLM_F_ACK,
      [&](nlmsghdr* nlh) { mnl_attr_put_strz(nlh, NFTA_TABLE_NAME, table.c_str()); }, keep_ours);
  if (error == ENOENT) {
    return reader.consistent();
  }
  auto by_table = [&](nlmsghdr* nlh) { mnl_attr_put_strz(nlh, 1, table.c_str()); };
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
        [&](nlmsghdr* nlh) {
          mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, table.c_str());
          mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, set.c_str());
        },
        keep_ours);
  }
  if (!error)
    error = reader.request(NFT_MSG_GETRULE, NLM_F_DUMP, by_table, keep_ours);
  if (error == ENOENT || error == EINTR) {
    return false;  // the table or a set went away during the dump: take it again
  }
  if (error) {
    out.error = std::error_code(error, std::generic_category());
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

std::error_code read_genid(Socket& socket, std::uint32_t& genid) {
  Reader reader(socket.netlink());
  if (int error = genid_of(reader, genid)) {
    return std::error_code(error, std::generic_category());
  }
  return {};
}

}  // namespace sekisho::nft
