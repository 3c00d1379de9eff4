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
               "sign a checkpoint for an export of the records since a date and name their "
               "range (the client fetches them and writes the bundle); then record the "
               "written bundle"},
    MethodInfo{"vpn.status", Role::Viewer,
               "each WireGuard interface: backend, state, public key, listen port; per peer: "
               "endpoint, latest handshake, bytes each way, allowed IPs"},
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
