// `sekishoctl audit verify --receipt FILE [--pubkey FILE] [--json]`: a session receipt
// checked offline, without the daemon (docs/audit-format.md, "Session receipts"), by the
// vendor who was handed it or an auditor.
//
// Exit codes: 0 verifies; 1 does not (tampered, signed by another key than --pubkey, not a
// receipt at all); 2 bad command line, which includes a --receipt or --pubkey FILE that
// cannot be read and a --pubkey FILE that is not an Ed25519 public key: nothing was checked.
//
// The records' text comes from whoever made the receipt: every string is shown with the
// characters that could move the cursor, recolour the terminal or reorder the line (control
// and bidirectional formatting characters) escaped.

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <system_error>

#include <nlohmann/json.hpp>

#include "daemon/audit/receipt.hpp"
#include "daemon/common/exit_codes.hpp"
#include "daemon/common/files.hpp"
#include "daemon/sekishoctl/commands.hpp"

namespace sekisho::ctl {

namespace {

constexpr std::size_t kMaxReceiptBytes = 16 << 20;

// The code point at `text[at]` (valid UTF-8, as parsed JSON strings are) and its length;
// -1 and 1 for a byte that starts no valid sequence.
std::pair<long, std::size_t> code_point(const std::string& text, std::size_t at) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(at);
  const std::size_t length = lead < 0x80 ? 1 : lead >> 5 == 6 ? 2 : lead >> 4 == 14 ? 3 : 4;
  if (lead >= 0xf8 || (lead >= 0x80 && lead < 0xc0) || at + length > text.size()) {
    return {-1, 1};
  }
  long value = length == 1 ? lead : lead & (0x3f >> (length - 1));
  for (std::size_t i = 1; i < length; ++i) {
    if (byte(at + i) >> 6 != 2) {
      return {-1, 1};
    }
    value = value << 6 | (byte(at + i) & 0x3f);
  }
  return {value, length};
}

// Whether a terminal shows `c` as a character of its own, in place.
bool shown_as_is(long c) {
  return c >= 0x20 && c != 0x7f && !(c >= 0x80 && c < 0xa0) && c != 0x61c &&
         !(c >= 0x200b && c <= 0x200f) && !(c >= 0x2028 && c <= 0x202e) &&
         !(c >= 0x2060 && c <= 0x206f) && c != 0xfeff && !(c >= 0xe0000 && c <= 0xe007f);
}

// A string for one line of a terminal: as it is when it is one plain word, else in double
// quotes with ", \ and what shown_as_is refuses escaped.
std::string display(const std::string& text) {
  bool plain = !text.empty();
  std::string quoted = "\"";
  for (std::size_t at = 0; at < text.size();) {
    const auto [c, length] = code_point(text, at);
    if (c == '"' || c == '\\') {
      quoted += '\\';
      quoted += static_cast<char>(c);
    } else if (c >= 0 && shown_as_is(c)) {
      quoted.append(text, at, length);
    } else {
      char escaped[32];
      if (c < 0) {
        std::snprintf(escaped, sizeof escaped, "\\x%02x", static_cast<unsigned char>(text[at]));
      } else if (c > 0xffff) {
        std::snprintf(escaped, sizeof escaped, "\\u{%lx}", c);
      } else {
        std::snprintf(escaped, sizeof escaped, "\\u%04lx", c);
      }
      quoted += escaped;
    }
    plain = plain && c > 0x20 && c != '"' && c != '\\' && c != '=' && shown_as_is(c);
    at += length;
  }
  return plain ? text : quoted + '"';
}

// `key=value ...`, keys sorted; strings as display() shows them, anything else as compact
// JSON with every non-ASCII character escaped.
std::string details_line(const nlohmann::json& details) {
  if (!details.is_object()) {
    return display(details.dump(-1, ' ', true, nlohmann::json::error_handler_t::replace));
  }
  std::string out;
  for (const auto& item : details.items()) {
    out += out.empty() ? "" : " ";
    out += display(item.key()) + "=";
    out += item.value().is_string()
               ? display(item.value().get<std::string>())
               : item.value().dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
  }
  return out;
}

nlohmann::json json_output(const std::string& receipt_path, const std::string* key_path,
                           const audit::ReceiptCheck& check) {
  nlohmann::json records = nlohmann::json::array();
  for (const audit::Record& record : check.records) {
    records.push_back(
        {{"seq", record.seq},
         {"time", record.time},
         {"actor",
          {{"uid", record.actor.uid}, {"user", record.actor.user}, {"role", record.actor.role}}},
         {"kind", record.kind},
         {"details", record.details}});
  }
  nlohmann::json checkpoints = nlohmann::json::array();
  for (const audit::Checkpoint& checkpoint : check.checkpoints) {
    checkpoints.push_back({{"seq", checkpoint.seq},
                           {"hash", checkpoint.hash},
                           {"time", checkpoint.time},
                           {"clock_synchronised", checkpoint.clock_synchronised}});
  }
  return {
      {"receipt", receipt_path},
      {"pubkey", key_path ? nlohmann::json(*key_path) : nlohmann::json(nullptr)},
      {"ok", check.ok},
      {"reason", check.reason},
      {"key_fingerprint", check.key_fingerprint.empty() ? nlohmann::json(nullptr)
                                                        : nlohmann::json(check.key_fingerprint)},
      {"key_pinned", check.key_pinned},
      {"records", std::move(records)},
      {"checkpoints", std::move(checkpoints)},
  };
}

void text_output(const std::string& receipt_path, const audit::ReceiptCheck& check, Io& io) {
  if (!check.ok) {
    io.out << "receipt " << receipt_path << " does NOT verify: " << check.reason << '\n';
    return;
  }
  for (const audit::Record& record : check.records) {
    io.out << record.seq << ' ' << display(record.time) << ' ' << display(record.actor.user) << " ("
           << display(record.actor.role) << ") " << display(record.kind);
    const std::string details = details_line(record.details);
    io.out << (details.empty() ? "" : " ") << details << '\n';
  }
  const std::size_t records = check.records.size(), checkpoints = check.checkpoints.size();
  io.out << "receipt verifies: " << records << (records == 1 ? " record" : " records") << " in "
         << checkpoints << (checkpoints == 1 ? " signed checkpoint" : " signed checkpoints")
         << ", key " << check.key_fingerprint << '\n';
  for (const audit::Checkpoint& checkpoint : check.checkpoints) {
    if (!checkpoint.clock_synchronised) {
      io.out << "note: the device's clock was not synchronised when it signed the checkpoint "
                "of record "
             << checkpoint.seq << " (" << display(checkpoint.time)
             << "): the times up to it may be wrong\n";
    }
  }
}

}  // namespace

