#pragma once
// Exit codes shared by sekishoctl and sekishod (docs/architecture.md, Conventions). sysexits.h
// values where one fits, so scripts and systemd (RestartPreventExitStatus=78) can rely on
// them.

namespace sekisho {

enum ExitCode : int {
  kExitOk = 0,
  kExitNegative = 1,      // done, result negative (verify found a difference, tampering)
  kExitUsage = 2,         // bad command line
  kExitInvalid = 65,      // request invalid (EX_DATAERR)
  kExitUnavailable = 69,  // daemon unreachable (EX_UNAVAILABLE)
  kExitAuditDown = 75,    // refused: the audit log cannot be written (EX_TEMPFAIL)
  kExitForbidden = 77,    // the caller's role may not do this (EX_NOPERM)
  kExitConfig = 78,       // invalid or unreadable policy (EX_CONFIG)
};

}  // namespace sekisho
