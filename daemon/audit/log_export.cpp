#include "daemon/audit/log_export.hpp"

#include <chrono>

#include <sys/statvfs.h>

#include "daemon/audit/signer.hpp"
#include "daemon/common/clock.hpp"
#include "daemon/common/files.hpp"
#include "daemon/common/sha256.hpp"

namespace sekisho::audit {

namespace {

constexpr std::size_t kPage = 1000;
constexpr std::size_t kWriteBatch = 1 << 20;

// Each page of records first..last in order, as canonical lines; false (and `error`) when
// a record cannot be exported or the export is cancelled.
template <typename Each>
bool for_each_line(AuditLog& log, std::int64_t first, std::int64_t last, ExportProgress& progress,
                   std::string& error, Each each) {
  for (std::int64_t next = first; next <= last;) {
    if (progress.cancel) {
      error = "sekishod is stopping";
      return false;
    }
    const std::vector<Record> page = log.records(next, "", kPage);
    if (page.empty() || page.front().seq != next) {
      error = "record " + std::to_string(next) + " is missing from the log";
      return false;
    }
    for (const Record& record : page) {
      if (record.seq > last) {
        return true;
      }
      if (record.seq != next) {
        error = "record " + std::to_string(next) + " is missing from the log";
        return false;
      }
      std::string line;
      try {
        line = canonical_json(record) + '\n';
      } catch (const std::exception& failure) {
        error = "record " + std::to_string(record.seq) + " cannot be exported: " + failure.what();
        return false;
      }
      each(line);
      ++next;
    }
  }
  return true;
}

}  // namespace

ExportOutcome export_log(AuditLog& log, const std::string& since, const std::string& path,
                         const Signer& signer, const std::string& public_pem,
                         ExportProgress& progress, std::uint64_t reserve_bytes) {
  ExportOutcome out;
  if (std::error_code error = log.begin_snapshot()) {
    out.error = "cannot read the audit log: " + error.message();
    return out;
  }
  struct EndSnapshot {
    AuditLog& log;
    ~EndSnapshot() { log.end_snapshot(); }
  } end_snapshot{log};

  // The device's own check, sealed with the export: a bundle of a broken log says so.
  progress.phase = ExportProgress::kChecking;
  const VerifyResult verified = log.verify(public_pem);
  if (!verified.ok && !verified.first_bad) {
    out.error = verified.reason;
    return out;
  }
  if (!verified.ok) {
    out.seal.log_first_bad = verified.first_bad;
    out.log_problem = verified.reason;
  }

  const std::int64_t last = log.last_seq();
  const std::int64_t first = std::min(log.first_seq_since(since).value_or(last + 1), last + 1);
  const std::optional<std::string> anchor_hash = log.hash_before(first);
  if (!anchor_hash) {
    out.error = "the record before " + std::to_string(first) + " is no longer in the log";
    return out;
  }
  out.first_seq = first;
  out.seal.anchor = {first - 1, *anchor_hash};
  out.seal.since = since;
  progress.records_total = last - first + 1;

  // Pass 1: how large records.jsonl is, and the hash the chain reaches.
  std::uint64_t size = 0;
  std::string hash = *anchor_hash;
  auto walk = [&hash, &size](const std::string& line) {
    size += line.size();
    hash = record_hash(hash, line.substr(0, line.size() - 1));
  };
  if (!for_each_line(log, first, last, progress, out.error, walk)) {
    return out;
  }
  if (size > kMaxRecordsBytes) {
    out.error = "the records take more than 2 GiB: export a shorter period";
    return out;
  }
  // Room for the file (JSON lines compress to well under half) and the log beside it.
  struct statvfs room {};
  if (::statvfs(directory_of(path).c_str(), &room) == 0) {
    const std::uint64_t free = static_cast<std::uint64_t>(room.f_bavail) * room.f_frsize;
    if (free < size / 2 + reserve_bytes) {
      out.error = "not enough room for the export in " + directory_of(path) + ": " +
                  std::to_string(free >> 20) + " MiB free, " +
                  std::to_string((size / 2 + reserve_bytes) >> 20) +
                  " MiB needed (the audit log keeps " + std::to_string(reserve_bytes >> 20) +
                  " MiB)";
      return out;
    }
  }

  const auto now = std::chrono::system_clock::now();
  out.seal.last = {last, hash, utc_text(now), clock_synchronised(), std::nullopt};
  const std::string seal_text = export_json(out.seal);
  const std::optional<std::string> signature = from_hex(signer.sign_hex(seal_text));
  if (!signature || signature->size() != 64) {
    out.error = "the export could not be signed";
    return out;
  }

  // Pass 2: the file.
  progress.phase = ExportProgress::kWriting;
  BundleFileWriter writer;
  std::error_code error = writer.open(
      path, std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count());
  if (!error) {
    error = writer.anchor(anchor_json(out.seal.anchor.seq, out.seal.anchor.hash));
  }
  if (!error) {
    error = writer.begin_records(size);
  }
  std::string batch;
  std::string again = *anchor_hash;
  auto write = [&](const std::string& line) {
    again = record_hash(again, line.substr(0, line.size() - 1));
    batch += line;
    ++progress.records_done;
    if (batch.size() >= kWriteBatch && !error) {
      error = writer.records(batch);
      batch.clear();
    }
  };
  if (!error && !for_each_line(log, first, last, progress, out.error, write)) {
    return out;
  }
  if (!error && !batch.empty()) {
    error = writer.records(batch);
  }
  if (!error && again != hash) {
    out.error = "the log changed between the two passes of the export";  // not reached
    return out;
  }
  if (!error) {
    error = writer.seal(seal_text, *signature);
  }
  if (error) {
    out.error = "cannot write " + path + ": " + error.message();
    return out;
  }
  out.bytes = writer.bytes();
  out.records = last - first + 1;

  // As an auditor reads it: from the disk, every line, the seal and its signature.
  progress.phase = ExportProgress::kVerifying;
  std::optional<ExportSeal> read_seal;
  const VerifyResult reread = verify_bundle_file(path, public_pem, &read_seal);
  if (!read_seal || export_json(*read_seal) != seal_text || reread.records != out.records ||
      (!reread.ok && !out.seal.log_first_bad)) {
    out.error = path + " does not read back as the bundle written: " + reread.reason;
    return out;
  }
  std::optional<std::string> digest = sha256_file_hex(path, error);
  if (!digest) {
    out.error = "cannot read " + path + " back: " + error.message();
    return out;
  }
  out.sha256 = *digest;
  return out;
}

}  // namespace sekisho::audit
