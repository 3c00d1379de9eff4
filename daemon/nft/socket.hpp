#pragma once
// Sends one nftables batch over a netlink socket (libmnl) and collects the kernel's answer
// for every message: success means no error for any sequence number.

#include <cstdint>
#include <string>
#include <system_error>
#include <vector>

#include "daemon/nft/batch.hpp"

namespace sekisho::nft {

struct MessageError {
  std::size_t index;  // into Batch::seqs / origins / what
  int error;          // errno
};

struct BatchOutcome {
  std::error_code system;            // the socket itself failed
  int batch_error = 0;               // errno on BATCH_BEGIN: the batch as a whole failed
  std::vector<MessageError> errors;  // the kernel refused these messages
  bool ok() const { return !system && batch_error == 0 && errors.empty(); }
};

enum class Send { DryRun, Commit };

// Sends `batch` and waits for its acknowledgements. A dry run leaves out the end message:
// the kernel checks everything and then aborts, and the outcome says whether it would
// apply.
BatchOutcome send_batch(const Batch& batch, Send mode);

// "set ot_to_it_v4 (factory-line.yaml:10): File exists" for each error.
std::vector<std::string> describe(const Batch& batch, const BatchOutcome& outcome,
                                  const std::string& policy_file);

}  // namespace sekisho::nft
