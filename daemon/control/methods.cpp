#include "daemon/control/methods.hpp"

#include <array>

namespace sekisho::control {

namespace {

constexpr std::array kMethods = {
    kStatus,         kVerify,       kAuditShow,     kAuditVerify,   kAuditPubkey,    kAuditExport,
    kVpnStatus,      kSessionOpen,  kSessionExtend, kSessionClose,  kSessionList,    kSessionShow,
    kSessionReceipt, kScheduleList, kLinkStatus,    kCloudStatus,   kCloudPassword,  kLinkUp,
    kLinkDown,       kLinkAuto,     kPolicyApply,   kPolicyConfirm, kPolicyRollback,
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
