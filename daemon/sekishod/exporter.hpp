#pragma once
// Audit exports made by sekishod itself (issue 20, docs/audit-format.md "Exported bundles"):
// one at a time, in a worker thread with its own read-only connection to the log, so that
// months of records never stall the event loop. The bundle goes to STATE_DIR/exports/
// (0700, root), where it is fsynced and read back and verified; only then does the daemon
// count it for retention. A client (an admin, who may not read STATE_DIR) polls the job and
// downloads the file over the control socket.
//
// The directory is bounded: a new bundle removes the ones whose records it all holds
// (superseded), and at most kKept bundles stay (the oldest go first, never the newest).
// A bundle that holds the only copy of exported records (retention removes those from the
// log once they are old, so they may be gone from it already or soon) is
// removed only once a client downloaded it to its last byte (marked by an empty
// NAME.copied beside it); until then it is held back beyond kKept, said in the log, and
// while kKept bundles are held back a new export is refused (held_back()), so that the
// directory cannot grow without bound while nobody takes the evidence off the box.
// Files a crash left half-written (*.new, *.tmp) are removed when sekishod starts, and so
// are marks whose bundle is gone.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "daemon/audit/log_export.hpp"
#include "daemon/sekishod/auditor.hpp"

namespace sekisho::daemon {

class Exporter {
 public:
  static constexpr std::size_t kKept = 3;

  struct Job {
    std::int64_t id = 0;
    std::string since;  // UTC text
    std::string by;     // the user who asked
    bool running = true;
    audit::ExportOutcome outcome;  // once it ran: outcome.error empty when written
    std::string file;              // the bundle's name in exports/, once written
    // How it was taken in: recorded (audit.exported) and counted, or why not.
    std::string failure_code;           // a control error code ("audit_unavailable"), or ""
    std::int64_t exported_through = 0;  // the log's, afterwards
    bool continues = false;             // it starts where the earlier exports ended
    // How far a client has read the bundle from its start without a gap (mark_copied).
    std::uint64_t read_through = 0;
  };

  explicit Exporter(boost::asio::io_context& io);
  ~Exporter();
  Exporter(const Exporter&) = delete;
  Exporter& operator=(const Exporter&) = delete;

  // STATE_DIR/exports, made 0700 when missing; what a crash left half-written goes.
  void open(const std::string& state_dir);
  const std::string& directory() const { return dir_; }

  bool busy() const { return job_ && job_->running; }
  // Starts exporting `auditor`'s log from `since` (UTC text) in a worker thread, sealed with
  // its key. When the bundle is written and verified, back on the event loop (never after
  // the Exporter is gone), it is taken in: recorded as `audit.exported` by `by`, which
  // must succeed or the file goes, and counted for retention (exported_through) when it
  // holds records, continues the earlier exports and the device found its log intact; then
  // the directory is tidied and `done` called. The job's id.
  std::int64_t start(const std::string& since, const audit::Actor& by, Auditor& auditor,
                     std::function<void(Job&)> done = {});
  // The last job, when its id is `id`: only one is kept.
  Job* job(std::int64_t id) { return job_ && job_->id == id ? &*job_ : nullptr; }
  const Job* last() const { return job_ ? &*job_ : nullptr; }
  const audit::ExportProgress& progress() const { return *progress_; }
  std::string path_of(const Job& job) const { return dir_ + "/" + job.file; }

  // A client read `job`'s bundle to its last byte: the evidence is off the box, and tidy may
  // remove the bundle like any other. Kept on the disk (NAME.copied), across restarts.
  void mark_copied(const Job& job);
  // The bundles that hold the only copy of records retention removed or may remove from the
  // log (seq <= `exported_through`) and were never downloaded to their end, by name.
  std::vector<std::string> held_back(std::int64_t exported_through) const;

  // The bundles in exports/ and the bytes they take.
  std::pair<std::size_t, std::uint64_t> usage() const;

 private:
  boost::asio::io_context& io_;
  std::string dir_;
  void take_in(Job& job, const audit::Actor& by, Auditor& auditor);
  // After `kept` was taken in: removes the bundles it supersedes and the oldest beyond kKept,
  // but never one that holds the only copy of a record retention removed or may remove (seq
  // <= `exported_through`) and was never downloaded to its end.
  void tidy(const Job& kept, std::int64_t exported_through);
  void remove_bundle(const std::string& name);  // and its mark

  std::shared_ptr<audit::ExportProgress> progress_;
  std::shared_ptr<bool> alive_;
  std::thread worker_;
  std::optional<Job> job_;
  std::int64_t next_id_ = 1;
};

}  // namespace sekisho::daemon
