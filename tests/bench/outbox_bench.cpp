// Benchmark: the cloud outbox (daemon/cloud/outbox) on a real disk.
//
//   sekisho_outbox_bench [--messages N] [--dir DIR]
//
// Appends N messages (200-byte payloads, 4 topics) in group commits of 1000 and 50, and
// N/50 of them one per commit, each run on a fresh file; then drains the N-message backlog
// as the sender does (read_after 100, acknowledge those 100, one commit each). Each run
// twice: with synchronous=FULL, what sekishod uses (an fsync per commit), and, for
// comparison only, synchronous=NORMAL (in WAL mode: no fsync at commit, only at
// checkpoints). Also the bytes on disk per stored message. The files are in a directory
// made under DIR (default: the working directory), which should be a real disk: on tmpfs
// an fsync costs nothing and the FULL figures mean little (the filesystem is printed).
// Machines are shared and noisy: compare the ratios printed, measured in the same run.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include "daemon/cloud/outbox.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using sekisho::cloud::CommitResult;
using sekisho::cloud::Message;
using sekisho::cloud::Outbox;
using sekisho::cloud::OutboxBatch;
using sekisho::cloud::StoredMessage;

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "outbox bench: %s\n", what.c_str());
  std::exit(1);
}

// The bench sets synchronous=NORMAL on the outbox's own connection, without a test hook
// in the outbox's interface and without a second code path to measure: sqlite calls an
// auto extension for every connection it opens, and this one remembers the last. The
// outbox opens its connection last in open() (a read-only look at the file comes
// first), so after open() it is the outbox's. synchronous is per connection, so a second
// connection to the same file could not do this.
sqlite3* last_connection = nullptr;
int remember_connection(sqlite3* db, const char**, const sqlite3_api_routines*) {
  last_connection = db;
  return SQLITE_OK;
}

std::int64_t pragma_value(sqlite3* db, const char* sql) {
  sqlite3_stmt* statement = nullptr;
  std::int64_t value = -1;
  if (sqlite3_prepare_v2(db, sql, -1, &statement, nullptr) == SQLITE_OK &&
      sqlite3_step(statement) == SQLITE_ROW) {
    value = sqlite3_column_int64(statement, 0);
  }
  sqlite3_finalize(statement);
  return value;
}

enum class Sync { Full, Normal };

const char* sync_name(Sync sync) {
  return sync == Sync::Full ? "FULL" : "NORMAL";
}

// An open outbox and its connection, on a file of its own.
struct Bench {
  Outbox outbox;
  sqlite3* connection = nullptr;
  std::string path;

  Bench(const std::filesystem::path& dir, const std::string& name, Sync sync)
      : path((dir / name).string()) {
    last_connection = nullptr;
    const std::error_code error = outbox.open(path);
    if (error) {
      fail(path + ": " + error.message());
    }
    connection = last_connection;
    if (!connection || pragma_value(connection, "PRAGMA synchronous") != 2) {
      fail("the outbox's connection is not at synchronous=FULL after open()");
    }
    if (sync == Sync::Normal) {
      sqlite3_exec(connection, "PRAGMA synchronous=NORMAL", nullptr, nullptr, nullptr);
      if (pragma_value(connection, "PRAGMA synchronous") != 1) {
        fail("could not set synchronous=NORMAL");
      }
    }
  }

  void commit(const OutboxBatch& batch) {
    CommitResult result;
    if (const std::error_code error = outbox.commit(batch, result)) {
      fail("commit: " + error.message());
    }
  }
};

const std::vector<std::string>& topics() {
  static const std::vector<std::string> kNames = {
      "factory/line1/press/temperature", "factory/line1/press/pressure",
      "factory/line2/oven/temperature", "factory/line2/conveyor/speed"};
  return kNames;
}

std::string payload(std::uint64_t seq) {
  std::string text(200, '\0');
  std::uint64_t state = seq * 0x9e3779b97f4a7c15ULL + 1;
  for (char& byte : text) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    byte = static_cast<char>(state);
  }
  return text;
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Appends `count` messages in commits of `group`; messages per second.
double append(Bench& bench, std::uint64_t count, std::uint64_t group) {
  std::uint64_t seq = 0;
  const auto start = Clock::now();
  while (seq < count) {
    OutboxBatch batch;
    batch.received_ms = static_cast<std::int64_t>(seq);
    for (std::uint64_t i = 0; i < group && seq < count; ++i, ++seq) {
      batch.append.push_back(Message{topics()[seq % topics().size()], payload(seq)});
    }
    bench.commit(batch);
  }
  const double rate = static_cast<double>(count) / seconds_since(start);
  if (bench.outbox.counters().stored != count) {
    fail("not every appended message was stored");
  }
  return rate;
}

// Reads 100 and acknowledges them, one commit each, until nothing is left.
double drain(Bench& bench) {
  const std::uint64_t backlog = bench.outbox.counters().stored;
  std::int64_t read_through = 0;
  std::vector<StoredMessage> rows;
  const auto start = Clock::now();
  for (;;) {
    if (const std::error_code error = bench.outbox.read_after(read_through, 100, rows)) {
      fail("read_after: " + error.message());
    }
    if (rows.empty()) {
      break;
    }
    OutboxBatch batch;
    for (const StoredMessage& row : rows) {
      batch.acked.push_back(row.id);
    }
    read_through = rows.back().id;
    batch.read_through = read_through;
    bench.commit(batch);
  }
  const double rate = static_cast<double>(backlog) / seconds_since(start);
  const auto& counters = bench.outbox.counters();
  if (counters.stored != 0 || counters.forwarded != backlog ||
      counters.received != counters.forwarded + counters.stored + counters.dropped()) {
    fail("the drain did not forward exactly the backlog");
  }
  return rate;
}

