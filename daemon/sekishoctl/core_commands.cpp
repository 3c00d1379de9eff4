// sekishoctl's own commands: their help, options and subcommands (command.hpp). Plugins'
// commands are appended to these by command_list (command_list.cpp).

#include <array>

#include "daemon/sekishoctl/commands.hpp"

namespace sekisho::ctl {

namespace {

// What the completion offers for a duration.
constexpr std::string_view kDurations = "15m 30m 1h 2h 4h";

constexpr Option kExplainOptions[] = {
    {.name = "from", .value = Value::Word, .words = "gateway"},
    {.name = "to", .value = Value::Word, .words = "gateway"},
    {.name = "proto", .value = Value::Word, .words = "tcp udp icmp icmpv6"},
    {.name = "port"},
    {.name = "type",
     .value = Value::Word,
     .words = "echo-request echo-reply destination-unreachable time-exceeded parameter-problem"},
    {.name = "at"},
};

constexpr Option kApplyOptions[] = {
    {.name = "confirm-within", .value = Value::Word, .words = "90s 5m 10m 30m 1h"},
};

constexpr Option kAuditOptions[] = {
    {.name = "since", .subcommands = "show export"},
    {.name = "kind",
     .value = Value::Word,
     .words = "daemon.start daemon.stop policy.apply policy.apply_failed policy.refused "
              "policy.confirm policy.confirm_failed policy.rollback policy.file_not_written "
              "drift.restore control.refused audit.export audit.exported audit.pruned "
              "audit.budget decommission session.open session.extend session.close "
              "session.flow schedule.open schedule.close wan.down wan.up wan.hook wan.drift "
              "link.up link.down link.auto cloud.connected cloud.disconnected cloud.refused "
              "cloud.drop cloud.downlink cloud.outbox cloud.credential kernel.change_failed "
              "kernel.change_applied",
     .subcommands = "show"},
    {.name = "bundle", .value = Value::File, .subcommands = "verify"},
    {.name = "receipt", .value = Value::File, .subcommands = "verify"},
    {.name = "pubkey", .value = Value::File, .subcommands = "verify"},
    {.name = "out", .value = Value::File, .subcommands = "export"},
};

constexpr Option kVerifyOptions[] = {
    {.name = "policy", .value = Value::File},
};

constexpr Option kDecommissionOptions[] = {
    {.name = "yes", .value = Value::None},
    {.name = "out", .value = Value::File},
    {.name = "state-dir", .value = Value::Directory},
    {.name = "config-dir", .value = Value::Directory},
    {.name = "broker-store", .value = Value::Directory},
};

constexpr Option kSessionOptions[] = {
    {.name = "for", .value = Value::Word, .words = kDurations, .subcommands = "open"},
    {.name = "reason", .subcommands = "open extend close"},
    {.name = "ticket", .subcommands = "open"},
    {.name = "by", .value = Value::Word, .words = kDurations, .subcommands = "extend"},
    {.name = "all", .value = Value::None, .subcommands = "list close"},
};

constexpr Option kLinkOptions[] = {
    {.name = "for", .value = Value::Word, .words = kDurations, .subcommands = "up down"},
    {.name = "reason", .subcommands = "up down auto"},
};

constexpr Option kScheduleOptions[] = {
    {.name = "transitions", .value = Value::Word, .words = "3 5 10 20"},
};

constexpr Option kVpnOptions[] = {
    {.name = "out", .value = Value::File, .subcommands = "genkey"},
    {.name = "endpoint", .subcommands = "peer-config"},
    {.name = "policy", .value = Value::File, .subcommands = "peer-config"},
};

constexpr std::array<Command, 16> kCoreCommands = {{
    {"check",
     "check a policy file and print its diagnostics",
     "usage: sekishoctl check FILE [--json]\n"
     "\n"
     "Reads FILE and reports every problem with FILE:LINE:COL, a stable code and a hint.\n"
     "Exit 0 when the policy is valid (warnings allowed), 78 when it is not.\n",
     {},
     run_check,
     {},
     Value::File},
    {"compile",
     "print the nftables ruleset a policy compiles to",
     "usage: sekishoctl compile FILE\n"
     "\n"
     "Prints the ruleset of table inet sekisho as nft text on stdout, ready for\n"
     "'nft -f' (it replaces the table atomically). Scheduled sets are empty: the\n"
     "daemon fills them while their schedule is open. Diagnostics go to stderr; for an\n"
     "invalid policy nothing is printed on stdout and the exit code is 78.\n",
     {},
     run_compile,
     {},
     Value::File},
    {"explain",
     "say what the policy does with one packet",
     "usage: sekishoctl explain FILE --from A --to B\n"
     "         (--proto tcp|udp --port N | --proto icmp|icmpv6 --type NAME|N)\n"
     "         [--at TIME] [--json]\n"
     "\n"
     "A and B are host or VPN peer names (their first address of the family), 'gateway'\n"
     "or literal addresses. TIME is YYYY-MM-DDTHH:MM[:SS] in the policy's time zone, or\n"
     "with Z or +hh:mm; default now. Prints the verdict and the deciding rule with its\n"
     "line. Exit 0 for accept and for drop, 78 for an invalid policy, 2 for bad usage.\n",
     kExplainOptions,
     run_explain,
     {},
     Value::File},
    {"status",
     "what the daemon enforces, since when, and how it fares",
     "usage: sekishoctl status [--json]\n"
     "\n"
     "Asks sekishod: the policy file and its SHA-256, the generation and time of the\n"
     "last apply, a pending confirmation, how many times it restored its table after\n"
     "someone changed it, and whether the clock is synchronised. Needs the viewer role.\n"
     "Exit 0, 69 when the daemon is not reachable, 77 without the role.\n",
     {},
     run_status},
    {"apply",
     "enforce a policy file, optionally until confirmed",
     "usage: sekishoctl apply FILE [--confirm-within DURATION] [--json]\n"
     "\n"
     "Sends FILE's bytes to sekishod, which checks, compiles and enforces them in one\n"
     "atomic commit. Without --confirm-within, the daemon then writes them to its\n"
     "--policy file (keeping the previous file) and they become last-good.\n"
     "With --confirm-within (90s, 5m, 1h30m; at most 24h) the policy is in force but\n"
     "not kept: unless 'sekishoctl confirm' comes in time, sekishod rolls back to the\n"
     "confirmed policy; also across a restart of the daemon, and a reboot loads the\n"
     "confirmed one. This is what saves a remote admin who locks himself out.\n"
     "Needs the admin role. Exit 0 applied, 78 invalid policy (diagnostics on stderr,\n"
     "nothing changed), 65 refused (a confirmation is pending, the kernel refused the\n"
     "ruleset, the disk is full), 69 daemon unreachable, 75 audit log unavailable,\n"
     "77 without the role.\n",
     kApplyOptions,
     run_apply,
     {},
     Value::File},
    {"confirm",
     "keep the policy applied with --confirm-within",
     "usage: sekishoctl confirm [--json]\n"
     "\n"
     "Makes the pending policy permanent: sekishod writes it to its --policy file and it\n"
     "becomes last-good. Needs the admin role. Exit 0, 65 when nothing is pending,\n"
     "75 when the audit log cannot be written (the deadline still rolls back).\n",
     {},
     run_confirm},
    {"rollback",
     "go back to the confirmed or the previous policy",
     "usage: sekishoctl rollback [--json]\n"
     "\n"
     "With a confirmation pending: back to the last confirmed policy at once. Otherwise:\n"
     "back to the --policy file as it was before the last apply (kept in the state\n"
     "directory). Goes ahead even when the audit log cannot be written (recorded later).\n"
     "Needs the admin role. Exit 0, 65 when there is nothing to roll back to.\n",
     {},
     run_rollback},
    {"audit", "show or check the tamper-evident audit log",
     "usage: sekishoctl audit show [--since SEQ] [--kind KIND] [--json]\n"
     "       sekishoctl audit verify [--json]\n"
     "       sekishoctl audit verify --bundle FILE --pubkey FILE [--json]\n"
     "       sekishoctl audit verify --receipt FILE [--pubkey FILE] [--json]\n"
     "       sekishoctl audit export --since DATE --out FILE [--json]\n"
     "       sekishoctl audit pubkey\n"
     "\n"
     "show: the records, oldest first (1000 at most per call; --since pages on).\n"
     "verify: checks the hash chain and names the first record that breaks: an edit, a\n"
     "deletion, an insertion or a reordering, and checks the signed checkpoints, which\n"
     "catch a rewritten chain or removed newest records. Exit 0 intact, 1 tampered.\n"
     "verify --bundle: checks an exported bundle here, without the daemon, against the\n"
     "device's public key: 0 intact, 1 tampered or corrupt, 2 unreadable FILE or key.\n"
     "verify --receipt: checks a session receipt here, without the daemon: each record\n"
     "against its signed checkpoint, with --pubkey FILE (the gateway's key, obtained\n"
     "apart from the receipt) or else only with the key the receipt carries (a warning\n"
     "says so). Prints the records. 0 verifies, 1 does not, 2 unreadable FILE or key.\n"
     "export: the records since DATE (YYYY-MM-DD, UTC; or a time YYYY-MM-DDTHH:MM with Z\n"
     "or +hh:mm) as a signed .tar.gz bundle for an\n"
     "auditor (docs/audit-format.md); written by this command as the caller, checked\n"
     "before it counts as exported. Needs the admin role.\n"
     "pubkey: the device's Ed25519 public key (PEM) that signs the checkpoints.\n"
     "show, verify and pubkey need the viewer role.\n",
     kAuditOptions, run_audit, "show verify export pubkey"},
    {"methods",
     "list the control socket's methods and the role each needs",
     "usage: sekishoctl methods [--json]\n"
     "\n"
     "Prints every method sekishod answers with the least role that may call it\n"
     "(viewer < operator < admin; uid 0 is admin). Works without the daemon.\n",
     {},
     run_methods},
    {"verify", "compare the kernel's ruleset with the policy",
     "usage: sekishoctl verify [--policy FILE] [--json]\n"
     "\n"
     "Without --policy, asks sekishod to read table inet sekisho back and compare it,\n"
     "object by object, with the policy it runs (viewer role). With --policy, does the\n"
     "same here without the daemon, against what FILE compiles to now, in this network\n"
     "namespace (needs CAP_NET_ADMIN). Counters and handles are not compared. Prints the\n"
     "differences. Exit 0 when they match, 1 when they differ or the table is missing,\n"
     "69 when the daemon or nftables cannot be reached, 77 without permission, 78 for an\n"
     "invalid policy.\n",
     kVerifyOptions, run_verify},
    {"decommission", "export the audit log, then destroy every key, setting and record",
     "usage: sekishoctl decommission [--yes] [--out FILE] [--state-dir DIR]\n"
     "                               [--config-dir DIR] [--broker-store DIR] [--json]\n"
     "\n"
     "Data disposal for a gateway that leaves service (JPCERT/CC P-5). Works here, without\n"
     "the daemon, and refuses while sekishod runs (stop it first: systemctl stop sekishod).\n"
     "Without --yes: a dry run that lists what would be exported and destroyed.\n"
     "With --yes: the audit log (DIR/audit.db, default /var/lib/sekisho) is verified, gets\n"
     "a 'decommission' record and a signed checkpoint, and all of it is written to FILE\n"
     "(default ./sekisho-audit-HOST-TIME.tar.gz, 0600, never over an existing file) and\n"
     "read back and verified; its public key goes to FILE.pub.pem. Only then is every\n"
     "file under the config dir (default /etc/sekisho) and the state dir destroyed:\n"
     "keys (audit-key.pem, keys/, cloud/, *.key, *.pem, and the key files the policy\n"
     "names) are overwritten with random bytes first. Nothing outside the two dirs is\n"
     "destroyed: a key file the policy names elsewhere, a mount point inside them and\n"
     "the local broker's message store (--broker-store, default /var/lib/sekisho-broker)\n"
     "are listed as left, with how to remove them. Symlinks are removed, never followed; a key "
     "with a second\n"
     "hard link is only unlinked. Prints each file's SHA-256, size and fate, and what\n"
     "it left and why. On flash storage overwriting is not enough: erase the whole\n"
     "device (blkdiscard --secure, nvme format --ses=1).\n"
     "Exit 0 done (or dry run), 1 the audit log does not verify or the export failed\n"
     "(nothing destroyed), 2 bad command line, 65 sekishod runs or FILE exists,\n"
     "77 permission denied (run as root).\n",
     kDecommissionOptions, run_decommission},
    {"session", "audited jump sessions: let one VPN peer reach one maintenance target for a while",
     "usage: sekishoctl session open PEER TARGET --for DURATION --reason TEXT [--ticket ID]\n"
     "       sekishoctl session list [--all]\n"
     "       sekishoctl session show ID\n"
     "       sekishoctl session extend ID --by DURATION [--reason TEXT]\n"
     "       sekishoctl session close ID --reason TEXT\n"
     "       sekishoctl session close --all --reason TEXT\n"
     "       sekishoctl session receipt ID\n"
     "\n"
     "open: lets VPN peer PEER reach maintenance target TARGET (both paired in the\n"
     "policy's remote_maintenance.peers) for DURATION (\"90m\", \"1h30m\"; at most\n"
     "remote_maintenance.max_duration). The reason is required and recorded with you,\n"
     "the ticket and the deadline in the audit log before the kernel lets anything\n"
     "through. Prints the session id (s-N); --json: {id, deadline}. The kernel ends\n"
     "access at the deadline, open connections included, even if sekishod is down.\n"
     "list: open sessions (--all: every session): who, what, opened by, reason, time\n"
     "left, connections and bytes so far. show: one session and each connection.\n"
     "extend: moves the deadline by DURATION, within the maximum counted from the open.\n"
     "close: ends a session now (--all: every open one, the local kill switch): access\n"
     "first, then its connections are deleted, then the close is recorded and signed.\n"
     "receipt: the session's audit records and the signed checkpoints that cover\n"
     "them, as JSON to hand to the vendor; 'sekishoctl audit verify --receipt FILE'\n"
     "checks it offline.\n"
     "open, extend and close need the operator role; list, show and receipt viewer.\n"
     "Exit 0, 2 bad command line, 65 wrong pair, too long, unknown or closed session,\n"
     "69 sekishod not reachable, 75 the audit log cannot be written (nothing\n"
     "opened or extended), 77 permission denied.\n",
     kSessionOptions, run_session, "open list show extend close receipt"},
    {"link", "the WAN link: its state and why; keep it up or force it down for a while",
     "usage: sekishoctl link [status]\n"
     "       sekishoctl link up --for DURATION --reason TEXT\n"
     "       sekishoctl link down --reason TEXT [--for DURATION]\n"
     "       sekishoctl link auto --reason TEXT\n"
     "\n"
     "Outside the policy's wan.up schedule sekishod closes the WAN gate in nftables\n"
     "(nothing passes the link, even when someone sets it up by hand), records the\n"
     "link's addresses and routes, sets it down and runs wan.power_hook off; at\n"
     "opening it runs the hook on, sets the link up, restores what it recorded and\n"
     "opens the gate. What decides, strongest first: a forced down, an open jump\n"
     "session (it holds the link up), an up override, the schedule.\n"
     "status (the default): the link, up or down, what it is to be and why, the gate,\n"
     "the override, what is recorded, the last power hook's outcome.\n"
     "up: keeps the link up outside hours for DURATION (\"2h\", at most 7 days).\n"
     "down: forces it down now, through hours and jump sessions, for DURATION or until\n"
     "'link auto'; opening a jump session is refused meanwhile.\n"
     "auto: clears the override: the schedule and jump sessions decide again.\n"
     "One override at a time: up replaces down and the other way round. Overrides are\n"
     "audited with you and the reason, and survive a restart of sekishod.\n"
     "up, down and auto need the operator role; status viewer.\n"
     "Exit 0, 2 bad command line, 65 no wan in the policy or a bad duration,\n"
     "69 sekishod not reachable, 75 the audit log cannot be written (up and auto are\n"
     "refused; down goes ahead), 77 permission denied.\n",
     kLinkOptions, run_link, "status up down auto"},
    {"cloud",
     "the cloud bridge: connections, counters, backlog; publishers' passwords",
     "usage: sekishoctl cloud [status] [--json]\n"
     "       sekishoctl cloud password HOST [--json]\n"
     "\n"
     "status: asks sekishod (role viewer) for the cloud bridge of the policy's\n"
     "cloud.mqtt: the connection to the cloud broker (state, address, since when, the\n"
     "last error such as a refused certificate) and to the local broker; the uplink\n"
     "counters, which add up and survive restarts: received = forwarded + queued + in\n"
     "flight + dropped (outbox full, message too large); messages refused for their\n"
     "topic; the backlog (messages, bytes, the limit, the oldest message's age, on_full\n"
     "and drain rate); downlink messages received, delivered to the local broker,\n"
     "dropped and refused; the local broker's configuration (written, applied) and which\n"
     "publishers have a password.\n"
     "password: makes a new password for HOST, a host of cloud.mqtt.publishers (role\n"
     "admin), and prints it this once, with the user name (HOST, also its client id)\n"
     "and the broker's address: configure the device with them. sekishod keeps only its\n"
     "hash; a password HOST had before stops working. Audited (cloud.credential), never\n"
     "with the password.\n"
     "Exit 0, 1 the password is stored but the broker's files could not be written (it\n"
     "is printed all the same), 2 bad command line, 65 HOST is not a publisher, 69\n"
     "sekishod not reachable, 75 the audit log cannot be written (no password made),\n"
     "77 permission denied.\n",
     {},
     run_cloud,
     "status password"},
    {"schedule", "each schedule: open or closed now, and its next transitions",
     "usage: sekishoctl schedule [--transitions N]\n"
     "\n"
     "Asks sekishod (role viewer) for each schedule of the policy in force: open or\n"
     "closed now by the policy's time zone, the rules and wan.up that use it, and its\n"
     "next N transitions (default 3, at most 20) in local time and UTC, daylight saving\n"
     "and closed dates included; then the WAN link's state and why.\n"
     "Exit 0, 2 bad command line, 69 sekishod not reachable, 77 permission denied.\n",
     kScheduleOptions, run_schedule},
    {"vpn", "WireGuard keys, vendor configurations and the tunnel's state",
     "usage: sekishoctl vpn genkey --out FILE [--json]\n"
     "       sekishoctl vpn peer-config PEER --endpoint HOST:PORT [--policy FILE]\n"
     "       sekishoctl vpn status [--json]\n"
     "\n"
     "genkey: makes a WireGuard private key here, on the box, into FILE: a new file\n"
     "(never over an existing one) of mode 0600 holding base64 and a newline, exactly\n"
     "as 'wg genkey' writes it; prints the public key, which the peers need ('wg pubkey\n"
     "< FILE' prints the same). Point the policy's vpn private_key_file at FILE.\n"
     "Needs no daemon and no role; FILE's directory decides who may write it.\n"
     "Exit 0, 1 no key could be made or written, 2 bad command line, 65 FILE exists,\n"
     "77 permission denied.\n"
     "peer-config: prints the wg-quick file the vendor PEER needs, from the policy\n"
     "(default /etc/sekisho/policy.yaml): a placeholder for the vendor's own private\n"
     "key, the peer's tunnel address, the gateway's public key (from the VPN's\n"
     "private_key_file, which must be owned by root and mode 0600), HOST:PORT as the\n"
     "endpoint, and as AllowedIPs the addresses of the targets remote_maintenance pairs\n"
     "with PEER. Run it as root. Exit 0, 2 bad command line, 65 no such peer or no\n"
     "target, 77 the key file cannot be read, 78 invalid policy or key file.\n"
     "status: asks sekishod (role viewer) for each interface of the policy's vpn\n"
     "section: state (up, down, or refused and why), backend (kernel or wireguard-go),\n"
     "public key, listen port; per peer its endpoint, latest handshake and bytes each\n"
     "way. Exit 0, 69 sekishod not reachable, 77 permission denied.\n",
     kVpnOptions, run_vpn, "genkey peer-config status"},
}};

}  // namespace

std::span<const Command> core_commands() {
  return kCoreCommands;
}

}  // namespace sekisho::ctl
