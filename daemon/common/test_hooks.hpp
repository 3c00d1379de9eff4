#pragma once
// Hooks only the tests use, chosen when a program is linked, not when it is compiled: every
// library compiles once for the shipped programs and for the lab's copies of them.
// sekisho_common links sekisho_test_hooks_off, where every hook says "not set"; the copies
// of sekishod and sekishoctl in build/test-bin also link the objects of
// sekisho_test_hooks_on, where each hook reads its $SEKISHO_TEST_* variable. So no
// SEKISHO_TEST_ name is in a shipped binary (tests/packaging/deb_install.sh checks).

#include <optional>
#include <string>

namespace sekisho::test_hooks {

// Seconds to shift the schedule clock by: the signed number in the file named by
// $SEKISHO_TEST_CLOCK_OFFSET_FILE, read at every call (the last number read stands while
// no descriptor is free).
std::optional<long long> clock_offset_seconds();

// Whether the clock is to count as synchronised: the number in the file named by
// $SEKISHO_TEST_CLOCK_SYNCHRONISED_FILE (0: not synchronised, else synchronised), read at
// every call like the offset.
std::optional<bool> clock_synchronised();

// The receive buffer for nftables events, in bytes, from $SEKISHO_TEST_EVENT_BUFFER: the
// lab makes the kernel drop events (a tiny buffer) to test the readback path. Logs a
// warning that it is in force.
std::optional<int> event_buffer();

// The directory that stands in for /etc/sekisho/hooks, from $SEKISHO_TEST_HOOKS_DIR (the
// lab cannot write /etc).
std::optional<std::string> hooks_dir();

}  // namespace sekisho::test_hooks
