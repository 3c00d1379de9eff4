#pragma once
// One netlink request under construction, for every family sekisho speaks (rtnetlink,
// ctnetlink, nf_tables, generic netlink, nfnetlink_log): the netlink header, the family's
// fixed header (put_fixed, nfgen, genl), then attributes. The buffer has a fixed limit and
// every put is checked against it: a put that does not fit writes nothing and returns
// false, and overflowed() stays true from then on, so a builder may check each put or
// only the end result. Attributes are written in host byte order unless the put says
// otherwise (put_be*: ctnetlink, nf_tables and nfnetlink_log numbers are big-endian).
//
// libnftnl object payloads go through nftnl_*_nlmsg_build_payload(request.header(), ...),
// which does not check: size the limit for them (Request::kDefaultLimit is one page).

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

struct genlmsghdr;
struct nfgenmsg;
struct nlattr;
struct nlmsghdr;

namespace sekisho::net {

class Request {
 public:
  static constexpr std::size_t kDefaultLimit = 4096;

  // NLM_F_REQUEST is always set; `flags` adds NLM_F_ACK, NLM_F_DUMP, NLM_F_CREATE...
  Request(std::uint16_t type, std::uint16_t flags, std::size_t limit = kDefaultLimit);
  Request(Request&&) = default;
  Request& operator=(Request&&) = default;
  Request(const Request&) = delete;
  Request& operator=(const Request&) = delete;

  // The family's fixed header, zeroed, right after the netlink header; nullptr when it
  // does not fit. The pointer is valid until the request is moved.
  template <typename Fixed>
  Fixed* put_fixed() {
    return static_cast<Fixed*>(put_extra(sizeof(Fixed)));
  }
  // nfgenmsg (ctnetlink, nf_tables, nfnetlink_log); `res_id` in host order, written
  // big-endian as the kernel reads it.
  nfgenmsg* nfgen(std::uint8_t family, std::uint8_t version, std::uint16_t res_id);
  // genlmsghdr (generic netlink; the family id is the request's type).
  genlmsghdr* genl(std::uint8_t command, std::uint8_t version);

  bool put_u8(std::uint16_t type, std::uint8_t value);
  bool put_u16(std::uint16_t type, std::uint16_t value);
  bool put_u32(std::uint16_t type, std::uint32_t value);
  bool put_u64(std::uint16_t type, std::uint64_t value);
  bool put_be16(std::uint16_t type, std::uint16_t value);
  bool put_be32(std::uint16_t type, std::uint32_t value);
  bool put_be64(std::uint16_t type, std::uint64_t value);
  // The text and a terminating NUL; false (nothing written) for text holding a NUL.
  bool put_string(std::uint16_t type, std::string_view text);
  bool put_bytes(std::uint16_t type, const void* value, std::size_t length);

  // A nested attribute: what is put after nest() and before end() goes inside it.
  // cancel() takes the nest and everything in it back out (a builder that splits a large
  // change over several messages). A Nest still open when it goes away is ended. Only the
  // innermost open nest may be ended or cancelled.
  class Nest {
   public:
    Nest(Nest&& other) noexcept;
    Nest& operator=(Nest&&) = delete;
    ~Nest();
    // False when the nest's header did not fit: end() and cancel() then do nothing.
    explicit operator bool() const { return open_; }
    void end();
    void cancel();

   private:
    friend class Request;
    Nest(Request& request, std::uint16_t type);
    Request* request_;
    std::size_t offset_ = 0;
    bool open_ = false;
  };
  Nest nest(std::uint16_t type);

  // Whether any put did not fit.
  bool overflowed() const { return overflowed_; }
  std::size_t limit() const { return buffer_.size(); }

  nlmsghdr* header();
  const nlmsghdr* header() const;
  std::uint32_t size() const;
  // The finished message, as many bytes as nlmsg_len says.
  std::span<const std::uint8_t> bytes() const;

 private:
  void* put_extra(std::size_t size);
  nlattr* put_attribute(std::uint16_t type, const void* value, std::size_t length);

  std::vector<std::uint8_t> buffer_;
  bool overflowed_ = false;
};

}  // namespace sekisho::net
