#pragma once
// Files the daemon must never leave half-written: the policy it enforces, the last-good
// copy, a pending confirmation. A crash or a full disk leaves the old file or the new
// one, never a mix.

#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include <sys/types.h>

namespace sekisho {

// A new version of `path` written beside it (PATH.new, fsynced) and put in place by
// commit() (rename, then fsync of the directory). Until then the old file is untouched;
// an uncommitted staged file is removed by the destructor. Staging first lets a caller
// find a full disk before it changes anything else.
class StagedFile {
 public:
  StagedFile() = default;
  ~StagedFile();
  StagedFile(const StagedFile&) = delete;
  StagedFile& operator=(const StagedFile&) = delete;

  std::error_code write(const std::string& path, std::string_view text, mode_t mode);
  std::error_code commit();

 private:
  std::string path_;
  std::string temporary_;
};

// Stage and commit in one step.
std::error_code write_file_atomically(const std::string& path, std::string_view text, mode_t mode);

// A new file holding `text` with exactly `mode`, on the disk when this returns; never an
// existing file or link replaced (EEXIST), so a key or an export cannot overwrite what is
// there. No rename: that would replace a file made in the meantime.
std::error_code write_new_file(const std::string& path, std::string_view text, mode_t mode);

// The directory that holds `path` ("." for a bare name).
std::string directory_of(const std::string& path);

// fsyncs the directory that holds `path`: a new, linked or renamed entry reaches the disk
// only with it.
void sync_directory_of(const std::string& path);

// The whole file, when it can be read and holds at most `max_bytes`.
std::optional<std::string> read_small_file(const std::string& path, std::size_t max_bytes,
                                           std::error_code& error);

}  // namespace sekisho
