#pragma once
// The cloud outbox: every uplink message sekishod has acknowledged to the local broker
// and the cloud broker has not yet acknowledged, on disk (sqlite, WAL, synchronous=FULL:
// a message is in the file before the local broker hears PUBACK). Messages leave in the
// order they came; a row is deleted only once the cloud broker acknowledged it.
//
// The counters live in the same file and change in the same transaction as the rows, so
// after any crash: received = forwarded + stored + dropped (by reason). "Stored" is what
// is queued plus what is in flight; which of the stored rows are in flight is the
// sender's business (it never reads a row twice without a reconnect in between).
//
// Group commit: the caller collects appends and acknowledgements for up to ~50 ms or
// 1000 messages and hands them over in one commit(): one transaction, one fsync.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

struct sqlite3;

namespace sekisho::cloud {

enum class OnFull {
  DropOldest,  // the oldest messages not yet read by the sender make room
  RejectNew,   // the new message is dropped
};

struct OutboxLimits {
  std::uint64_t max_bytes = 1ULL << 30;  // topic + payload bytes of the stored messages
  OnFull on_full = OnFull::DropOldest;
  bool operator==(const OutboxLimits&) const = default;
};

struct Message {
  std::string topic;
  std::string payload;
};

struct StoredMessage {
  std::int64_t id = 0;  // increasing in arrival order
  std::string topic;
  std::string payload;
  std::int64_t received_ms = 0;  // Unix time, milliseconds
};

struct OutboxCounters {
  std::uint64_t received = 0;           // every uplink message acknowledged to the local broker
  std::uint64_t forwarded = 0;          // acknowledged by the cloud broker (and deleted)
  std::uint64_t dropped_full = 0;       // on_full: evicted or rejected
  std::uint64_t dropped_too_large = 0;  // over the size limit, never stored
  std::uint64_t stored = 0;             // rows now in the file
  std::uint64_t stored_bytes = 0;       // their topic + payload bytes
  std::optional<std::int64_t> oldest_received_ms;  // of the oldest stored row
  std::uint64_t dropped() const { return dropped_full + dropped_too_large; }
};

// One group commit.
struct OutboxBatch {
  std::vector<Message> append;      // in arrival order
  std::int64_t received_ms = 0;     // when they arrived (the batch's first message)
  std::vector<std::int64_t> acked;  // ids the cloud broker acknowledged
  std::uint64_t too_large = 0;      // messages received and dropped for their size
  // Rows with id <= this have been read by the sender (in flight): drop-oldest never
  // evicts them (it evicts the oldest after them, or rejects when there are none).
  std::int64_t read_through = 0;
  bool empty() const { return append.empty() && acked.empty() && too_large == 0; }
};

struct CommitResult {
  std::uint64_t stored = 0;     // of batch.append
  std::uint64_t rejected = 0;   // of batch.append, dropped by on_full reject-new (or no room)
  std::uint64_t evicted = 0;    // older rows dropped by drop-oldest to make room
  std::uint64_t forwarded = 0;  // acked ids that were still stored (a repeated ack counts once)
};

class Outbox {
 public:
  Outbox() = default;
  ~Outbox();
  Outbox(const Outbox&) = delete;
  Outbox& operator=(const Outbox&) = delete;

  // Opens (creating, 0600) the store at `path`, checks it (PRAGMA quick_check) and loads
  // the counters. A file that is not an outbox, or is corrupt, is an error: it is left
  // as it is for someone to look at (never deleted).
  std::error_code open(const std::string& path);
  bool is_open() const { return db_ != nullptr; }
  void set_limits(const OutboxLimits& limits) { limits_ = limits; }
  const OutboxLimits& limits() const { return limits_; }

  // One transaction. On error nothing of the batch is applied (rolled back) and the
  // counters are as before: the caller must not acknowledge those messages.
  std::error_code commit(const OutboxBatch& batch, CommitResult& result);

  // Up to `limit` stored rows with id > `after_id`, oldest first.
  std::error_code read_after(std::int64_t after_id, std::size_t limit,
                             std::vector<StoredMessage>& out);

  // As of the last commit (kept in memory, in step with the file).
  const OutboxCounters& counters() const { return counters_; }

 private:
  struct Statements;  // prepared once per open, in outbox.cpp
  // A deleter defined where Statements is complete (the defaulted constructor above
  // would otherwise need it here).
  struct DeleteStatements {
    void operator()(Statements* statements) const;
  };

  void close();
  std::error_code load_counters();
  // Return SQLITE_DONE or the failing sqlite result code.
  int apply(const OutboxBatch& batch, OutboxCounters& next, CommitResult& done);
  int make_room(std::uint64_t size, std::int64_t read_through, std::int64_t first_new_id,
                OutboxCounters& next, CommitResult& done);
  int save_counters(const OutboxCounters& counters);

  sqlite3* db_ = nullptr;
  std::unique_ptr<Statements, DeleteStatements> statements_;
  OutboxLimits limits_;
  OutboxCounters counters_;
};

}  // namespace sekisho::cloud