// The main file's size once the WAL is checkpointed into it.
std::uintmax_t checkpointed_size(Bench& bench) {
  if (sqlite3_exec(bench.connection, "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr,
                   nullptr) != SQLITE_OK) {
    fail("checkpoint failed");
  }
  return std::filesystem::file_size(bench.path);
}

std::string filesystem_of(const std::filesystem::path& dir) {
  struct statfs info {};
  if (::statfs(dir.c_str(), &info) != 0) {
    return "unknown";
  }
  switch (static_cast<std::uint32_t>(info.f_type)) {
    case 0x01021994:
      return "tmpfs (fsync costs nothing here: the FULL figures are not a disk's)";
    case 0xef53:
      return "ext2/3/4";
    case 0x58465342:
      return "xfs";
    case 0x9123683e:
      return "btrfs";
    case 0x794c7630:
      return "overlayfs";
    default: {
      char hex[32];
      std::snprintf(hex, sizeof hex, "f_type 0x%lx", static_cast<unsigned long>(info.f_type));
      return hex;
    }
  }
}

std::uint64_t option(int argc, char** argv, const char* name, std::uint64_t fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], name) == 0) {
      return std::strtoull(argv[i + 1], nullptr, 10);
    }
  }
  return fallback;
}

std::string string_option(int argc, char** argv, const char* name, const char* fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], name) == 0) {
      return argv[i + 1];
    }
  }
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  const std::uint64_t messages = option(argc, argv, "--messages", 100000);
  if (messages < 100) {
    fail("--messages must be at least 100");
  }
  const std::uint64_t single = std::max<std::uint64_t>(100, messages / 50);
  std::string base = string_option(argc, argv, "--dir", ".");
  std::string pattern = (std::filesystem::absolute(base) / "outbox-bench-XXXXXX").string();
  const char* made = ::mkdtemp(pattern.data());
  if (!made) {
    fail("cannot make a directory under " + base);
  }
  const std::filesystem::path dir = made;
  if (sqlite3_auto_extension(reinterpret_cast<void (*)()>(&remember_connection)) != SQLITE_OK) {
    fail("sqlite3_auto_extension");
  }

  std::printf("directory %s on %s; sqlite %s\n", dir.c_str(), filesystem_of(dir).c_str(),
              sqlite3_libversion());
  std::printf("messages: %zu-byte payloads on %zu topics; %llu per run, %llu one per commit\n",
              payload(0).size(), topics().size(), static_cast<unsigned long long>(messages),
              static_cast<unsigned long long>(single));

  struct Row {
    std::uint64_t group;
    std::uint64_t count;
    double rate[2];
  };
  std::vector<Row> rows = {{1, single, {}}, {50, messages, {}}, {1000, messages, {}}};
  double drain_rate[2] = {};
  std::uintmax_t full_size[2] = {};
  std::uintmax_t drained_size[2] = {};
  for (const Sync sync : {Sync::Full, Sync::Normal}) {
    const int s = sync == Sync::Full ? 0 : 1;
    for (Row& row : rows) {
      Bench bench(dir, std::string("append-") + sync_name(sync) + "-" + std::to_string(row.group),
                  sync);
      row.rate[s] = append(bench, row.count, row.group);
      if (row.group == 1000) {
        full_size[s] = checkpointed_size(bench);
        drain_rate[s] = drain(bench);
        drained_size[s] = checkpointed_size(bench);
      }
    }
  }
  sqlite3_cancel_auto_extension(reinterpret_cast<void (*)()>(&remember_connection));
  std::filesystem::remove_all(dir);

  std::printf("\n%-28s %14s %14s %12s\n", "messages/s", "FULL", "NORMAL", "FULL/NORMAL");
  for (const Row& row : rows) {
    std::printf("append, %4llu per commit %17.0f %14.0f %12.3f\n",
                static_cast<unsigned long long>(row.group), row.rate[0], row.rate[1],
                row.rate[0] / row.rate[1]);
  }
  std::printf("drain, read+ack 100 per commit %12.0f %14.0f %12.3f\n", drain_rate[0], drain_rate[1],
              drain_rate[0] / drain_rate[1]);
  std::printf("\nratio group 1000 / group 1 (FULL): %.1f; group 50 / group 1 (FULL): %.1f\n",
              rows[2].rate[0] / rows[0].rate[0], rows[1].rate[0] / rows[0].rate[0]);
  std::printf("commits/s one per commit (FULL): %.0f, i.e. %.2f ms a commit\n", rows[0].rate[0],
              1000.0 / rows[0].rate[0]);
  double topic_bytes = 0;
  for (const std::string& topic : topics()) {
    topic_bytes += static_cast<double>(topic.size()) / static_cast<double>(topics().size());
  }
  const double stored_bytes = static_cast<double>(payload(0).size()) + topic_bytes;
  std::printf(
      "file: %.1f bytes per stored message (%.2f x its %.0f topic+payload bytes); "
      "%.1f MiB for %llu; after draining still %.1f MiB (freed pages are reused, not returned)\n",
      static_cast<double>(full_size[0]) / static_cast<double>(messages),
      static_cast<double>(full_size[0]) / static_cast<double>(messages) / stored_bytes,
      stored_bytes, static_cast<double>(full_size[0]) / (1 << 20),
      static_cast<unsigned long long>(messages), static_cast<double>(drained_size[0]) / (1 << 20));
  return 0;
}
