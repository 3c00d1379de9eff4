#pragma once
// The wall clock as records and status need it.

#include <chrono>
#include <optional>
#include <string>

namespace sekisho {

// Whether the kernel says the clock is synchronised (NTP or PTP discipline): audit
// records and checkpoints carry it, since their times are evidence, and a forced-down
// WAN link's deadline counts only by a synchronised clock. In the test copies of the
// programs (daemon/common/test_hooks.hpp) the file named by
// $SEKISHO_TEST_CLOCK_SYNCHRONISED_FILE, read at every call, decides instead when it holds
// a number (0: not synchronised, else synchronised).
bool clock_synchronised();

// The wall clock that schedules and WAN link overrides are judged by: the system clock, in
// the test copies shifted by the signed number of seconds in the file named by
// $SEKISHO_TEST_CLOCK_OFFSET_FILE, read at every call (docs/architecture.md, Time; the
// last offset read stands while no descriptor is free). The rate stays the system clock's,
// so kernel timeouts still agree.
std::chrono::system_clock::time_point schedule_clock_now();

// "2026-11-25T21:58:45Z"
std::string utc_text(std::chrono::system_clock::time_point time);

// utc_text's form read back; nullopt for anything else (another length or zone, a date
// that does not exist, an hour past 23).
std::optional<std::chrono::sys_seconds> parse_utc_text(const std::string& text);

}  // namespace sekisho
