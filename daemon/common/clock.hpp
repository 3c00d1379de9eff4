#pragma once
// The wall clock as records and status need it.

#include <chrono>
#include <string>

namespace sekisho {

// Whether the kernel says the clock is synchronised (NTP or PTP discipline): audit
// records and checkpoints carry it, since their times are evidence.
bool clock_synchronised();

// "2026-11-25T21:58:45Z"
std::string utc_text(std::chrono::system_clock::time_point time);

}  // namespace sekisho
