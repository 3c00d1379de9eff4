#include "daemon/audit/coverage.hpp"

#include <algorithm>

#include "daemon/common/clock.hpp"

namespace sekisho::audit {

namespace {

// The kinds written by a process that signs at once: what it finds unsigned was left by a
// sekishod that stopped without signing.
bool starts_signing(std::string_view kind) {
  return kind == "daemon.start" || kind == "decommission";
}

std::string span(std::int64_t first, std::int64_t last) {
  return first == last ? "record " + std::to_string(first)
                       : "records " + std::to_string(first) + ".." + std::to_string(last);
}

std::string time_text(std::int64_t seconds) {
  return utc_text(std::chrono::system_clock::time_point(std::chrono::seconds(seconds)));
}

}  // namespace

CoverageCheck::CoverageCheck(std::vector<CoverageCheckpoint> checkpoints, std::int64_t now)
    : checkpoints_(std::move(checkpoints)), now_(now) {}

void CoverageCheck::fail(std::int64_t seq, std::string reason) {
  if (!first_bad_) {
    first_bad_ = seq;
    reason_ = std::move(reason);
  }
}

void CoverageCheck::begin_run(std::int64_t seq) {
  // A checkpoint of an earlier record (the one at a pruned log's start) only precedes.
  while (next_ < checkpoints_.size() && checkpoints_[next_].seq < seq) {
    ++next_;
  }
  in_run_ = true;
  tail_ = next_ == checkpoints_.size();
  first_late_.reset();
  start_after_late_.reset();
  const CoverageCheckpoint* before = next_ > 0 ? &checkpoints_[next_ - 1] : nullptr;
  const std::int64_t before_every = before ? before->checkpoint_every.value_or(0) : 0;
  if (tail_) {
    judged_ = true;
    every_ = before_every > 0 ? before_every : kDefaultCheckpointEverySeconds;
    return;
  }
  const CoverageCheckpoint& covering = checkpoints_[next_];
  judged_ = covering.checkpoint_every.has_value();
  every_ = std::max(before_every, covering.checkpoint_every.value_or(0));
}

void CoverageCheck::add(std::int64_t seq, std::optional<std::int64_t> time, std::string_view kind) {
  if (first_bad_) {
    return;
  }
  if (!time) {
    fail(seq, "record " + std::to_string(seq) + ": its time is not UTC time text");
    return;
  }
  if (!in_run_) {
    begin_run(seq);
  }
  if (tail_) {
    unsigned_from_ = unsigned_from_.value_or(seq);
    unsigned_time_ = std::min(unsigned_time_.value_or(*time), *time);
    ++unsigned_records_;
    previous_time_ = time;
    if (now_ - *time > every_ + kCheckpointGraceSeconds) {  // late, were it signed now
      unsigned_late_latest_ = std::max(unsigned_late_latest_, *time);
      unsigned_late_earliest_ = std::min(unsigned_late_earliest_.value_or(*time), *time);
    }
    return;
  }
  const CoverageCheckpoint& covering = checkpoints_[next_];
  const bool late = judged_ && covering.time - *time > every_ + kCheckpointGraceSeconds;
  if (late) {
    if (!first_late_) {
      first_late_ = seq;
      earliest_late_time_ = latest_late_time_ = *time;
    }
    last_late_ = seq;
    earliest_late_time_ = std::min(earliest_late_time_, *time);
    latest_late_time_ = std::max(latest_late_time_, *time);
    start_after_late_.reset();
  } else if (first_late_ && !start_after_late_ && starts_signing(kind)) {
    start_after_late_ = seq;
    before_start_time_ = previous_time_.value_or(*time);
  }
  previous_time_ = time;
  if (seq == covering.seq) {
    end_run();
    in_run_ = false;
    ++next_;
  }
}

void CoverageCheck::end_run() {
  if (!judged_ || !first_late_) {
    return;
  }
  const CoverageCheckpoint& covering = checkpoints_[next_];
  const CoverageCheckpoint* before = next_ > 0 ? &checkpoints_[next_ - 1] : nullptr;
  const std::int64_t window = every_ + kCheckpointGraceSeconds;
  const std::string late = span(*first_late_, last_late_) + " (from " +
                           time_text(earliest_late_time_) + ") signed only at " +
                           time_text(covering.time) + " (checkpoint of record " +
                           std::to_string(covering.seq) + ")";
  if (start_after_late_ && before_start_time_ - earliest_late_time_ <= window) {
    notes_.push_back(late +
                     ": sekishod had stopped without signing them; its next start "
                     "(record " +
                     std::to_string(*start_after_late_) + ") signed them");
  } else if (before && !before->clock_synchronised && covering.clock_synchronised &&
             latest_late_time_ - earliest_late_time_ <= window) {
    notes_.push_back(late +
                     ": the clock was set in between (the checkpoint before them was made "
                     "on an unsynchronised clock, this one on a synchronised one)");
  } else {
    fail(*first_late_,
         "record " + std::to_string(*first_late_) + " was not signed in time: " + late + ", " +
             std::to_string(covering.time - earliest_late_time_) +
             " s after it, though every record is signed within checkpoint_every (" +
             std::to_string(every_) + " s) + " + std::to_string(kCheckpointGraceSeconds) +
             " s: signed checkpoints were removed (and the chain rewritten), or sekishod could "
             "not sign for that long");
  }
}

void CoverageCheck::finish(bool daemon_stopped) {
  if (first_bad_ || !unsigned_from_) {
    return;
  }
  const std::int64_t age = now_ - *unsigned_time_;
  const std::string which = span(*unsigned_from_, *unsigned_from_ + unsigned_records_ - 1) +
                            " (from " + time_text(*unsigned_time_) + ")";
  if (age <= every_ + kCheckpointGraceSeconds) {
    return;  // young: reported by unsigned_from()
  }
  // As the next start's signature of them will be judged (end_run()): a sekishod that
  // stopped without signing left at most E + 60 s of records, the rest was a gap.
  const std::int64_t spread = previous_time_.value_or(*unsigned_time_) - *unsigned_time_;
  if (daemon_stopped && spread <= every_ + kCheckpointGraceSeconds) {
    notes_.push_back(which + " wait for sekishod's next start to sign them");
    return;
  }
  // And as end_run() accepts the clock set in between: the checkpoint before them was made
  // on an unsynchronised clock, and those that would be late if signed now lie within
  // E + 60 s of each other (the rest came after the clock was set).
  const CoverageCheckpoint* before = checkpoints_.empty() ? nullptr : &checkpoints_.back();
  if (daemon_stopped && before && !before->clock_synchronised && unsigned_late_earliest_ &&
      unsigned_late_latest_ - *unsigned_late_earliest_ <= every_ + kCheckpointGraceSeconds) {
    notes_.push_back(which +
                     " wait for sekishod's next start to sign them; the clock was set in "
                     "between (the checkpoint before them was made on an unsynchronised clock)");
    return;
  }
  if (daemon_stopped) {
    fail(*unsigned_from_,
         which + " have no signed checkpoint and span " + std::to_string(spread) +
             " s, more than checkpoint_every (" + std::to_string(every_) + " s) + " +
             std::to_string(kCheckpointGraceSeconds) +
             " s: a sekishod that stopped without signing leaves less; signed checkpoints "
             "were removed (and the chain rewritten), or sekishod could not sign for that long");
    return;
  }
  fail(*unsigned_from_, which + " have no signed checkpoint, though " + std::to_string(age) +
                            " s old; every record is signed within checkpoint_every (" +
                            std::to_string(every_) + " s) + " +
                            std::to_string(kCheckpointGraceSeconds) +
                            " s: signed checkpoints were removed, or sekishod cannot sign (see "
                            "'sekishoctl status')");
}

}  // namespace sekisho::audit
