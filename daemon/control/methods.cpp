#include "daemon/control/methods.hpp"

#include <array>

namespace sekisho::control {

namespace {

constexpr std::array kMethods = {
    MethodInfo{"status", Role::Viewer,
               "policy, generation, last apply, drift restores, clock synchronisation"},
    MethodInfo{"verify", Role::Viewer,
               "read table inet sekisho back and compare it with the running policy"},
    MethodInfo{"audit.show", Role::Viewer, "audit records, oldest first (since, kind, limit)"},
    MethodInfo{"audit.verify", Role::Viewer,
               "check the audit log's hash chain and signed checkpoints; name the first "
               "record that breaks"},
    MethodInfo{"audit.pubkey", Role::Viewer,
               "the device's Ed25519 public key (PEM) that signs audit checkpoints"},
    MethodInfo{"audit.export", Role::Admin,
               "export the records since a date: sekishod writes, verifies and records the "
               "bundle in its state directory (since); then the job's progress (job), and "
               "the bundle in pieces (job, offset)"},
    MethodInfo{"vpn.status", Role::Viewer,
               "each WireGuard interface: backend, state, public key, listen port; per peer: "
               "endpoint, latest handshake, bytes each way, allowed IPs"},
    MethodInfo{"session.open", Role::Operator,
               "let one VPN peer reach one maintenance target until a deadline (peer, target, "
               "duration_seconds, reason, ticket)"},
    MethodInfo{"session.extend", Role::Operator,
               "move an open session's deadline, within remote_maintenance.max_duration (id, "
               "by_seconds, reason)"},
    MethodInfo{"session.close", Role::Operator,
               "end a session, or every open one (id or all, reason): access first, then its "
               "connections"},
    MethodInfo{"session.list", Role::Viewer,
               "open sessions (all: every session): who, what, why, time left, flows, bytes"},
    MethodInfo{"session.show", Role::Viewer, "one session and its connections (id)"},
    MethodInfo{"session.receipt", Role::Viewer,
               "a session's audit records with the signed checkpoints that cover them, to "
               "verify offline (id)"},
    MethodInfo{"schedule.list", Role::Viewer,
               "each schedule: open or closed now, its rules, next transitions (transitions); "
               "the WAN link's state and why"},
    MethodInfo{"link.status", Role::Viewer,
               "the WAN link: up or down, what it is to be and why (schedule, override, "
               "session), the gate, the override, the last power hook"},
    MethodInfo{"cloud.status", Role::Viewer,
               "the cloud bridge: both connections, the outbox's counters (received = "
               "forwarded + queued + in flight + dropped), backlog size and age, downlink"},
    MethodInfo{"cloud.password", Role::Admin,
               "make or replace a publisher's password at the local broker and answer it "
               "once (publisher); only its hash is kept"},
    MethodInfo{"link.up", Role::Operator,
               "keep the WAN link up outside operating hours until a deadline (for_seconds, "
               "reason)"},
    MethodInfo{"link.down", Role::Operator,
               "force the WAN link down, also through jump sessions and hours (reason, "
               "for_seconds: until then, else until link.auto)"},
    MethodInfo{"link.auto", Role::Operator,
               "clear a link override: the schedule and jump sessions decide again (reason)"},
    MethodInfo{"policy.apply", Role::Admin,
               "check, compile and enforce a policy sent as text (name, text, "
               "confirm_within); without a confirmation it replaces the --policy file"},
    MethodInfo{"policy.confirm", Role::Admin,
               "keep the policy applied with confirm_within: write it to the --policy file "
               "and make it last-good"},
    MethodInfo{"policy.rollback", Role::Admin,
               "go back to the last confirmed policy (a pending one), else to the policy "
               "file before the last apply"},
};

}  // namespace

std::span<const MethodInfo> methods() {
  return kMethods;
}

const MethodInfo* find_method(std::string_view name) {
  for (const MethodInfo& method : kMethods) {
    if (method.name == name) {
      return &method;
    }
  }
  return nullptr;
}

}  // namespace sekisho::control
