#pragma once
// JSON from someone else (a request on the control socket, a bundle or a receipt from a
// file) parsed with a bound on how deep its arrays and objects nest. nlohmann's parser does
// not recurse, but copying, comparing or dumping a value does: a line of 1 MiB can nest
// half a million levels deep and run any of them out of stack. A deeper text is refused
// before it is parsed, so that such a value is never built.

#include <optional>
#include <string_view>

#include <nlohmann/json.hpp>

namespace sekisho {

// The bound for the audit log's own JSON read back (records, bundles, receipts): far deeper
// than anything sekishod writes (two or three levels), so a deeper text was not written by
// it.
inline constexpr int kMaxAuditNesting = 64;

// Whether `text`'s arrays and objects nest at most `max_depth` deep (strings skipped).
// Linear in the text's size, without allocating.
bool nests_at_most(std::string_view text, int max_depth);

// The value of `text`; nullopt when it is not JSON or nests deeper than `max_depth` (then
// `too_deep`, when given, is set).
std::optional<nlohmann::json> parse_json_nesting_at_most(std::string_view text, int max_depth,
                                                         bool* too_deep = nullptr);

}  // namespace sekisho
