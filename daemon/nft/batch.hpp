#pragma once
// The Ruleset IR translated one to one into one nftables netlink batch: table inet
// sekisho created, deleted and created again (so the batch replaces whatever was there),
// then its sets and elements, chains and rules. No decisions are made here; each message
// remembers the IR object (and so the policy line) it came from, so a kernel error can be
// reported against the policy.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "policy/ir.hpp"

namespace sekisho::nft {

struct Batch {
  std::uint32_t begin_seq = 0;      // the BATCH_BEGIN message: errors on it fail the whole batch
  std::vector<char> bytes;          // the netlink messages, back to back
  std::size_t dry_run_size = 0;     // the bytes before BATCH_END: sent alone, a dry run
  std::size_t genid_offset = 0;     // where BATCH_BEGIN holds the expected generation
  std::vector<std::uint32_t> seqs;  // sequence number of each message that asks for an ack
  std::vector<ir::Origin> origins;  // the IR object of each, same index as seqs
  std::vector<std::string> what;    // "set ot_to_it_v4", "rule 3 of chain forward"...
};

// `expected_genid` (0: none) makes the batch conditional: the kernel refuses it with
// ERESTART when anyone committed since that generation was read. The batch ends with
// BATCH_END; sent without it (dry_run_size bytes) the kernel checks everything and then
// aborts: a dry run, as `nft -c` does.
Batch build_replace_batch(const ir::Ruleset& ruleset, std::uint32_t first_seq,
                          std::uint32_t expected_genid = 0);

// A runtime change of one set the kernel already holds (jump sessions): elements removed
// and added in the same batch, so an element replaced (a session extended) is never absent.
struct ElementChange {
  const ir::Set* set = nullptr;  // of the ruleset in force
  std::vector<ir::Element> remove;
  std::vector<ir::Element> add;
};
Batch build_element_batch(const ir::Ruleset& ruleset, const std::vector<ElementChange>& changes,
                          std::uint32_t first_seq, std::uint32_t expected_genid = 0);

// Makes a built batch conditional on another generation (0: none).
void set_expected_genid(Batch& batch, std::uint32_t genid);

// How many sequence numbers the batch uses (its messages, BATCH_BEGIN and BATCH_END), and
// the batch renumbered to start at `first_seq`: a socket kept open gives every request
// numbers of its own, so the answers to an earlier one are never taken for its.
std::uint32_t sequence_count(const Batch& batch);
void set_first_seq(Batch& batch, std::uint32_t first_seq);

}  // namespace sekisho::nft
