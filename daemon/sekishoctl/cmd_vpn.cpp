// `sekishoctl vpn genkey --out FILE`: a WireGuard private key made here, on the box, into a
// new file of mode 0600 holding base64 and a newline exactly as `wg genkey` writes it; the
// public key (what the peers need) is printed. Works without the daemon.
//
// A key file is never overwritten: an existing FILE is refused (65), so a slip cannot
// replace the key every peer trusts.

#include <string>
#include <system_error>

#include <nlohmann/json.hpp>

#include "daemon/common/exit_codes.hpp"
#include "daemon/common/files.hpp"
#include "daemon/sekishoctl/commands.hpp"
#include "daemon/vpn/keys.hpp"

namespace sekisho::ctl {

namespace {

constexpr const char* kUsage = "usage: sekishoctl vpn genkey --out FILE [--json]\n";

int genkey(const Args& args, Io& io) {
  const std::string* out = args.value("out");
  if (!out || out->empty()) {
    io.err << "sekishoctl vpn genkey: --out FILE is required (the key never goes to a "
              "terminal)\n"
           << kUsage;
    return kExitUsage;
  }
  const std::optional<vpn::Key> private_key = vpn::generate_private_key();
  const std::optional<vpn::Key> public_key =
      private_key ? vpn::public_key_of(*private_key) : std::nullopt;
  if (!public_key) {
    io.err << "sekishoctl vpn genkey: no key could be made (OpenSSL's random source or "
              "X25519 failed)\n";
    return kExitNegative;
  }
  if (std::error_code error = write_new_file(*out, vpn::key_to_base64(*private_key) + "\n", 0600)) {
    io.err << "sekishoctl vpn genkey: " << *out << ": " << error.message();
    if (error == std::errc::file_exists) {
      io.err << " (a key file is never overwritten; remove it first if it is really "
                "unused)\n";
      return kExitInvalid;
    }
    io.err << '\n';
    const bool denied =
        error == std::errc::permission_denied || error == std::errc::operation_not_permitted;
    return denied ? kExitForbidden : kExitNegative;
  }
  const std::string public_text = vpn::key_to_base64(*public_key);
  if (args.json) {
    io.out << nlohmann::json{{"file", *out}, {"public_key", public_text}}.dump() << '\n';
  } else {
    io.out << public_text << '\n';
  }
  return kExitOk;
}

}  // namespace

int run_vpn(const Args& args, Io& io) {
  if (args.positional.size() == 1 && args.positional[0] == "genkey") {
    return genkey(args, io);
  }
  io.err << "sekishoctl vpn: "
         << (args.positional.empty() ? std::string("a subcommand is required")
                                     : "unknown subcommand '" + args.positional[0] + "'")
         << '\n'
         << kUsage;
  return kExitUsage;
}

}  // namespace sekisho::ctl
