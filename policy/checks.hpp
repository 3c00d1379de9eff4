#pragma once
// Checks over a parsed policy: names and references, zones and addresses, and the
// JPCERT/CC guide's rules. Every problem is reported; nothing stops at the first.

#include "policy/diagnostic.hpp"
#include "policy/model.hpp"

namespace sekisho::policy {

// Completes what the file implies (a VPN zone takes its tunnel's interface and networks;
// the zone holding wan.interface is the WAN zone) and checks names, references, zones,
// addresses, schedules and the runtime sections.
void link_and_check(Policy& policy, Diagnostics& diagnostics);

// The guide's rules and rule hygiene, after link_and_check (also when it found errors:
// names that did not resolve match nothing): VPN sources (W-1), W-2, L-1, shadowed and
// duplicate rules, rules that can never match.
void check_guide_rules(const Policy& policy, Diagnostics& diagnostics);

}  // namespace sekisho::policy
