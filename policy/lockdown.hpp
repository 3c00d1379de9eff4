#pragma once
// The ruleset of last resort: table inet sekisho with input, forward and output dropping
// everything but loopback. `sekishod --restore` loads it when no last-good ruleset exists,
// so a gateway that boots without a usable policy forwards nothing.

#include "policy/ir.hpp"

namespace sekisho::policy {

ir::Ruleset lockdown_ruleset();

}  // namespace sekisho::policy
