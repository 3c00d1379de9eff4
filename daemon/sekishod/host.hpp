#pragma once
// What the daemon lends each subsystem: its loop, its command line, the auditor, and the
// two ways to run work on the loop so that no exception leaves a handler.

#include <chrono>
#include <functional>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "daemon/sekishod/auditor.hpp"
#include "daemon/sekishod/options.hpp"

namespace sekisho::daemon {

class Host {
 public:
  virtual ~Host() = default;

  virtual boost::asio::io_context& io() = 0;
  virtual const Options& options() const = 0;
  virtual Auditor& auditor() = 0;
  // Runs `work`; an exception is logged and the kernel is compared with the policy at the
  // next tick.
  virtual void guarded(const char* what, const std::function<void()>& work) = 0;
  // Runs `work` every `interval` on `timer`, guarded, until the loop stops.
  virtual void every(boost::asio::steady_timer& timer, std::chrono::steady_clock::duration interval,
                     const char* what, std::function<void()> work) = 0;
};

}  // namespace sekisho::daemon
