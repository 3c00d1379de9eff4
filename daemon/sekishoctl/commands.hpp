#pragma once
// sekishoctl's commands. Each returns an exit code (daemon/common/exit_codes.hpp).

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "daemon/sekishoctl/args.hpp"
#include "daemon/sekishoctl/command.hpp"

namespace sekisho::ctl {

// sekishoctl's own commands, in the order 'sekishoctl --help' lists them (core_commands.cpp).
std::span<const Command> core_commands();

// The command list: the core commands, then `extra` in its order. `extra` is where the
// commands plugins register are appended.
std::vector<Command> command_list(std::span<const Command> extra);

// The commands sekishoctl runs, completes and lists: command_list with the commands of
// the plugins' sekishoctl parts (plugins/ctl_part.hpp), in registry order. Made once.
const std::vector<Command>& commands();

// The command of `list` called `name`, or nullptr.
const Command* command_named(std::span<const Command> list, std::string_view name);

// The first thing wrong with `list`, or nullopt: a name used twice or reserved ("help"), an
// option twice, one clashing with a global option, or naming a subcommand its command lacks,
// words without Value::Word. sekisho_gen_completion fails the build on one.
std::optional<std::string> command_list_problem(std::span<const Command> list);

// The bash completion script for `list` (sekisho_gen_completion writes it).
std::string bash_completion(std::span<const Command> list);

int run_check(const Args& args, Io& io);
int run_compile(const Args& args, Io& io);
int run_explain(const Args& args, Io& io);
int run_verify(const Args& args, Io& io);
int run_verify_daemon(const Args& args, Io& io);
int run_status(const Args& args, Io& io);
int run_methods(const Args& args, Io& io);
int run_audit(const Args& args, Io& io);
// `audit verify --bundle FILE --pubkey FILE`: an exported bundle checked offline, without
// the daemon. 0 intact, 1 tampered or corrupt, 2 bad command line or unreadable FILE.
int run_audit_verify_bundle(const Args& args, Io& io);
// `audit verify --receipt FILE [--pubkey FILE]`: a session receipt checked offline. 0
// verifies, 1 does not, 2 bad command line or unreadable FILE.
int run_audit_verify_receipt(const Args& args, Io& io);
// The Ed25519 public key (PEM) at `path` for an offline check; nullopt, and why on io.err,
// when it cannot be read or is no such key (exit 2: nothing was checked).
std::optional<std::string> read_audit_public_key(const std::string& path, Io& io);
int run_audit_export(const Args& args, Io& io);
int run_apply(const Args& args, Io& io);
int run_confirm(const Args& args, Io& io);
int run_rollback(const Args& args, Io& io);
// `decommission [--yes]`: local, without the daemon (it refuses while one runs). Exports the
// audit log as a verified bundle, then destroys the configuration and state directories.
int run_decommission(const Args& args, Io& io);
int run_vpn(const Args& args, Io& io);
int run_session(const Args& args, Io& io);
int run_link(const Args& args, Io& io);
int run_schedule(const Args& args, Io& io);
// The WAN link's state as status, link and schedule print it (a wan_status_json object).
void print_wan(std::ostream& out, const nlohmann::json& wan);
int run_cloud(const Args& args, Io& io);
// The cloud bridge as status and cloud print it (a cloud.status result).
void print_cloud(std::ostream& out, const nlohmann::json& cloud);

// Bytes as wg shows them: "1.50 MiB".
std::string human_bytes(std::uint64_t bytes);

}  // namespace sekisho::ctl