int run_audit_verify_receipt(const Args& args, Io& io) {
  const char* usage = "usage: sekishoctl audit verify --receipt FILE [--pubkey FILE] [--json]\n";
  if (!(args.positional.empty() ||
        (args.positional.size() == 1 && args.positional[0] == "verify"))) {
    io.err << "sekishoctl audit verify: unexpected argument\n" << usage;
    return kExitUsage;
  }
  const std::string* receipt_path = args.value("receipt");
  const std::string* key_path = args.value("pubkey");
  if (!receipt_path || args.value("bundle")) {
    io.err << "sekishoctl audit verify: give one of --receipt FILE and --bundle FILE\n" << usage;
    return kExitUsage;
  }
  std::string pinned;
  if (key_path) {
    std::optional<std::string> public_pem = read_audit_public_key(*key_path, io);
    if (!public_pem) {
      return kExitUsage;
    }
    pinned = std::move(*public_pem);
  }
  std::error_code error;
  const std::optional<std::string> text = read_small_file(*receipt_path, kMaxReceiptBytes, error);
  audit::ReceiptCheck check;
  if (!text && error != std::errc::file_too_large) {
    io.err << "sekishoctl audit verify: cannot read the receipt " << *receipt_path << ": "
           << error.message() << '\n';
    return kExitUsage;
  }
  if (!text) {
    check.reason = "not a receipt: larger than 16 MiB";
  } else if (std::optional<nlohmann::json> receipt = audit::parse_receipt(*text, check.reason)) {
    check = audit::verify_receipt(*receipt, pinned);
  }

  if (args.json) {
    io.out << json_output(*receipt_path, key_path, check)
                  .dump(2, ' ', false, nlohmann::json::error_handler_t::replace)
           << '\n';
  } else {
    text_output(*receipt_path, check, io);
  }
  if (check.ok && !check.key_pinned) {
    io.err << "warning: no --pubkey: the receipt was checked with the key it carries itself, "
              "which anyone can make. It proves something only if "
           << check.key_fingerprint
           << " is the gateway's key: compare it with the key its operator gives you another "
              "way ('sekishoctl audit pubkey' on the gateway), and verify with --pubkey FILE.\n";
  }
  return check.ok ? kExitOk : kExitNegative;
}

}  // namespace sekisho::ctl
