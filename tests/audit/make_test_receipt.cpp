// Makes a session receipt from a real audit log for the command-line test
// (tests/ctl/receipt_cli.sh):
//
//   sekisho_make_test_receipt DIR     writes into DIR (which must exist):
//     receipt.json  the receipt of records 2 (session.open), 3 (session.extend) and
//                   4 (session.close); record 5 (policy.apply) travels with 4: the
//                   checkpoint came only after it, signed with the clock not synchronised
//     pubkey.pem    the device key's public half; other.pem another key's
//
// The session's reason holds an escape sequence and a right-to-left override, which the
// verifier must not pass to the terminal.

#include <fstream>
#include <iostream>
#include <string>

#include "daemon/audit/receipt.hpp"
#include "daemon/audit/signer.hpp"

using namespace sekisho::audit;

namespace {

bool write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  return static_cast<bool>(out.flush());
}

int make(const std::string& dir) {
  AuditLog log;
  Signer signer, other;
  if (log.open(dir + "/audit.db") || signer.load_or_create(dir + "/key.pem") ||
      other.load_or_create(dir + "/other-key.pem")) {
    std::cerr << "cannot make the audit log or the keys in " << dir << '\n';
    return 1;
  }
  const Actor operator_actor{1000, "yamada", "operator"};
  const Actor daemon{-1, "sekishod", "daemon"};
  struct Entry {
    const char* time;
    Actor actor;
    const char* kind;
    nlohmann::json details;
    bool checkpoint;
  };
  const Entry entries[] = {
      {"2026-11-25T10:00:00Z", daemon, "daemon.start", {{"version", "0.1.0"}}, true},
      {"2026-11-25T10:01:00Z",
       operator_actor,
       "session.open",
       {{"session", "s-1"},
        {"peer", "vendor-a"},
        {"target", "plc-1"},
        {"reason", "ticket 4711 \x1b[31mred\xe2\x80\xae"},
        {"deadline", "2026-11-25T11:01:00Z"}},
       true},
      {"2026-11-25T10:30:00Z",
       operator_actor,
       "session.extend",
       {{"session", "s-1"}, {"deadline", "2026-11-25T11:31:00Z"}},
       true},
      {"2026-11-25T11:31:00Z",
       daemon,
       "session.close",
       {{"session", "s-1"}, {"why", "expired"}, {"bytes", {{"in", 123456}, {"out", 7890}}}},
       false},
      {"2026-11-25T11:32:00Z", {0, "root", "admin"}, "policy.apply", {{"n", 5}}, true},
  };
  for (const Entry& entry : entries) {
    if (log.append(entry.time, entry.actor, entry.kind, entry.details) ||
        (entry.checkpoint &&
         log.add_checkpoint(signer, entry.time, std::string(entry.kind) != "policy.apply"))) {
      std::cerr << "cannot append to the audit log in " << dir << '\n';
      return 1;
    }
  }
  std::string error;
  const std::optional<nlohmann::json> receipt =
      make_receipt(log, {2, 3, 4}, signer.public_pem(), error);
  if (!receipt) {
    std::cerr << "no receipt: " << error << '\n';
    return 1;
  }
  const bool ok = write_text(dir + "/receipt.json", receipt->dump(2) + "\n") &&
                  write_text(dir + "/pubkey.pem", signer.public_pem()) &&
                  write_text(dir + "/other.pem", other.public_pem());
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2) {
    return make(argv[1]);
  }
  std::cerr << "usage: sekisho_make_test_receipt DIR\n";
  return 2;
}
