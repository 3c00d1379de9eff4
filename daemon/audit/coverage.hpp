#pragma once
// The time rule of the audit log (docs/audit-format.md, "Checkpoints in time"): every record
// is signed soon after it is written, so that a chain rewritten after its checkpoints were
// deleted shows. A record must be covered by a checkpoint signed no later than its time +
// E + 60 s, where E is the checkpoint interval the surrounding checkpoints sign
// (checkpoint_every: the larger of the one before the record and the one that covers it).
//
// Two things sign records late without anyone tampering, and only these are accepted:
//   - sekishod stopped without signing its newest records (a crash, a power cut): the next
//     start (daemon.start, or sekishoctl decommission) signs them at once. Accepted for the
//     records before that start that lie within E + 60 s of the last one before it, and only
//     when the start itself is signed in time.
//   - the clock was set forward (NTP synchronised it) while records waited: accepted when the
//     checkpoint before them was made on an unsynchronised clock, the one that covers them on
//     a synchronised one, and the late records lie within E + 60 s of each other.
// Each leaves at most E + 60 s of records that were not signed in time, which is what any
// running daemon has unsigned at any moment. Records only a checkpoint of the old form
// covers (made before checkpoints signed their interval) are not judged by this rule.
//
// Records newer than the last checkpoint are reported; they fail only once they are older
// than E + 60 s (unless sekishod is known to be stopped: then the next start signs them,
// and they are held to the rules above: within E + 60 s of the newest of them, or, after a
// checkpoint made on an unsynchronised clock, those that would be late now within E + 60 s
// of each other).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sekisho::audit {

// The grace beyond the checkpoint interval: a timer tick, a slow disk, a busy loop.
inline constexpr std::int64_t kCheckpointGraceSeconds = 60;
// The interval of the old checkpoint form, and of a log without a checkpoint (the policy's
// default, audit.checkpoint_every).
inline constexpr std::int64_t kDefaultCheckpointEverySeconds = 600;

struct CoverageCheckpoint {
  std::int64_t seq = 0;
  std::int64_t time = 0;  // seconds since the epoch
  bool clock_synchronised = false;
  std::optional<std::int64_t> checkpoint_every;  // nullopt: the old form
};

class CoverageCheck {
 public:
  // `checkpoints` ascending by seq, each of a record of the log (the one at its pruned
  // start included); `now` in seconds since the epoch.
  CoverageCheck(std::vector<CoverageCheckpoint> checkpoints, std::int64_t now);

  // Every record, in seq order; `time` nullopt when its text is not UTC time.
  void add(std::int64_t seq, std::optional<std::int64_t> time, std::string_view kind);
  // After the last record. `daemon_stopped`: the unsigned newest records wait for the next
  // start, which signs them; they are reported, not failed, when the next start's signature
  // of them would be accepted: they lie within E + 60 s of the newest of them, as a crash
  // leaves them, or the clock was set in between (as end_run() judges it).
  void finish(bool daemon_stopped);

  bool ok() const { return !first_bad_; }
  std::optional<std::int64_t> first_bad() const { return first_bad_; }
  const std::string& reason() const { return reason_; }
  // Late signatures that were accepted, and why (for people).
  const std::vector<std::string>& notes() const { return notes_; }
  // The records after the last checkpoint: the first one's seq and time text.
  std::optional<std::int64_t> unsigned_from() const { return unsigned_from_; }
  std::int64_t unsigned_records() const { return unsigned_records_; }

 private:
  void begin_run(std::int64_t seq);
  void end_run();
  void fail(std::int64_t seq, std::string reason);

  std::vector<CoverageCheckpoint> checkpoints_;
  std::int64_t now_;
  std::size_t next_ = 0;  // the checkpoint that covers the records now coming
  // The run: the records after checkpoint next_ - 1 up to checkpoint next_, or, past the
  // last checkpoint, the unsigned tail.
  bool in_run_ = false;
  bool tail_ = false;
  std::int64_t every_ = 0;  // E for the run
  bool judged_ = true;      // false: only a checkpoint of the old form covers it
  std::optional<std::int64_t> first_late_;
  std::int64_t last_late_ = 0;
  std::int64_t earliest_late_time_ = 0;
  std::int64_t latest_late_time_ = 0;
  std::optional<std::int64_t> start_after_late_;  // a daemon.start after the last late record
  std::int64_t before_start_time_ = 0;            // the time of the record before it
  std::optional<std::int64_t> previous_time_;
  // Unsigned tail.
  std::optional<std::int64_t> unsigned_from_;
  std::optional<std::int64_t> unsigned_time_;
  std::int64_t unsigned_records_ = 0;
  // Those of them that would be late if signed now: the earliest and latest time.
  std::optional<std::int64_t> unsigned_late_earliest_;
  std::int64_t unsigned_late_latest_ = 0;

  std::optional<std::int64_t> first_bad_;
  std::string reason_;
  std::vector<std::string> notes_;
};

}  // namespace sekisho::audit
