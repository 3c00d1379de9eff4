#pragma once
// systemd's notification protocol (libsystemd's sd_notify): READY, STATUS and the
// watchdog keep-alive. Without $NOTIFY_SOCKET these do nothing, so the daemon runs the
// same under systemd, under another supervisor or by hand.

#include <chrono>
#include <optional>
#include <string_view>

namespace sekisho::daemon {

void notify_ready(std::string_view status);
void notify_status(std::string_view status);
void notify_stopping();
void notify_watchdog();

// Half of $WATCHDOG_USEC when the supervisor asked for keep-alives.
std::optional<std::chrono::microseconds> watchdog_interval();

}  // namespace sekisho::daemon
