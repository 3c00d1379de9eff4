#pragma once
// The few questions the subsystems ask each other, each answered by the one that owns the
// state: the WAN link (WanLink), the open sessions (Sessions), the cloud bridge (Cloud).
// Wired by reference in Service's constructor. Loop thread only.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace sekisho::daemon {

class WanQuery {
 public:
  virtual ~WanQuery() = default;
  // The WAN gate is to be closed (whether or not the kernel holds it closed yet).
  virtual bool close_wanted() const = 0;
  // The gate's closing waits for the cloud bridge's messages in flight.
  virtual bool close_deferred() const = 0;
  // Why the link is forced down by an operator (nothing when it is not): a jump session
  // cannot hold it up then.
  virtual std::optional<std::string> forced_down_why() const = 0;
  // link.status, also part of schedule.list and status.
  virtual nlohmann::json wan_status_json() = 0;
  // Judges the link again now (the sessions holding it changed).
  virtual void recheck() = 0;
};

class SessionQuery {
 public:
  virtual ~SessionQuery() = default;
  // The open sessions with time left at `now_ms` (ms since the epoch), by number: they
  // hold the WAN link up.
  virtual std::vector<std::uint32_t> holding(std::int64_t now_ms) const = 0;
};

class WanCloseListener {
 public:
  virtual ~WanCloseListener() = default;
  // The gate is about to close: true when nothing is in flight that it would cut off
  // (else the close waits, a second at most).
  virtual bool ready_for_close() = 0;
  // The gate opened or closed.
  virtual void wan_open_changed(bool open) = 0;
};

}  // namespace sekisho::daemon
