#pragma once
// How long a load or an apply took, for the log: "12.3 ms".

#include <chrono>
#include <string>

namespace sekisho::daemon {

inline std::string milliseconds_text(std::chrono::microseconds took) {
  return std::to_string(took.count() / 1000) + "." + std::to_string(took.count() / 100 % 10) +
         " ms";
}

}  // namespace sekisho::daemon
