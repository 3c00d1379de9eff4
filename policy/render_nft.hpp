#pragma once
// The Ruleset IR as nft text, for review, golden tests and `sekishoctl compile`. `nft -f`
// loads it as it is: the table is created, deleted and defined again in one transaction,
// so loading it twice replaces the first.

#include <string>
#include <string_view>

#include "policy/ir.hpp"

namespace sekisho::ir {

// `source` names the policy file in the header comment. Elements carry a trailing comment
// with the policy object that produced them.
std::string render_nft(const Ruleset& ruleset, std::string_view source);

// One field value as nft writes it: "192.0.2.0/24", "10.0.0.1-10.0.0.9", "tcp", "502",
// "1-1024", "echo-request", "\"lan0\"", "established".
std::string render_range(FieldType type, const Range& range);

}  // namespace sekisho::ir
