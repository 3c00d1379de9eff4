#pragma once
// Every method of the control socket and the least role that may call it, each a named
// constant that the daemon part answering it binds its handler to (method_table.hpp).
// sekishod checks each request against them; `sekishoctl methods` prints them; the role
// tests iterate over them, so a method cannot be added without its role.

#include <span>
#include <string_view>

#include "daemon/control/roles.hpp"

namespace sekisho::control {

struct MethodInfo {
  std::string_view name;
  Role least_role;
  std::string_view summary;
};

inline constexpr MethodInfo kStatus{
    "status", Role::Viewer,
    "policy, generation, last apply, drift restores, clock synchronisation"};
inline constexpr MethodInfo kVerify{
    "verify", Role::Viewer, "read table inet sekisho back and compare it with the running policy"};
inline constexpr MethodInfo kAuditShow{"audit.show", Role::Viewer,
                                       "audit records, oldest first (since, kind, limit)"};
inline constexpr MethodInfo kAuditVerify{
    "audit.verify", Role::Viewer,
    "check the audit log's hash chain and signed checkpoints; name the first "
    "record that breaks"};
inline constexpr MethodInfo kAuditPubkey{
    "audit.pubkey", Role::Viewer,
    "the device's Ed25519 public key (PEM) that signs audit checkpoints"};
inline constexpr MethodInfo kAuditExport{
    "audit.export", Role::Admin,
    "export the records since a date: sekishod writes, verifies and records the "
    "bundle in its state directory (since); then the job's progress (job), and "
    "the bundle in pieces (job, offset)"};
inline constexpr MethodInfo kVpnStatus{
    "vpn.status", Role::Viewer,
    "each WireGuard interface: backend, state, public key, listen port; per peer: "
    "endpoint, latest handshake, bytes each way, allowed IPs"};
inline constexpr MethodInfo kSessionOpen{
    "session.open", Role::Operator,
    "let one VPN peer reach one maintenance target until a deadline (peer, target, "
    "duration_seconds, reason, ticket)"};
inline constexpr MethodInfo kSessionExtend{
    "session.extend", Role::Operator,
    "move an open session's deadline, within remote_maintenance.max_duration (id, "
    "by_seconds, reason)"};
inline constexpr MethodInfo kSessionClose{
    "session.close", Role::Operator,
    "end a session, or every open one (id or all, reason): access first, then its "
    "connections"};
inline constexpr MethodInfo kSessionList{
    "session.list", Role::Viewer,
    "open sessions (all: every session): who, what, why, time left, flows, bytes"};
inline constexpr MethodInfo kSessionShow{"session.show", Role::Viewer,
                                         "one session and its connections (id)"};
inline constexpr MethodInfo kSessionReceipt{
    "session.receipt", Role::Viewer,
    "a session's audit records with the signed checkpoints that cover them, to "
    "verify offline (id)"};
inline constexpr MethodInfo kScheduleList{
    "schedule.list", Role::Viewer,
    "each schedule: open or closed now, its rules, next transitions (transitions); "
    "the WAN link's state and why"};
inline constexpr MethodInfo kLinkStatus{
    "link.status", Role::Viewer,
    "the WAN link: up or down, what it is to be and why (schedule, override, "
    "session), the gate, the override, the last power hook"};
inline constexpr MethodInfo kCloudStatus{
    "cloud.status", Role::Viewer,
    "the cloud bridge: both connections, the outbox's counters (received = "
    "forwarded + queued + in flight + dropped), backlog size and age, downlink"};
inline constexpr MethodInfo kCloudPassword{
    "cloud.password", Role::Admin,
    "make or replace a publisher's password at the local broker and answer it "
    "once (publisher); only its hash is kept"};
inline constexpr MethodInfo kLinkUp{
    "link.up", Role::Operator,
    "keep the WAN link up outside operating hours until a deadline (for_seconds, "
    "reason)"};
inline constexpr MethodInfo kLinkDown{
    "link.down", Role::Operator,
    "force the WAN link down, also through jump sessions and hours (reason, "
    "for_seconds: until then, else until link.auto)"};
inline constexpr MethodInfo kLinkAuto{
    "link.auto", Role::Operator,
    "clear a link override: the schedule and jump sessions decide again (reason)"};
inline constexpr MethodInfo kPolicyApply{
    "policy.apply", Role::Admin,
    "check, compile and enforce a policy sent as text (name, text, "
    "confirm_within); without a confirmation it replaces the --policy file"};
inline constexpr MethodInfo kPolicyConfirm{
    "policy.confirm", Role::Admin,
    "keep the policy applied with confirm_within: write it to the --policy file "
    "and make it last-good"};
inline constexpr MethodInfo kPolicyRollback{
    "policy.rollback", Role::Admin,
    "go back to the last confirmed policy (a pending one), else to the policy "
    "file before the last apply"};

// All of the above, in the order `sekishoctl methods` lists them.
std::span<const MethodInfo> methods();
const MethodInfo* find_method(std::string_view name);

}  // namespace sekisho::control
